"""manager.conf: AMI on the loopback only, one user with the least privilege call tracking needs.

Privilege classes, as Asterisk 22 registers them (``manager show commands``); an action is
allowed when the user's write classes include any one of the classes listed for it:

    Redirect          call                     Originate          originate
    Hangup            system,call              QueuePause         agent
    QueueAdd          agent                    QueueRemove        agent
    QueueStatus       (none)                   QueueSummary       (none)
    CoreShowChannels  system,reporting         ModuleLoad         system   (LoadType: reload)
    Reload            system,config            Getvar             call,reporting
    Setvar            call                     MixMonitor         system
    StopMixMonitor    system,call              Ping, CoreStatus   (none), system,reporting

``command`` (the CLI over AMI) and ``user`` are not granted.
Read classes decide which events arrive: ``call`` (Newchannel, Hangup, DialBegin, BridgeEnter,
MixMonitorStart, ...), ``agent`` (QueueCallerJoin/Leave/Abandon, AgentCalled/Connect/Complete,
QueueMemberStatus/Pause) and ``system`` (FullyBooted, Reload, Shutdown, ContactStatus).
``dialplan`` (Newexten, VarSet: one event per dialplan step) is left out: the channel variables
below ride on every call event instead.
"""

from __future__ import annotations

import ipaddress

from asterisk_conf.ini import ConfigFile
from hotline.settings import Settings
from telephony import channel_vars as cv

# dialplan: Newexten events tell the tracker's watchdog which calls sit in AGI() and since when;
# agi: AGIExecStart/End tell it whether a command is running (a long prompt is not a hang).
READ_CLASSES = ("system", "call", "agent", "dialplan", "agi")
WRITE_CLASSES = ("system", "call", "agent", "originate")


def _host_acl(address: str) -> tuple[str, str]:
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return f"{ip}/128", "::/0"
    return f"{ip}/255.255.255.255", "0.0.0.0/0.0.0.0"


def render(settings: Settings, ami_secret: str) -> ConfigFile:
    a = settings.asterisk
    conf = ConfigFile("manager.conf")
    general = conf.section("general")
    general.set("enabled", True)
    general.set("webenabled", False)
    general.set("bindaddr", a.bind_address, source="asterisk.bind_address")
    general.set("port", a.ami_port, source="asterisk.ami_port")
    general.set("displayconnects", False)
    general.set("timestampevents", True)
    general.set("channelvars", ",".join(cv.AMI_CHANNEL_VARS))

    user = conf.section(a.ami_user, "The platform's own AMI user (telephony/ is its only client).")
    user.set("secret", ami_secret, source="AMI secret file")
    permits = ["127.0.0.1/255.255.255.255"]
    denies = ["0.0.0.0/0.0.0.0"]
    if a.bind_address != "127.0.0.1":
        permit, deny = _host_acl(a.bind_address)
        permits.append(permit)
        if deny not in denies:
            denies.append(deny)
    for deny in denies:
        user.set("deny", deny)
    for permit in permits:
        user.set("permit", permit)
    user.set("read", ",".join(READ_CLASSES))
    user.set("write", ",".join(WRITE_CLASSES))
    # The default of 100 ms drops the connection when the tracker stalls briefly (GC, a slow
    # database write); a lost connection costs events, a wait costs nothing.
    user.set("writetimeout", 5000)
    return conf
