"""rtp.conf: this instance's own RTP port range and strict source checking."""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile
from hotline.settings import Settings


def render(settings: Settings) -> ConfigFile:
    conf = ConfigFile("rtp.conf")
    general = conf.section("general")
    general.set("rtpstart", settings.asterisk.rtp_start, source="asterisk.rtp_start")
    general.set("rtpend", settings.asterisk.rtp_end, source="asterisk.rtp_end")
    # Only the address that sent the first packets may keep sending media into a call.
    general.set("strictrtp", True)
    # ICE is only used by endpoints that ask for it (the web softphone); trunks and seats set
    # ice_support=no in pjsip.conf.
    general.set("icesupport", True)
    return conf
