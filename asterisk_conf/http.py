"""http.conf: Asterisk's built-in HTTP server, used only for the SIP websocket at /ws."""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile
from hotline.settings import Settings


def render(settings: Settings) -> ConfigFile:
    conf = ConfigFile("http.conf")
    general = conf.section("general")
    general.set("enabled", True)
    general.set("bindaddr", settings.asterisk.bind_address, source="asterisk.bind_address")
    general.set("bindport", settings.asterisk.http_port, source="asterisk.http_port")
    # Static files and the version string are nobody's business.
    general.set("enablestatic", False)
    general.set("servername", "hotline")
    return conf
