"""sipp XML scenarios for the test peers: a caller (UAC) that enters through the trunk, and an agent
seat (UAS) that Asterisk rings.

The scenarios are generated rather than shipped as files because each run needs its own pcap path,
talk time and caller-ID source, and because sipp's XML reader is not an XML parser: it has its own
escaping rules (see :func:`sipp_attr`), so every value written into a scenario goes through one
function that knows them. Caller IDs themselves never enter the XML: they come from sipp's
injection file (``-inf``) or from ``-set`` globals, see :mod:`telephony.sipp.runner`.

Every way a call can end writes one ``<log>`` line (``-trace_logs``): sipp's own counters call a
486 a success and cannot tell a remote hang-up from ours, so the runner reads these lines instead.
Log line: ``hotline-sipp|<role>|<call number>|<clock ms>|<event>|<detail>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

LOG_TAG: Final = "hotline-sipp"

# Final responses a caller can get instead of 200. Each has its own branch so the outcome names the
# code; anything not listed ends in sipp's default abort (ACK, call counted as failed, no outcome).
NAMED_REJECTIONS: Final = {486: "busy", 503: "unavailable", 603: "declined"}
OTHER_REJECTIONS: Final = (
    400, 401, 403, 404, 405, 407, 408, 410, 415, 480, 481, 482, 483, 484, 485, 487, 488, 491,
    500, 501, 502, 504, 600, 604, 606,
)  # fmt: skip

REASON_PHRASES: Final = {
    403: "Forbidden", 404: "Not Found", 480: "Temporarily Unavailable", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
    503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
}  # fmt: skip


def rejection_outcome(code: int) -> str:
    """Outcome name for a call refused with *code*: ``busy``, ``unavailable``, ``declined`` or
    ``rejected_<code>``."""
    return NAMED_REJECTIONS.get(code, f"rejected_{code}")


# Outcome names written by the scenarios (the runner's vocabulary).
COMPLETED: Final = "completed"  # answered; this peer hung up after its talk/hold time
REMOTE_HANGUP: Final = "remote_hangup"  # answered; the other side sent BYE
NO_ANSWER: Final = "no_answer"  # caller: no final answer in ring_timeout, CANCEL sent
CANCELLED: Final = "cancelled"  # agent: Asterisk cancelled the ringing INVITE
ANSWERED: Final = "answered"  # progress event, not an outcome
INVITED: Final = "invite"  # agent: progress event carrying the From header it received

CallerIdSource = Literal["inf", "set"]
# Where the caller's display name and URI user come from: fields of the injection file, or
# globals given with -set (see runner: the injection file cannot carry ';').
CALLER_ID_PLACEHOLDERS: Final[dict[str, tuple[str, str]]] = {
    "inf": ("[field1]", "[field2]"),
    "set": ("[$cid_name]", "[$cid_user]"),
}


def sipp_attr(value: str) -> str:
    r"""Quote *value* for a double-quoted attribute in a sipp 3.6 scenario.

    sipp's reader is not an XML parser. Every attribute gets its backslash escapes undone
    (``\\`` and ``\"``; a backslash before anything else stays). Entities are another matter:
    some attributes (``play_pcap_audio`` in 3.6.1) are taken as they are, others (``log``
    messages) go through a decoder that turns any ``&...;`` whose name is a *prefix* of
    amp/lt/gt/quot into a character. No encoding of ``&`` is read the same by both, so a ``&``
    with a ``;`` after it is refused; and as 3.6.1's element scanner stops at a raw ``<`` or ``>``
    even inside quotes, which only an entity could hide, those are refused too. Control
    characters and non-ASCII cannot be carried either.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"control characters cannot go into a sipp scenario: {value!r}")
    if not value.isascii():
        # The reader only handles printable ASCII; paths and log text are ours to keep ASCII.
        raise ValueError(f"sipp scenarios must be ASCII: {value!r}")
    amp = value.find("&")
    if (amp >= 0 and ";" in value[amp:]) or "<" in value or ">" in value:
        raise ValueError(f"'&...;', '<' and '>' cannot be written safely for sipp: {value!r}")
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _log(role: str, event: str, detail: str = "") -> str:
    message = f"{LOG_TAG}|{role}|[call_number]|[clock_tick]|{event}|{detail}"
    return f'<log message="{sipp_attr(message)}"/>'


def _sdp(session: str) -> str:
    # PCMU only (what every trunk offers) and RFC 4733 events: the offer the lab notes prescribe.
    return (
        "v=0\n"
        f"o=- [pid][call_number] 1 IN IP[media_ip_type] [media_ip]\n"
        f"s={session}\n"
        "c=IN IP[media_ip_type] [media_ip]\n"
        "t=0 0\n"
        "m=audio [media_port] RTP/AVP 0 101\n"
        "a=rtpmap:0 PCMU/8000\n"
        "a=rtpmap:101 telephone-event/8000\n"
        "a=fmtp:101 0-16\n"
        "a=ptime:20\n"
        "a=sendrecv\n"
    )


def _cdata(text: str) -> str:
    if "]]>" in text:
        raise ValueError("a SIP message template cannot contain ']]>'")
    lines = "\n".join(f"      {line}" if line else "" for line in text.strip("\n").split("\n"))
    return f"<![CDATA[\n\n{lines}\n\n    ]]>"


def _send(message: str, attrs: str = "") -> str:
    return f"  <send{(' ' + attrs) if attrs else ''}>\n    {_cdata(message)}\n  </send>\n"


def _nop(*actions: str, attrs: str = "") -> str:
    inner = "".join(f"      {a}\n" for a in actions)
    return f"  <nop{(' ' + attrs) if attrs else ''}>\n    <action>\n{inner}    </action>\n  </nop>\n"


def _play(pcap: Path | None) -> str:
    if pcap is None:
        return ""
    # sipp resolves a relative path against its working directory: always pass an absolute one.
    return _nop(f'<exec play_pcap_audio="{sipp_attr(str(Path(pcap).resolve()))}"/>')


# Answering an in-dialog request with the same headers it came with: the responses below work
# for BYE and re-INVITE whichever side started the dialog, because the request already carries
# both tags.
_OK_TO_REQUEST = """\
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
"""

_OK_TO_REINVITE = """\
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

""" + _sdp("hotline test peer")


# A non-2xx final answer to our INVITE is ACKed inside the INVITE transaction: the same branch (the
# Via the response echoes) and the To tag the response brought.
_ACK_NON_2XX = """\
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
"""


# The answer to our BYE: 200, or 481 when the other side already forgot the call.
_BYE_RESPONSES = (
    '  <recv response="481" optional="true" timeout="5000" ontimeout="done" next="done"/>\n'
    '  <recv response="200" timeout="5000" ontimeout="done" next="done"/>\n'
)


@dataclass(frozen=True)
class CallerScenario:
    """A caller entering through the trunk.

    ``talk_ms``: how long after the answer this caller hangs up unless the other side does first.
    ``ring_timeout_ms``: longest wait for a final answer (per provisional response) before CANCEL.
    """

    pcap: Path | None
    talk_ms: int
    ring_timeout_ms: int = 30_000
    caller_id: CallerIdSource = "inf"
    user_agent: str = "hotline-test-caller"

    def __post_init__(self) -> None:
        if self.talk_ms <= 0 or self.ring_timeout_ms <= 0:
            raise ValueError("talk_ms and ring_timeout_ms must be positive")


def _in_call(role: str, wait: str) -> str:
    """The talking part both peers share: wait (``wait`` holds the timeout attributes) for a BYE or
    a re-INVITE, answer either; then the label ``local_bye`` where this side hangs up itself."""
    return "".join(
        [
            '  <label id="talk"/>\n',
            f'  <recv request="INVITE" optional="true" {wait} next="reinvite"/>\n',
            f'  <recv request="BYE" {wait}/>\n',
            _send(_OK_TO_REQUEST),
            _nop(_log(role, REMOTE_HANGUP), attrs='next="done"'),
            '  <label id="reinvite"/>\n',
            _send(_OK_TO_REINVITE),
            '  <recv request="ACK" timeout="5000" ontimeout="talk" next="talk"/>\n',
            '  <label id="local_bye"/>\n',
            # Logged before the BYE goes: the outcome is that this side hung up, whether or not the
            # other side still confirms it (a BYE crossing Asterisk's own is answered by sipp itself).
            _nop(_log(role, COMPLETED)),
        ]
    )


def caller_scenario(spec: CallerScenario) -> str:
    """The UAC scenario text for sipp's ``-sf``."""
    name, user = CALLER_ID_PLACEHOLDERS[spec.caller_id]
    role = "caller"
    ua = spec.user_agent
    if not ua.isascii() or not ua.isprintable():
        raise ValueError("user_agent must be printable ASCII")
    from_hdr = f"From: {name}<sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
    ring = f'timeout="{spec.ring_timeout_ms}" ontimeout="no_answer"'
    talk = f'timeout="{spec.talk_ms}" ontimeout="local_bye"'
    parts: list[str] = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="hotline caller">\n']
    if spec.caller_id == "set":
        parts.append('  <Global variables="cid_name,cid_user"/>\n')
    parts.append(
        _send(
            f"""\
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
{from_hdr}
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
User-Agent: {ua}
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE
Content-Type: application/sdp
Content-Length: [len]

"""
            + _sdp("hotline test caller"),
            'retrans="500" start_rtd="setup"',
        )
    )
    # Provisional responses may come in any number and order; each recv carries the ring timeout
    # because sipp times the recv it is currently waiting at, and that moves with every 1xx.
    for code in (100, 180, 183):
        parts.append(f'  <recv response="{code}" optional="true" {ring}/>\n')
    rejections = {c: rejection_outcome(c) for c in (*NAMED_REJECTIONS, *OTHER_REJECTIONS)}
    for code in rejections:
        parts.append(f'  <recv response="{code}" optional="true" {ring} next="rej_{code}"/>\n')
    parts.append(
        f'  <recv response="200" rtd="setup" rrs="true" {ring}>\n'
        "    <action>\n"
        '      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="peer_to"/>\n'
        f"      {_log(role, ANSWERED)}\n"
        "    </action>\n"
        "  </recv>\n"
    )
    parts.append(
        _send(
            """\
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
{from_hdr}
To:[$peer_to]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0
""".replace("{from_hdr}", from_hdr)
        )
    )
    parts.append(_play(spec.pcap))
    # Talking: a BYE or re-INVITE from Asterisk may come at any time; the timeout is the talk time.
    # A re-INVITE (Asterisk's connected-line update when an agent answers) restarts the timer.
    parts.append(_in_call(role, talk))
    parts.append(
        _send(
            """\
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
{from_hdr}
To:[$peer_to]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0
""".replace("{from_hdr}", from_hdr),
            'retrans="500"',
        )
    )
    parts.append(_BYE_RESPONSES)

    for code, outcome in rejections.items():
        parts.append(f'  <label id="rej_{code}"/>\n')
        parts.append(_send(_ACK_NON_2XX))
        parts.append(_nop(_log(role, outcome, str(code)), attrs='next="done"'))

    parts.append('  <label id="no_answer"/>\n')
    parts.append(_nop(_log(role, NO_ANSWER)))
    parts.append(
        _send(
            """\
CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
{from_hdr}
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0
""".replace("{from_hdr}", from_hdr)
        )
    )
    # 200 to the CANCEL, then 487 to the INVITE, which is ACKed like any other refusal.
    parts.append('  <recv response="200" optional="true" timeout="5000" ontimeout="done"/>\n')
    parts.append('  <recv response="487" timeout="5000" ontimeout="done"/>\n')
    parts.append(_send(_ACK_NON_2XX))
    parts.append('  <label id="done"/>\n')
    # Keep the call a moment so retransmissions still find it instead of opening a new one.
    parts.append('  <pause milliseconds="200"/>\n')
    parts.append("</scenario>\n")
    return "".join(parts)


@dataclass(frozen=True)
class AgentScenario:
    """An agent seat: rings ``ring_ms``, answers, talks until Asterisk hangs up or ``hold_ms``
    passes (then hangs up itself). Media: ``pcap`` played after the answer, or nothing here and
    sipp's ``-rtp_echo`` (a runner option) sends back what it hears. ``reject_code``: refuse every
    call with this final response after ringing instead of answering."""

    ring_ms: int = 500
    hold_ms: int = 60_000
    pcap: Path | None = None
    reject_code: int | None = None
    user_agent: str = "hotline-test-agent"

    def __post_init__(self) -> None:
        if self.ring_ms < 0 or self.hold_ms <= 0:
            raise ValueError("ring_ms must be >= 0 and hold_ms positive")
        if self.reject_code is not None and not 300 <= self.reject_code <= 699:
            raise ValueError("reject_code must be a final non-2xx SIP code (300-699)")


def agent_scenario(spec: AgentScenario) -> str:
    """The UAS scenario text for sipp's ``-sf``."""
    role = "agent"
    ua = spec.user_agent
    if not ua.isascii() or not ua.isprintable():
        raise ValueError("user_agent must be printable ASCII")
    hold = f'timeout="{spec.hold_ms}" ontimeout="local_bye"'
    our_tag = ";tag=[pid]SIPpTag01[call_number]"
    parts: list[str] = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="hotline agent">\n']
    parts.append(
        '  <recv request="INVITE" rrs="true">\n'
        "    <action>\n"
        '      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="inv_from"/>\n'
        '      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="inv_to"/>\n'
        '      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="inv_cseq"/>\n'
        # The raw From header as received: tests compare it with the caller ID they sent.
        f"      {_log(role, INVITED, 'From:[$inv_from]')}\n"
        "    </action>\n"
        "  </recv>\n"
    )
    parts.append(
        _send(
            f"""\
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:]{our_tag}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
"""
        )
    )
    if spec.ring_ms > 0:
        # Ringing is a wait that a CANCEL (caller gone, another agent answered) interrupts. It
        # cannot be an optional recv: sipp refuses an optional recv right before a send.
        parts.append(
            f'  <recv request="CANCEL" timeout="{spec.ring_ms}" ontimeout="answer" next="cancelled"/>\n'
        )
    parts.append('  <label id="answer"/>\n')
    if spec.reject_code is not None:
        code = spec.reject_code
        parts.append(
            _send(
                f"""\
SIP/2.0 {code} {REASON_PHRASES.get(code, "Rejected")}
[last_Via:]
[last_From:]
[last_To:]{our_tag}
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
            )
        )
        parts.append('  <recv request="ACK" timeout="5000" ontimeout="rejected"/>\n')
        parts.append('  <label id="rejected"/>\n')
        parts.append(_nop(_log(role, rejection_outcome(code), str(code)), attrs='next="done"'))
    parts.append(
        _send(
            f"""\
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]{our_tag}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
User-Agent: {ua}
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE
Content-Type: application/sdp
Content-Length: [len]

"""
            + _sdp("hotline test agent"),
            'retrans="500"',
        )
    )
    parts.append(f'  <recv request="ACK" timeout="10000" ontimeout="local_bye">\n    <action>\n'
                 f"      {_log(role, ANSWERED)}\n    </action>\n  </recv>\n")  # fmt: skip
    parts.append(_play(spec.pcap))
    parts.append(_in_call(role, hold))
    parts.append(
        _send(
            f"""\
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From:[$inv_to]{our_tag}
To:[$inv_from]
Call-ID: [call_id]
CSeq: 101 BYE
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0
""",
            'retrans="500"',
        )
    )
    parts.append(_BYE_RESPONSES)

    parts.append('  <label id="cancelled"/>\n')
    # Logged first: whatever the caller does next, the call was cancelled while ringing.
    parts.append(_nop(_log(role, CANCELLED)))
    parts.append(_send(_OK_TO_REQUEST))
    parts.append(
        _send(
            f"""\
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:]{our_tag}
[last_Call-ID:]
CSeq: [$inv_cseq] INVITE
Content-Length: 0
"""
        )
    )
    parts.append('  <recv request="ACK" timeout="5000" ontimeout="done"/>\n')

    parts.append('  <label id="done"/>\n')
    parts.append('  <pause milliseconds="200"/>\n')
    parts.append("</scenario>\n")
    return "".join(parts)
