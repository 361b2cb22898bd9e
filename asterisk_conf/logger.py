"""logger.conf: messages, a separate security log, the console, and app_queue's queue_log."""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile

SECURITY_LOG = "security.log"
MESSAGES_LOG = "messages.log"
QUEUE_LOG = "queue_log"


def render() -> ConfigFile:
    conf = ConfigFile("logger.conf")
    general = conf.section("general")
    general.set("dateformat", "%F %T.%3q")
    general.set("use_callids", True)
    general.set("appendhostname", False)
    # The queue_log is the per-call record of queue waits, answers and abandons that KPIs
    # (answer within 15 s, abandon rate) are computed from.
    general.set("queue_log", True)
    general.set("queue_log_to_file", True)
    general.set("queue_log_name", QUEUE_LOG)
    logfiles = conf.section("logfiles")
    logfiles.set("console", "notice,warning,error", arrow=True)
    logfiles.set(MESSAGES_LOG, "notice,warning,error", arrow=True)
    # res_security_log turns failed identifications and ACL rejections into this channel.
    logfiles.set(SECURITY_LOG, "security", arrow=True)
    return conf
