"""indications.conf: Chinese call-progress tones.

Values are those of ITU-T E.180 (Supplement: "Various tones used in national networks") for
China, as also shipped in Asterisk's sample file: everything on 450 Hz; ringing 1 s on / 4 s off,
busy 0.35 s on / 0.35 s off, congestion 0.7 s on / 0.7 s off, continuous dial tone.
"""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile

COUNTRY = "cn"
CHINA_TONES: tuple[tuple[str, str], ...] = (
    ("description", "China"),
    ("ringcadence", "1000,4000"),
    ("dial", "450"),
    ("busy", "450/350,0/350"),
    ("ring", "450/1000,0/4000"),
    ("congestion", "450/700,0/700"),
    ("callwaiting", "450/400,0/4000"),
    ("dialrecall", "450"),
    ("record", "950/400,0/10000"),
    ("info", "450/100,0/100,450/100,0/100,450/100,0/100,450/400,0/400"),
    ("stutter", "450+425"),
)


def render() -> ConfigFile:
    conf = ConfigFile("indications.conf")
    conf.section("general").set("country", COUNTRY)
    conf.section(COUNTRY).set_all(CHINA_TONES)
    return conf
