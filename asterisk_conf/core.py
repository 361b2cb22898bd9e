"""Small files that Asterisk's core and PJSIP read at every start.

Asterisk reads only from astetcdir, so a missing file is not filled in from /etc/asterisk: it
logs an ERROR or WARNING at every start and falls back to built-in defaults. These files hold
those defaults (or switch the feature off) so the log stays clean and an ERROR there always means
something.
"""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile


def render_cel() -> ConfigFile:
    conf = ConfigFile("cel.conf")
    # CEL adds a database row per channel event; calls are tracked over AMI instead.
    conf.section("general").set("enable", False)
    return conf


def render_features() -> ConfigFile:
    conf = ConfigFile("features.conf")
    conf.section("general", "Built-in defaults: no DTMF feature codes are mapped yet.")
    return conf


def render_ccss() -> ConfigFile:
    conf = ConfigFile("ccss.conf")
    conf.section("general", "Call completion (CCBS/CCNR) is not offered: built-in defaults.")
    return conf


def render_acl() -> ConfigFile:
    conf = ConfigFile("acl.conf")
    conf.header = ["No named ACLs: manager.conf carries its own permit/deny lines."]
    return conf


def render_udptl() -> ConfigFile:
    conf = ConfigFile("udptl.conf")
    conf.section("general", "T.38 fax is not enabled on any endpoint: built-in defaults.")
    return conf


def render_pjproject() -> ConfigFile:
    conf = ConfigFile("pjproject.conf")
    startup = conf.section("startup")
    startup.set("log_level", "default")
    return conf
