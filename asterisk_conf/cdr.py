"""cdr.conf and cdr_custom.conf: one CSV line per CDR, written as each call ends."""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile

CDR_DIR = "cdr-custom"
CDR_FILE = "hotline-cdr.csv"
# Times as epoch seconds with microseconds (CDR(x,u)): no time zone to guess when importing.
CDR_FIELDS = (
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start,u",
    "answer,u",
    "end,u",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "linkedid",
    "userfield",
    "sequence",
)


def render_cdr() -> ConfigFile:
    conf = ConfigFile("cdr.conf")
    general = conf.section("general")
    general.set("enable", True)
    # Batch mode buffers records in memory: a crash or kill -9 loses every buffered call.
    general.set("batch", False)
    # Abandoned and refused calls matter for the answer-rate KPIs.
    general.set("unanswered", True)
    general.set("congestion", True)
    return conf


def render_custom() -> ConfigFile:
    conf = ConfigFile("cdr_custom.conf")
    mappings = conf.section(
        "mappings",
        f"Written to <astlogdir>/{CDR_DIR}/{CDR_FILE}, columns:",
        " ".join(CDR_FIELDS),
    )
    line = ",".join(f"${{CSV_QUOTE(${{CDR({field})}})}}" for field in CDR_FIELDS)
    mappings.set(CDR_FILE, line, arrow=True)
    return conf
