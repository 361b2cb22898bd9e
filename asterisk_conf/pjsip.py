"""pjsip.conf: transports, one endpoint per trunk, fixed seat and web seat, and nothing anonymous.

Only requests whose source IP *and port* match a trunk's identify reach a trunk context. Web seats
(browsers on the websocket transport) are identified by the user they name and must answer a
digest challenge with their derived password; trunks and fixed seats set ``identify_by=ip`` so
naming them proves nothing. There is no ``anonymous`` endpoint, so an INVITE from anywhere else is
answered with a challenge it cannot satisfy and logged as a security event.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from asterisk_conf.ini import ConfigError, ConfigFile, Section
from hotline.settings import AsteriskSettings, SeatSettings, Settings, TrunkSettings

TRANSPORT_UDP = "transport-udp"
TRANSPORT_TCP = "transport-tcp"
TRANSPORT_WS = "transport-ws"
SEATS_CONTEXT = "hotline-seats"
SEAT_CODECS = ("alaw", "ulaw")
_RESERVED_SECTIONS = frozenset({"global", "system", TRANSPORT_UDP, TRANSPORT_TCP, TRANSPORT_WS})


# Browsers offer Opus and G.711; G.711 first so a call to a G.711 trunk is never transcoded.
WEB_SEAT_CODECS = ("ulaw", "alaw", "opus")


@dataclass(frozen=True)
class WebSeat:
    """A browser softphone's seat, from the database (an agent with an extension)."""

    extension: str
    label: str  # who sits there, for the comment only
    password: str

    @property
    def endpoint(self) -> str:
        return f"seat{self.extension}"


def trunk_context(name: str) -> str:
    return f"hotline-trunk-{name}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host


def host_port(host: str, port: int) -> str:
    """IP:port as PJSIP writes it, with IPv6 in brackets."""
    return f"{_bracketed(host)}:{port}"


def _common_media(
    section: Section, codecs: tuple[str, ...], *, source: str, asterisk: AsteriskSettings, ice: bool = False
) -> None:
    section.set("disallow", "all")
    section.set("allow", ",".join(codecs), source=source)
    # Media always flows through Asterisk: recording, spying and the RTP timeout depend on it,
    # and re-INVITEs that move media break simple peers.
    section.set("direct_media", False)
    section.set("rtp_symmetric", True)
    section.set("force_rport", True)
    section.set("rewrite_contact", True)
    # A caller who vanished without a BYE would otherwise hold a channel and a queue position.
    section.set("rtp_timeout", asterisk.rtp_timeout)
    # On hold the far end may legitimately stop sending; give it longer before giving up.
    section.set("rtp_timeout_hold", asterisk.rtp_timeout_hold)
    section.set("dtmf_mode", "rfc4733")
    # Browsers need ICE (on loopback or a LAN it finds the host candidate at once); SIP phones don't.
    section.set("ice_support", ice)
    section.set("allow_subscribe", False)
    section.set("trust_id_inbound", False)


def _transport(conf: ConfigFile, name: str, protocol: str, bind: str) -> None:
    section = conf.section(name)
    section.set("type", "transport")
    section.set("protocol", protocol)
    section.set("bind", bind, source="asterisk.bind_address")


def _trunk(conf: ConfigFile, index: int, trunk: TrunkSettings, asterisk: AsteriskSettings) -> None:
    source = f"trunks[{index}]"
    peer = host_port(trunk.host, trunk.port)
    endpoint = conf.section(trunk.name, f"trunk {trunk.name}: calls from {peer}")
    endpoint.set("type", "endpoint")
    endpoint.set("transport", TRANSPORT_TCP if trunk.transport == "tcp" else TRANSPORT_UDP)
    endpoint.set("context", trunk_context(trunk.name), source=f"{source}.name")
    endpoint.set("aors", trunk.name)
    # Only by source address: a request naming the trunk in its From user is not the trunk.
    endpoint.set("identify_by", "ip")
    _common_media(endpoint, trunk.codecs, source=f"{source}.codecs", asterisk=asterisk)

    aor = conf.section(trunk.name)
    aor.set("type", "aor")
    params = ("transport=tcp",) if trunk.transport == "tcp" else ()
    aor.set_uri("contact", f"sip:{peer}", params, source=f"{source}.host")

    identify = conf.section(trunk.name)
    identify.set("type", "identify")
    identify.set("endpoint", trunk.name)
    # The port matters: without it every unauthenticated request from this IP (on loopback:
    # every local test tool and softphone) would be taken for the trunk. A TCP peer therefore
    # has to connect from its listening port or reuse a connection Asterisk opened.
    identify.set("match", peer, source=f"{source}.host")


def _seat(conf: ConfigFile, index: int, seat: SeatSettings, asterisk: AsteriskSettings) -> None:
    source = f"seats[{index}]"
    host, _, port = seat.contact.rpartition(":")
    endpoint = conf.section(seat.endpoint, f"seat {seat.extension}: a fixed phone at {seat.contact}")
    endpoint.set("type", "endpoint")
    endpoint.set("transport", TRANSPORT_UDP)
    # The seats' context has no path to the trunks' inbound dialplan, so a seat can never
    # pose as a citizen's call.
    endpoint.set("context", SEATS_CONTEXT)
    endpoint.set("aors", seat.endpoint)
    # A fixed seat is only ever called; nothing may pose as it by naming it in a From header.
    endpoint.set("identify_by", "ip")
    _common_media(endpoint, SEAT_CODECS, source=f"{source}.codecs", asterisk=asterisk)

    aor = conf.section(seat.endpoint)
    aor.set("type", "aor")
    aor.set("contact", f"sip:{seat.extension}@{host_port(host, int(port))}", source=f"{source}.contact")


def _web_seat(conf: ConfigFile, seat: WebSeat, asterisk: AsteriskSettings) -> None:
    source = f"agent {seat.extension}"
    endpoint = conf.section(seat.endpoint, f"web seat {seat.extension}: {seat.label}", source=source)
    endpoint.set("type", "endpoint")
    endpoint.set("transport", TRANSPORT_WS)
    endpoint.set("context", SEATS_CONTEXT)
    endpoint.set("aors", seat.endpoint)
    endpoint.set("auth", seat.endpoint)
    # Browsers register with their endpoint name as the user and must answer the challenge.
    endpoint.set("identify_by", "username")
    _common_media(endpoint, WEB_SEAT_CODECS, source=source, asterisk=asterisk, ice=True)
    # webrtc=yes turns on what browsers need: ICE, AVPF, rtcp-mux, DTLS-SRTP, fingerprint check.
    endpoint.set("webrtc", True)
    endpoint.set("dtls_auto_generate_cert", True)
    endpoint.set("allow_transfer", True)

    aor = conf.section(seat.endpoint)
    aor.set("type", "aor")
    # One browser per seat: a second login replaces the first instead of ringing both.
    aor.set("max_contacts", 1)
    aor.set("remove_existing", True)
    # A tab closed without unregistering is found unreachable (and skipped by the queue) quickly.
    aor.set("qualify_frequency", 15)

    auth = conf.section(seat.endpoint)
    auth.set("type", "auth")
    auth.set("auth_type", "userpass")
    auth.set("username", seat.endpoint)
    auth.set("password", seat.password, source=source)


def _check_names(settings: Settings, web_seats: Sequence[WebSeat] = ()) -> None:
    fixed = {seat.extension for seat in settings.seats}
    for web in web_seats:
        if web.extension in fixed:
            raise ConfigError(
                f"agent {web.label}: extension {web.extension} is also a fixed seat's (seats[]); "
                "give the agent another extension"
            )
    seats = {seat.endpoint for seat in settings.seats} | {web.endpoint for web in web_seats}
    for index, trunk in enumerate(settings.trunks):
        if trunk.name in _RESERVED_SECTIONS or trunk.name in seats:
            raise ConfigError(
                f"trunks[{index}].name: {trunk.name!r} collides with a PJSIP transport, global "
                "section or seat endpoint; choose another name"
            )


def render(settings: Settings, web_seats: Sequence[WebSeat] = ()) -> ConfigFile:
    _check_names(settings, web_seats)
    a = settings.asterisk
    conf = ConfigFile("pjsip.conf")
    glob = conf.section("global")
    glob.set("type", "global")
    # Trunks and fixed seats are identified by source address only (identify_by=ip); web seats by
    # the user they register as, and always challenged. Nothing is identified as anonymous.
    glob.set("endpoint_identifier_order", "ip,username")
    # Keep the version out of every response; scanners key on it.
    glob.set("user_agent", "hotline")

    bind = host_port(a.bind_address, a.sip_port)
    _transport(conf, TRANSPORT_UDP, "udp", bind)
    _transport(conf, TRANSPORT_TCP, "tcp", bind)
    # The websocket transport rides on http.conf's server and never binds itself; naming the
    # HTTP port keeps 'pjsip show transports' truthful.
    _transport(conf, TRANSPORT_WS, "ws", host_port(a.bind_address, a.http_port))

    for index, trunk in enumerate(settings.trunks):
        _trunk(conf, index, trunk, settings.asterisk)
    for index, seat in enumerate(settings.seats):
        _seat(conf, index, seat, settings.asterisk)
    for web in sorted(web_seats, key=lambda w: w.extension):
        _web_seat(conf, web, settings.asterisk)
    return conf
