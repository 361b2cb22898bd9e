"""The sipp test peers against each other on loopback, without Asterisk.

The caller sends from the trunk address (127.0.0.1:5080) to an agent seat at 127.0.0.1:5071, as
the platform's own tests will through Asterisk. Media is proven by capturing the loopback traffic
(dumpcap, a few seconds, filtered to the two RTP ports): the DTMF events must arrive at the agent,
and the agent's -rtp_echo must send them back, which it only does for packets it received.
Every sipp run and the capture are bounded in time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telephony.sipp import pcap
from telephony.sipp.runner import CallerId, SippAgent, SippCaller, SippResult, place_test_call
from telephony.sipp.scenarios import ANSWERED, COMPLETED, REMOTE_HANGUP

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True, scope="module")
def _real_peers_present() -> None:
    # A missing tool is a broken test machine, not a reason to pass quietly (make test installs them).
    assert Path("/usr/bin/sipp").exists(), "sipp (Debian sip-tester) is not installed"
    assert os.geteuid() == 0, "sipp pcap play needs root (raw socket)"
    for tool in ("dumpcap", "tshark", "espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} is not installed"


CALLER_SIP, CALLER_RTP = 5080, 6000
AGENT_SIP, AGENT_RTP = 5071, 6200
AGENT = ("127.0.0.1", AGENT_SIP)


@pytest.fixture(autouse=True)
def _ports_free() -> None:
    # Another run (or a live platform) on the same ports would make these tests fail for reasons
    # unrelated to the peers: say so instead.
    for port in (CALLER_SIP, CALLER_RTP, AGENT_SIP, AGENT_RTP):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                pytest.fail(f"UDP port {port} is in use: another run or a live platform holds it")


def _caller(work: Path) -> SippCaller:
    return SippCaller(AGENT, local=("127.0.0.1", CALLER_SIP), media_port=CALLER_RTP, work_dir=work)


def _agent(work: Path, **kwargs: object) -> SippAgent:
    return SippAgent(local=AGENT, media_port=AGENT_RTP, work_dir=work, **kwargs)  # type: ignore[arg-type]


class _Capture:
    """dumpcap on lo for the two RTP ports, stopped after the call (or by its own duration)."""

    def __init__(self, path: Path, seconds: int) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [
                "dumpcap", "-q", "-i", "lo", "-f", f"udp and (port {CALLER_RTP} or port {AGENT_RTP})",
                "-a", f"duration:{seconds}", "-w", str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while not (path.exists() and path.stat().st_size > 0):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                pytest.fail("dumpcap cannot capture on lo here")
            time.sleep(0.05)
        time.sleep(0.3)  # the header is written just before the capture loop starts

    def stop(self) -> list[tuple[int, int, str, str, str]]:
        """(src port, dst port, payload type, event id, end flag) per RTP packet."""
        time.sleep(0.3)
        self.proc.terminate()
        self.proc.wait(timeout=10)
        out = subprocess.run(
            [
                "tshark", "-r", str(self.path),
                "-d", f"udp.port=={AGENT_RTP},rtp", "-d", f"udp.port=={CALLER_RTP},rtp",
                "-T", "fields", "-E", "separator=|",
                "-e", "udp.srcport", "-e", "udp.dstport", "-e", "rtp.p_type",
                "-e", "rtpevent.event_id", "-e", "rtpevent.end_of_event",
            ],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
        rows = []
        for line in out.splitlines():
            src, dst, pt, event, end = line.split("|")
            rows.append((int(src), int(dst), pt, event, end))
        return rows


@pytest.fixture
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "hello.wav"
    return pcap.speak_to_wav("hotline test call, one two", "en", path, speed=220)


def _digits(rows: list[tuple[int, int, str, str, str]], src: int, dst: int) -> tuple[str, int]:
    """Digits carried from src to dst (one per run of events), and how many end packets."""
    digits, ends, last = "", 0, None
    names = {"10": "*", "11": "#"}
    for s, d, pt, event, end in rows:
        if (s, d) != (src, dst) or pt != "101":
            continue
        if end == "1":
            ends += 1
        if end == "0" and event != last:
            digits += names.get(event, event)
        last = event if end == "0" else None
    return digits, ends


def test_call_carries_speech_and_dtmf_to_the_agent(tmp_path: Path, speech: Path) -> None:
    # A work directory with characters sipp's XML reader needs escaped: the pcap path goes into
    # the scenario, and sipp reports which file it opened.
    work = tmp_path / 'odd "dir" \\ & co'
    work.mkdir()
    media = pcap.write_call_pcap(work / "call.pcap", speech, [(0.4, "1#")], 3.0)
    capture = _Capture(tmp_path / "lo.pcapng", seconds=20)
    with _agent(work / "agent", echo=True, hold_seconds=30) as agent:
        result = _caller(work / "caller").run(
            [CallerId("13800000001", "测试 caller")], media=media.path, talk_seconds=3.5, ring_timeout=5
        )
        agent_calls = agent.wait_for(1, timeout=10)
    rows = capture.stop()

    assert result.outcomes == {COMPLETED: 1}, result
    assert result.errors == ()
    assert (
        f"In pcap {media.path}, npkts {media.packets}" in (work / "caller" / "caller_stdout.log").read_text()
    )
    assert [c.outcome for c in agent_calls] == [REMOTE_HANGUP]
    assert agent_calls[0].caller_id == CallerId("13800000001", "测试 caller")

    to_agent = [r for r in rows if (r[0], r[1]) == (CALLER_RTP, AGENT_RTP)]
    echoed = [r for r in rows if (r[0], r[1]) == (AGENT_RTP, CALLER_RTP)]
    # Everything the pcap holds reached the agent's media port ...
    assert sum(1 for r in to_agent if r[2] == "0") == media.audio_packets
    assert _digits(rows, CALLER_RTP, AGENT_RTP) == ("1#", 6)
    # ... and came back from it: the echo answers only packets the agent really received.
    assert _digits(rows, AGENT_RTP, CALLER_RTP) == ("1#", 6)
    assert len(echoed) == len(to_agent)


HOSTILE = [
    CallerId("${EXTEN}", "$(reboot) `id` ${EXTEN}"),
    CallerId("1;2?x=y@z", "#not a comment"),
    CallerId("$(reboot)", 'quote " and back\\slash'),
    CallerId("13800000000", "[call_id] [field0] [$cid_name] %s %n"),
    CallerId("anonymous", ""),
]


def test_hostile_caller_ids_arrive_intact(tmp_path: Path) -> None:
    """Several hostile IDs in one run (sipp's injection file), then one with ';' in the name,
    which only a -set global can carry; the agent must receive each exactly."""
    with _agent(tmp_path / "agent", hold_seconds=30) as agent:
        many = _caller(tmp_path / "many").run(HOSTILE, talk_seconds=0.5, rate=10, ring_timeout=5)
        semicolon = CallerId("$(reboot);x", '"; [call_id] reboot; "')
        one = _caller(tmp_path / "one").run([semicolon], talk_seconds=0.5, ring_timeout=5)
        seen = agent.wait_for(len(HOSTILE) + 1, timeout=10)

    assert many.outcomes == {COMPLETED: len(HOSTILE)}, many
    assert one.outcomes == {COMPLETED: 1}, one
    assert "-set" in (tmp_path / "one" / "caller_command.txt").read_text()
    assert sorted(map(repr, (c.caller_id for c in seen))) == sorted(map(repr, [*HOSTILE, semicolon]))
    assert {c.outcome for c in seen} == {REMOTE_HANGUP}


def test_multiple_ids_with_semicolon_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one call per run"):
        _caller(tmp_path).run([CallerId("1", "a;b"), CallerId("2")])


@pytest.mark.parametrize(("code", "outcome"), [(486, "busy"), (503, "unavailable"), (603, "declined")])
def test_refusals_are_told_apart(tmp_path: Path, code: int, outcome: str) -> None:
    with _agent(tmp_path / "agent", reject_code=code, ring_seconds=0.1) as agent:
        result = _caller(tmp_path / "caller").run(2, talk_seconds=1, ring_timeout=5)
        refused = agent.wait_for(2, timeout=10)
    assert result.outcomes == {outcome: 2}, result
    assert [c.outcome for c in refused] == [outcome, outcome]
    assert not any(c.answered for c in result.calls.values())


def test_agent_hanging_up_first_and_a_cancelled_ring(tmp_path: Path) -> None:
    with _agent(tmp_path / "a1", hold_seconds=0.8) as agent:
        result = _caller(tmp_path / "c1").run(1, talk_seconds=10, ring_timeout=5)
        assert [c.outcome for c in agent.wait_for(1, timeout=5)] == [COMPLETED]
    assert result.outcomes == {REMOTE_HANGUP: 1}, result
    talk = result.calls[1].talk_ms
    assert talk is not None and 700 <= talk < 3000

    with _agent(tmp_path / "a2", ring_seconds=10) as agent:
        result = _caller(tmp_path / "c2").run(1, talk_seconds=1, ring_timeout=0.5)
        assert [c.outcome for c in agent.wait_for(1, timeout=5)] == ["cancelled"]
    assert result.outcomes == {"no_answer": 1}, result


def _run_sipp(work: Path, scenario: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    (work / "far.xml").write_text(scenario)
    return subprocess.run(
        ["/usr/bin/sipp", *args, "-sf", str(work / "far.xml"), "-i", "127.0.0.1", "-bind_local",
         "-mp", "6400", "-m", "1", "-nostdin", "-timeout", "15s", "-recv_timeout", "10000"],
        cwd=work, capture_output=True, timeout=30,
    )  # fmt: skip


# A far end that answers, re-INVITEs the caller (as Asterisk does to update the connected line
# when an agent answers), then hangs up.
_REINVITING_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="reinviting far end">
  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="callee"/>
    </action>
  </recv>
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=far[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6400 RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv request="ACK"/>
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

INVITE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$callee];tag=far[call_number]
To:[$caller]
Call-ID: [call_id]
CSeq: 10 INVITE
Contact: <sip:[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6400 RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv response="200"/>
  <send><![CDATA[

ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$callee];tag=far[call_number]
To:[$caller]
Call-ID: [call_id]
CSeq: 10 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$callee];tag=far[call_number]
To:[$caller]
Call-ID: [call_id]
CSeq: 11 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""


def test_caller_answers_a_reinvite_then_sees_the_hangup(tmp_path: Path) -> None:
    far: dict[str, subprocess.CompletedProcess[bytes]] = {}
    thread = threading.Thread(
        target=lambda: far.setdefault("p", _run_sipp(tmp_path, _REINVITING_UAS, "-p", str(AGENT_SIP)))
    )
    thread.start()
    time.sleep(0.5)
    result = _caller(tmp_path / "caller").run(1, talk_seconds=10, ring_timeout=5)
    thread.join(timeout=30)
    assert far["p"].returncode == 0, far["p"].stdout[-2000:]
    assert result.outcomes == {REMOTE_HANGUP: 1}, result


# A far end that calls the agent, re-INVITEs it, then hangs up.
_REINVITING_UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="reinviting caller">
  <send retrans="500"><![CDATA[

INVITE sip:seat@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:asterisk@[local_ip]:[local_port]>;tag=ast[call_number]
To: <sip:seat@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:asterisk@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6400 RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true">
    <action><ereg regexp=".*" search_in="hdr" header="To:" assign_to="seat"/></action>
  </recv>
  <send><![CDATA[

ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:asterisk@[local_ip]:[local_port]>;tag=ast[call_number]
To:[$seat]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

INVITE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:asterisk@[local_ip]:[local_port]>;tag=ast[call_number]
To:[$seat]
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: <sip:asterisk@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6400 RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv response="200"/>
  <send><![CDATA[

ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:asterisk@[local_ip]:[local_port]>;tag=ast[call_number]
To:[$seat]
Call-ID: [call_id]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:asterisk@[local_ip]:[local_port]>;tag=ast[call_number]
To:[$seat]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""


def test_agent_answers_a_reinvite_and_out_of_dialog_options(tmp_path: Path) -> None:
    with _agent(tmp_path / "agent", ring_seconds=0.1, hold_seconds=10) as agent:
        # Asterisk may qualify a seat with OPTIONS: the agent answers, and the half-open sipp
        # "call" it leaves behind is not reported as a call.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(3)
            port = probe.getsockname()[1]
            probe.sendto(
                (
                    f"OPTIONS sip:seat@127.0.0.1:{AGENT_SIP} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-probe1\r\n"
                    f"From: <sip:probe@127.0.0.1:{port}>;tag=probe\r\n"
                    f"To: <sip:seat@127.0.0.1:{AGENT_SIP}>\r\n"
                    "Call-ID: probe-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode(),
                AGENT,
            )
            assert probe.recv(4096).startswith(b"SIP/2.0 200 OK")
        far = _run_sipp(tmp_path, _REINVITING_UAC, f"127.0.0.1:{AGENT_SIP}", "-p", str(CALLER_SIP))
        assert far.returncode == 0, far.stdout[-2000:]
        calls = agent.wait_for(1, timeout=5)
    assert [c.outcome for c in calls] == [REMOTE_HANGUP]
    assert len(agent.calls()) == 1


def test_stopping_an_agent_mid_call_is_bounded(tmp_path: Path) -> None:
    agent = _agent(tmp_path / "agent", hold_seconds=120).start()
    results: list[SippResult] = []
    thread = threading.Thread(
        target=lambda: results.append(_caller(tmp_path / "caller").run(1, talk_seconds=4, ring_timeout=5))
    )
    thread.start()
    try:
        agent.wait_for(1, outcome=ANSWERED, timeout=5)
        started = time.monotonic()
        stopped = agent.stop(grace=0.5)
        assert time.monotonic() - started < 12
        assert not agent.running
        assert stopped.forced_stop
    finally:
        thread.join(timeout=30)
        if agent.running:
            agent.stop(grace=0.1)
    # The caller notices nothing until its own talk time, then hangs up into the void.
    assert results and results[0].calls[1].answered


@pytest.fixture(autouse=True)
def _no_stray_sipp() -> Iterator[None]:
    yield
    # Each test stops what it started; a sipp still bound to the test ports would break the next.
    for port in (CALLER_SIP, AGENT_SIP):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))


def test_place_test_call_dials_the_hotline_from_the_trunk(tmp_path: Path) -> None:
    """The operator's test call, with an agent standing in for Asterisk's SIP port."""
    from hotline.settings import AsteriskSettings, Settings, TrunkSettings

    settings = Settings(
        asterisk=AsteriskSettings(sip_port=AGENT_SIP),
        trunks=(TrunkSettings(name="carrier", host="127.0.0.1", port=CALLER_SIP),),
    )
    with _agent(tmp_path / "agent", ring_seconds=0.1) as agent:
        result = place_test_call(
            settings, text="路灯不亮", digits="1", digits_at=0.5, talk_seconds=1.5, work_dir=tmp_path / "call"
        )
        seen = agent.wait_for(1, timeout=10)
    assert result.outcomes == {COMPLETED: 1}, result
    assert seen[0].caller_id == CallerId("13800138000", "hotline test")
    invite = (tmp_path / "call" / "caller_messages.log").read_text()
    assert f"INVITE sip:12345@127.0.0.1:{AGENT_SIP} SIP/2.0" in invite
    assert f"Via: SIP/2.0/UDP 127.0.0.1:{CALLER_SIP};" in invite
