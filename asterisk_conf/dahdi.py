"""chan_dahdi.conf and the DAHDI ``system.conf`` for 30B+D E1 spans (ISDN PRI).

DAHDI numbers channels consecutively across spans, 31 timeslots per E1; timeslot 16 of each span
carries the D channel (Q.931) and the other 30 are bearer channels. Channel numbers here assume
that every lower-numbered span is also an E1, which is how DAHDI counts them.
"""

from __future__ import annotations

from asterisk_conf.ini import ConfigError, ConfigFile, check_comment
from hotline.settings import E1SpanSettings, Settings

TIMESLOTS_PER_SPAN = 31
D_CHANNEL_TIMESLOT = 16
B_CHANNELS_PER_SPAN = 30
E1_TRUNK = "e1"
E1_CONTEXT = f"hotline-trunk-{E1_TRUNK}"
# Pri group numbers are free to choose; one group holds every bearer channel so Dial(DAHDI/g1/...)
# can use any idle channel later.
E1_GROUP = 1


def dahdi_hardware(settings: Settings) -> bool:
    """Without DAHDI cards chan_dahdi stays unloaded; its files are still generated and validated."""
    return settings.asterisk.dahdi_hardware


def chan_dahdi_wanted(settings: Settings) -> bool:
    return bool(settings.e1_spans) and dahdi_hardware(settings)


def b_channel_count(settings: Settings) -> int:
    return B_CHANNELS_PER_SPAN * len(settings.e1_spans)


def _first_channel(span: E1SpanSettings) -> int:
    return (span.span - 1) * TIMESLOTS_PER_SPAN + 1


def bearer_ranges(span: E1SpanSettings) -> str:
    first = _first_channel(span)
    d = first + D_CHANNEL_TIMESLOT - 1
    last = first + TIMESLOTS_PER_SPAN - 1
    return f"{first}-{d - 1},{d + 1}-{last}"


def d_channel(span: E1SpanSettings) -> int:
    return _first_channel(span) + D_CHANNEL_TIMESLOT - 1


def validate(settings: Settings) -> None:
    """Raise ConfigError naming the key when the spans cannot work together.

    Timing: 0 means "never take the clock from this span"; 1, 2, ... rank the spans that may.
    At least one span must be a clock source, or the card free-runs and every span slips against
    the carrier's clock; two spans with the same rank leave the choice to the driver.

    Capacity rule: the bearer channels must not exceed capacity.channels. Otherwise the carrier
    can present calls on channels that the dialplan always turns away with the overflow
    treatment, which is a sizing mistake rather than a choice. (More capacity than E1 channels is
    fine: SIP trunks add to it.)
    """
    spans = settings.e1_spans
    if not spans:
        return
    numbers = [s.span for s in spans]
    if len(set(numbers)) != len(numbers):
        raise ConfigError("e1_spans: span numbers must be unique")
    ranks = [s.timing for s in spans if s.timing]
    if not ranks:
        raise ConfigError(
            "e1_spans[*].timing: every span has timing 0, so none provides the clock; "
            "give the span facing the carrier timing 1"
        )
    for index, span in enumerate(spans):
        if span.timing and ranks.count(span.timing) > 1:
            raise ConfigError(
                f"e1_spans[{index}].timing: {span.timing} is used by more than one span; "
                "give each clock source its own rank (1, 2, ...) or 0"
            )
    channels = b_channel_count(settings)
    if channels > settings.capacity.channels:
        raise ConfigError(
            f"capacity.channels: {len(spans)} E1 spans carry {channels} calls but capacity.channels "
            f"admits only {settings.capacity.channels}; raise capacity.channels to at least "
            f"{channels} or remove spans from e1_spans"
        )


def render_chan_dahdi(settings: Settings) -> ConfigFile:
    validate(settings)
    conf = ConfigFile("chan_dahdi.conf")
    conf.section("trunkgroups")
    channels = conf.section(
        "channels",
        "Options are sticky: each applies to the channel => lines after it.",
    )
    channels.set("context", E1_CONTEXT)
    channels.set("group", E1_GROUP)
    channels.set("usecallerid", True)
    channels.set("hidecallerid", False)
    channels.set("callwaiting", False)
    channels.set("usecallingpres", True)
    channels.set("immediate", False)
    channels.set("overlapdial", False)
    channels.set("echocancel", False)
    for index, span in sorted(enumerate(settings.e1_spans), key=lambda item: item[1].span):
        channels.blank()
        channels.comment(f"span {span.span}: bearer channels (D channel is {d_channel(span)})")
        channels.set("signalling", span.signalling, source=f"e1_spans[{index}].signalling")
        channels.set("switchtype", span.switchtype, source=f"e1_spans[{index}].switchtype")
        channels.set("channel", bearer_ranges(span), arrow=True)
    return conf


def render_system_text(settings: Settings, header: list[str]) -> str:
    """/etc/dahdi/system.conf: dahdi_cfg's flat format with ``#`` comments and no sections."""
    validate(settings)
    lines = [
        *header,
        "This file is meant for /etc/dahdi/system.conf on a host with DAHDI E1 cards:",
        "copy it there and run dahdi_cfg. Asterisk itself does not read it.",
        "span=<n>,<timing>,<line build-out>,<framing>,<coding>[,crc4]",
    ]
    body: list[str] = []
    for span in sorted(settings.e1_spans, key=lambda s: s.span):
        fields = [str(span.span), str(span.timing), "0", span.framing, span.coding]
        if span.crc4:
            fields.append("crc4")
        body.append(f"span={','.join(fields)}")
        body.append(f"bchan={bearer_ranges(span)}")
        # Cards with a hardware HDLC controller (e.g. TE-series) want hardhdlc= instead.
        body.append(f"dchan={d_channel(span)}")
    body.append("loadzone=cn")
    body.append("defaultzone=cn")
    return "\n".join([*(f"# {check_comment(line)}".rstrip() for line in lines), "", *body]) + "\n"
