"""The test caller's RTP pcap, read back by tshark, plus the pure helpers of the sipp peers."""

from __future__ import annotations

import itertools
import math
import shutil
import struct
import subprocess
import wave
from collections import defaultdict
from pathlib import Path

import pytest

from telephony.sipp import pcap
from telephony.sipp.runner import CallerId, parse_from_header
from telephony.sipp.scenarios import (
    AgentScenario,
    CallerScenario,
    agent_scenario,
    caller_scenario,
    sipp_attr,
)

DST_PORT = 10000
# tshark is installed by scripts/bootstrap.sh for the tests; its absence is a broken machine.
needs_tshark = pytest.mark.usefixtures("tshark_present")


@pytest.fixture
def tshark_present() -> None:
    assert shutil.which("tshark"), "tshark is not installed"


def _write_wav(path: Path, samples: list[int], rate: int = 8000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def _tshark_rows(path: Path) -> list[dict[str, str]]:
    fields = [
        "frame.time_relative", "udp.length", "rtp.seq", "rtp.timestamp", "rtp.ssrc", "rtp.marker",
        "rtp.p_type", "rtpevent.event_id", "rtpevent.end_of_event", "rtpevent.duration",
    ]  # fmt: skip
    cmd = ["tshark", "-r", str(path), "-d", f"udp.port=={DST_PORT},rtp", "-T", "fields", "-E", "separator=|"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]


# --- µ-law -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("linear", "code"),
    [
        (0, 0xFF),  # silence is all ones on the line
        (-1, 0x7F),  # "negative zero"
        (32767, 0x80),  # loudest positive (clipped to 32635)
        (-32768, 0x00),  # loudest negative
        (100, 0xF2),  # 100+132=232: segment 0, step 13
        (-100, 0x73),  # one's complement 99: segment 0, step 12, no sign bit (G.191)
        (1000, 0xCE),  # 1132: segment 3, step 1
        (8000, 0xA0),  # 8132: segment 5, step 15
    ],
)
def test_ulaw_known_values(linear: int, code: int) -> None:
    assert pcap.ulaw_encode_sample(linear) == code


def test_ulaw_round_trip_stays_within_half_a_step() -> None:
    for linear in range(-32768, 32768, 7):
        decoded = pcap.ulaw_decode_sample(pcap.ulaw_encode_sample(linear))
        clipped = max(-32635, min(32635, linear))
        magnitude = abs(clipped) + 132
        step = 1 << (magnitude.bit_length() - 8 + 3)  # the segment's quantisation step
        assert abs(decoded - clipped) <= step, linear


def test_ulaw_negative_samples_mirror_their_ones_complement() -> None:
    # G.191 encodes x < 0 as the code of ~x with the sign bit cleared.
    for linear in range(-32768, 0):
        assert pcap.ulaw_encode_sample(linear) == pcap.ulaw_encode_sample(~linear) & 0x7F


def test_ulaw_matches_audioop_on_positive_samples() -> None:
    # audioop (deprecated, gone in 3.13) agrees with G.191 on x >= 0; on negatives it negates
    # where G.191 complements, which the mirror test above pins down instead.
    audioop = pytest.importorskip("audioop")
    samples = list(range(32768))
    raw = struct.pack(f"<{len(samples)}h", *samples)
    assert pcap.ulaw_encode(samples) == audioop.lin2ulaw(raw, 2)


def test_ulaw_rejects_out_of_range_samples() -> None:
    with pytest.raises(ValueError):
        pcap.ulaw_encode_sample(40000)


# --- DTMF plan ---------------------------------------------------------------------------------


def test_dtmf_plan_spaces_digits_and_refuses_overlaps() -> None:
    presses = pcap.plan_dtmf([(1.0, "1*#")], tone_ms=100, gap_ms=100)
    assert [(p.digit, p.start_ms) for p in presses] == [("1", 1000), ("*", 1200), ("#", 1400)]
    with pytest.raises(ValueError, match="overlaps"):
        pcap.plan_dtmf([(1.0, "1"), (1.1, "2")])
    with pytest.raises(ValueError, match="not a DTMF key"):
        pcap.plan_dtmf([(0.0, "1x")])


# --- pcap files, checked by tshark -------------------------------------------------------------


@needs_tshark
def test_pcap_stream_is_continuous_pcmu_with_rfc4733_digits(tmp_path: Path) -> None:
    # A 440 Hz tone for 1 s as the "speech", digits during it and after it, 3 s in all; the
    # sequence number starts just below the wrap to check continuity across it.
    tone = [round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000)]
    wav = _write_wav(tmp_path / "tone.wav", tone)
    summary = pcap.write_call_pcap(
        tmp_path / "call.pcap",
        wav,
        [(0.5, "12"), (2.0, "#")],
        3.0,
        dst=("127.0.0.1", DST_PORT),
        ssrc=0xCAFEBABE,
        first_seq=65530,
        first_timestamp=0xFFFFFF00,
    )
    rows = _tshark_rows(summary.path)
    assert len(rows) == summary.packets

    # One SSRC; sequence numbers continuous through the 16-bit wrap, in file order.
    assert {r["rtp.ssrc"] for r in rows} == {"0xcafebabe"}
    seqs = [int(r["rtp.seq"]) for r in rows]
    assert seqs[0] == 65530
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))

    audio = [r for r in rows if r["rtp.p_type"] == "0"]
    events = [r for r in rows if r["rtp.p_type"] == "101"]
    assert len(audio) == summary.audio_packets
    assert len(events) == summary.event_packets
    assert all(int(r["udp.length"]) == 8 + 12 + 160 for r in audio)
    # 3 s of 20 ms slots, minus the slots the three key presses mute.
    presses = pcap.plan_dtmf([(0.5, "12"), (2.0, "#")])
    muted = sum((p.resume_ms - p.start_ms) // 20 for p in presses)
    assert len(audio) == 150 - muted
    # Audio timestamps step 160 per 20 ms of send time, whatever was muted in between.
    base_ts, base_t = int(audio[0]["rtp.timestamp"]), float(audio[0]["frame.time_relative"])
    for r in audio:
        elapsed = round((float(r["frame.time_relative"]) - base_t) * 1000)
        assert (int(r["rtp.timestamp"]) - base_ts) % 2**32 == elapsed * 8
    assert audio[0]["rtp.marker"] == "1"
    assert float(rows[-1]["frame.time_relative"]) == pytest.approx(2.98, abs=0.001)

    # Events: per digit one timestamp, growing durations, marker on the first packet, and the
    # end packet exactly three times.
    by_ts: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in events:
        by_ts[r["rtp.timestamp"]].append(r)
    digits = ""
    for packets in by_ts.values():
        ids = {r["rtpevent.event_id"] for r in packets}
        assert len(ids) == 1
        digits += {"10": "*", "11": "#"}.get(ids.pop(), packets[0]["rtpevent.event_id"])
        assert packets[0]["rtp.marker"] == "1"
        assert all(r["rtp.marker"] == "0" for r in packets[1:])
        ends = [r for r in packets if r["rtpevent.end_of_event"] == "1"]
        assert len(ends) == 3
        assert packets[-3:] == ends
        durations = [int(r["rtpevent.duration"]) for r in packets]
        assert durations == sorted(durations)
        assert durations[-1] == pcap.DEFAULT_TONE_MS * 8
        gaps = [
            round((float(b["frame.time_relative"]) - float(a["frame.time_relative"])) * 1000)
            for a, b in itertools.pairwise(packets)
        ]
        assert set(gaps) == {pcap.EVENT_UPDATE_MS}
    assert digits == "12#" == summary.digits


@needs_tshark
def test_pcap_without_speech_is_silence_of_the_given_length(tmp_path: Path) -> None:
    summary = pcap.write_call_pcap(tmp_path / "silence.pcap", None, [], 1.0, dst=("127.0.0.1", DST_PORT))
    rows = _tshark_rows(summary.path)
    assert len(rows) == 50 == summary.audio_packets
    raw = (tmp_path / "silence.pcap").read_bytes()
    # Every payload byte is µ-law silence (the last 160 bytes of each frame).
    assert raw.endswith(b"\xff" * 160)


def test_pcap_refuses_a_total_shorter_than_its_content(tmp_path: Path) -> None:
    wav = _write_wav(tmp_path / "one.wav", [0] * 8000)
    with pytest.raises(ValueError, match="shorter"):
        pcap.write_call_pcap(tmp_path / "x.pcap", wav, [], 0.5)
    with pytest.raises(ValueError, match="shorter"):
        pcap.write_call_pcap(tmp_path / "x.pcap", None, [(2.0, "5")], 1.0)


def test_pcap_refuses_audio_that_is_not_telephony_format(tmp_path: Path) -> None:
    wav = _write_wav(tmp_path / "wide.wav", [0] * 16000, rate=16000)
    with pytest.raises(ValueError, match="sox"):
        pcap.write_call_pcap(tmp_path / "x.pcap", wav, [], None)


def test_pcap_without_total_ends_after_its_content(tmp_path: Path) -> None:
    wav = _write_wav(tmp_path / "half.wav", [1000] * 4000)
    summary = pcap.write_call_pcap(tmp_path / "x.pcap", wav, [], None)
    assert summary.duration_ms == 500
    assert summary.audio_packets == 25


def test_speak_to_wav_gives_8k_mono_16_bit(tmp_path: Path) -> None:
    path = pcap.speak_to_wav("-- 12345 $(reboot)", "en", tmp_path / "out.wav")
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() > 4000
    assert len(pcap.read_wav_8k_mono(path)) > 4000


# --- caller IDs and scenario text (pure functions of the sipp peers) --------------------------

HOSTILE_IDS = [
    CallerId("$(reboot)", '"; reboot; "'),
    CallerId("${EXTEN}", "${EXTEN} $(id) `id`"),
    CallerId("1;2?x=y@z", "semi;colon"),
    CallerId("13800000000", '张三 \\ back"slash'),
    CallerId("#123", "[call_id] [field0] %s %n"),
]


@pytest.mark.parametrize("caller", HOSTILE_IDS)
def test_caller_id_survives_sip_encoding(caller: CallerId) -> None:
    header = f"From: {caller.display}<sip:{caller.uri_user}@127.0.0.1:5080>;tag=abc"
    assert parse_from_header(header) == caller
    # Nothing in the user part can end the URI or start a parameter: only %-escapes and marks.
    assert all((c.isascii() and c.isalnum()) or c in "-_.!~*'()+%" for c in caller.uri_user)


def test_caller_id_refuses_header_injection() -> None:
    with pytest.raises(ValueError):
        CallerId("1\r\nVia: evil")
    with pytest.raises(ValueError):
        CallerId("1", "a\nb")
    with pytest.raises(ValueError):
        CallerId("")


def test_sipp_attr_escapes_for_sipps_own_reader() -> None:
    # sipp undoes backslash escapes in every attribute; entities only in some, so none are used.
    assert sipp_attr('a & b "c" \\d') == 'a & b \\"c\\" \\\\d'
    for bad in ("line\nbreak", "a&amp;b", "x&;y", "é", "<x>"):
        with pytest.raises(ValueError):
            sipp_attr(bad)


def test_scenarios_are_ascii_and_offer_pcmu_with_events(tmp_path: Path) -> None:
    caller = caller_scenario(CallerScenario(pcap=tmp_path / "a&b.pcap", talk_ms=1000))
    agent = agent_scenario(AgentScenario(reject_code=486))
    for text in (caller, agent):
        assert text.isascii()
        assert "m=audio [media_port] RTP/AVP 0 101" in text
        assert "a=rtpmap:101 telephone-event/8000" in text
        assert "a=fmtp:101 0-16" in text
    assert f'play_pcap_audio="{sipp_attr(str((tmp_path / "a&b.pcap").resolve()))}"' in caller
    with pytest.raises(ValueError):
        caller_scenario(CallerScenario(pcap=tmp_path / "a&b;c.pcap", talk_ms=1000))
    assert "SIP/2.0 486 Busy Here" in agent
    assert "[field1]<sip:[field2]@" in caller
    assert "[$cid_name]" in caller_scenario(CallerScenario(pcap=None, talk_ms=1000, caller_id="set"))
