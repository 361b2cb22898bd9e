"""Build the RTP capture a sipp test caller plays into a call: speech, DTMF and silence.

sipp 3.6.1 plays media only from a pcap file (``<exec play_pcap_audio=...>``): it takes each UDP
payload as is (RTP header included), rewrites only the UDP ports and sends the packets with the
gaps of their capture timestamps. So this module writes exactly the packets a phone would send:

* one RTP stream (one SSRC), PCMU (payload type 0), 20 ms / 160 samples per packet, sequence
  numbers and timestamps continuous, the marker bit on the first packet;
* RFC 4733 telephone-events (payload type 101) for DTMF;
* silence (µ-law 0xFF) wherever there is no speech, so the stream runs for the whole call as a
  real phone's does (an RTP timeout or a recording never sees a gap).

DTMF practice chosen here (what Asterisk and most phones do): while a key is pressed the audio
packets are *replaced* by event packets, i.e. the speech for that time is muted, not delayed. One
event keeps the RTP timestamp of its start for all its packets; an update is sent every 50 ms with
the duration so far; the end packet (E bit) is sent three times, 50 ms apart, each with a new
sequence number (RFC 4733 2.5.1.4). The first packet of an event carries the marker bit. Audio
resumes on the 20 ms grid after the last end packet.

sipp ignores the Ethernet and IP headers but libpcap needs them, and sipp uses only the offset of
a packet's UDP destination port from the lowest one in the file, so all packets use one port pair.
"""

from __future__ import annotations

import itertools
import math
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
PT_PCMU = 0
PT_TELEPHONE_EVENT = 101
EVENT_UPDATE_MS = 50
END_PACKET_COPIES = 3
DEFAULT_TONE_MS = 200
DEFAULT_GAP_MS = 200
# -10 dBm0: the level RFC 4733 suggests for DTMF and what most phones report.
EVENT_VOLUME = 10

# RFC 4733 section 3.2 event codes for the DTMF keys.
DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def ulaw_encode_sample(sample: int) -> int:
    """G.711 µ-law code for one signed 16-bit linear sample.

    Bit-exact with the ITU-T G.191 reference encoder, which takes the one's complement of a
    negative sample (so -1 and 0 are the two zero codes). The old Sun/audioop encoder negates
    instead and lands one step away on some negative values.
    """
    if not -32768 <= sample <= 32767:
        raise ValueError(f"sample {sample} is not a 16-bit value")
    sign = 0x80 if sample < 0 else 0
    magnitude = min(~sample if sample < 0 else sample, _ULAW_CLIP) + _ULAW_BIAS
    # The segment (exponent) is the position of the highest set bit above bit 7; the four bits
    # right below it are the mantissa. The code is sent inverted (G.711 keeps idle lines at 0xFF).
    exponent = magnitude.bit_length() - 8
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode_sample(code: int) -> int:
    """Linear value of one µ-law code (the midpoint of its step), for checks and tests."""
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << exponent
    magnitude -= _ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


# Every 16-bit value encoded once: encoding a minute of speech is then one table look-up per sample.
_ULAW_TABLE = bytes(ulaw_encode_sample(v - 65536 if v > 32767 else v) for v in range(65536))


def ulaw_encode(samples: Iterable[int]) -> bytes:
    """µ-law bytes for signed 16-bit linear samples."""
    table = _ULAW_TABLE
    return bytes(table[s & 0xFFFF] for s in samples)


def read_wav_8k_mono(path: Path) -> array[int]:
    """Samples of an 8 kHz mono 16-bit PCM WAV; anything else is refused with the sox fix."""
    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
            raise ValueError(
                f"{path}: {rate} Hz, {channels} channel(s), {8 * width} bit; telephony audio must be "
                f"8000 Hz mono 16-bit: sox IN -r 8000 -c 1 -b 16 -t wavpcm OUT.wav"
            )
        raw = wav.readframes(wav.getnframes())
    samples = array("h")
    samples.frombytes(raw)
    if sys.byteorder == "big":  # WAV data is little-endian
        samples.byteswap()
    return samples


def speak_to_wav(text: str, voice: str, path: Path, *, speed: int = 150) -> Path:
    """Synthesize *text* with espeak-ng (e.g. voice ``cmn`` or ``en``) into an 8 kHz telephony WAV.

    espeak-ng writes 22 kHz; sox resamples it and writes a plain PCM header (``wavpcm``), the only
    kind Asterisk and :func:`read_wav_8k_mono` read. The text goes as an argument, never through a
    shell, so any caller text is safe.
    """
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} is not installed (apt-get install espeak-ng sox)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="speak-") as tmp:
        raw = Path(tmp) / "espeak.wav"
        # "--" ends the options: a text starting with "-" is still spoken, not parsed.
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), "--", text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            ["sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-t", "wavpcm", str(path)],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return path


@dataclass(frozen=True)
class DtmfPress:
    """One key press as it will be sent."""

    digit: str
    start_ms: int  # on the 20 ms grid
    tone_ms: int

    @property
    def update_times_ms(self) -> list[int]:
        """Send times of the event packets, the three copies of the end packet last."""
        updates = max(1, math.ceil(self.tone_ms / EVENT_UPDATE_MS))
        count = updates - 1 + END_PACKET_COPIES
        return [self.start_ms + i * EVENT_UPDATE_MS for i in range(count)]

    @property
    def resume_ms(self) -> int:
        """First 20 ms slot after the last end packet: audio starts again there."""
        last = self.update_times_ms[-1]
        return (last // FRAME_MS + 1) * FRAME_MS


def plan_dtmf(
    dtmf: Sequence[tuple[float, str]], *, tone_ms: int = DEFAULT_TONE_MS, gap_ms: int = DEFAULT_GAP_MS
) -> list[DtmfPress]:
    """Turn ``[(offset_seconds, "123#"), ...]`` into key presses; digits of one string follow each
    other every ``tone_ms + gap_ms``. Overlapping presses are refused: a receiver would merge them."""
    if tone_ms < 40 or gap_ms < 40:
        raise ValueError("DTMF tone and gap must each be at least 40 ms (ITU-T Q.24)")
    presses: list[DtmfPress] = []
    for offset, digits in dtmf:
        if offset < 0:
            raise ValueError(f"DTMF offset {offset} is negative")
        start = round(offset * 1000 / FRAME_MS) * FRAME_MS
        for digit in digits.upper():
            if digit not in DTMF_EVENTS:
                raise ValueError(f"{digit!r} is not a DTMF key (0-9 * # A-D)")
            presses.append(DtmfPress(digit, start, tone_ms))
            start += ((tone_ms + gap_ms + FRAME_MS - 1) // FRAME_MS) * FRAME_MS
    presses.sort(key=lambda p: p.start_ms)
    for before, after in itertools.pairwise(presses):
        if after.start_ms < before.resume_ms:
            raise ValueError(
                f"DTMF {after.digit!r} at {after.start_ms} ms overlaps {before.digit!r} at "
                f"{before.start_ms} ms (its end packets run until {before.resume_ms} ms)"
            )
    return presses


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(int(word) for word in struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _PcapWriter:
    """Ethernet/IPv4/UDP frames in a classic libpcap file (microsecond timestamps, no snap cut)."""

    def __init__(self, path: Path, src: tuple[str, int], dst: tuple[str, int], base_time: float) -> None:
        self._file = path.open("wb")
        self._src_ip = bytes(int(p) for p in src[0].split("."))
        self._dst_ip = bytes(int(p) for p in dst[0].split("."))
        self._sport, self._dport = src[1], dst[1]
        self._base_us = round(base_time * 1_000_000)
        self._ip_id = 0
        # magic, version 2.4, GMT offset, timestamp accuracy, snaplen, link type 1 (Ethernet)
        self._file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def write(self, at_ms: int, payload: bytes) -> None:
        udp_len = 8 + len(payload)
        pseudo = self._src_ip + self._dst_ip + struct.pack("!BBH", 0, 17, udp_len)
        header = struct.pack("!HHHH", self._sport, self._dport, udp_len, 0)
        udp_sum = _checksum(pseudo + header + payload) or 0xFFFF
        udp = struct.pack("!HHHH", self._sport, self._dport, udp_len, udp_sum) + payload
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0xB8, 20 + udp_len, self._ip_id, 0x4000, 64, 17, 0,
            self._src_ip, self._dst_ip,
        )  # fmt: skip
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        # Locally administered MACs: the addresses mean nothing to sipp and must not look real.
        frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
        ts = self._base_us + at_ms * 1000
        self._file.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
        self._file.write(frame)

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class PcapSummary:
    """What was written, for logs and for checks against a capture of the call."""

    path: Path
    packets: int
    audio_packets: int
    event_packets: int
    duration_ms: int
    ssrc: int
    digits: str


def write_call_pcap(
    path: Path,
    wav: Path | None,
    dtmf: Sequence[tuple[float, str]] = (),
    total_seconds: float | None = None,
    *,
    audio_offset: float = 0.0,
    tone_ms: int = DEFAULT_TONE_MS,
    gap_ms: int = DEFAULT_GAP_MS,
    src: tuple[str, int] = ("127.0.0.1", 6000),
    dst: tuple[str, int] = ("127.0.0.1", 10000),
    ssrc: int | None = None,
    first_seq: int | None = None,
    first_timestamp: int | None = None,
    base_time: float = 1_700_000_000.0,
) -> PcapSummary:
    """Write the RTP a caller sends during a call: *wav* speech starting at *audio_offset* seconds,
    the *dtmf* presses ``[(offset_seconds, digits), ...]``, silence elsewhere, for *total_seconds*.

    ``total_seconds=None`` ends the stream right after the speech and the last key press; a
    *total_seconds* too short for them is an error rather than a silent cut. Sequence number,
    timestamp and SSRC start at random values (RFC 3550) unless given. The ports and addresses in
    the file do not matter to sipp, which sends to the SDP address of the call.
    """
    path = Path(path)
    speech = read_wav_8k_mono(wav) if wav is not None else array("h")
    presses = plan_dtmf(dtmf, tone_ms=tone_ms, gap_ms=gap_ms)
    if audio_offset < 0:
        raise ValueError("audio_offset must not be negative")
    speech_start = round(audio_offset * SAMPLE_RATE)
    needed_ms = max(
        [math.ceil((speech_start + len(speech)) * 1000 / SAMPLE_RATE)] + [p.resume_ms for p in presses]
    )
    if total_seconds is None:
        total_ms = needed_ms
    else:
        total_ms = round(total_seconds * 1000)
        if total_ms < needed_ms:
            raise ValueError(
                f"total_seconds={total_seconds} is shorter than the speech and DTMF ({needed_ms} ms)"
            )
    frames = math.ceil(total_ms / FRAME_MS)
    # The timeline, one slot per 20 ms packet: placing the speech on it once makes muting under
    # DTMF a matter of skipping slots.
    line = array("h", bytes(2 * frames * FRAME_SAMPLES))
    usable = max(0, min(len(speech), len(line) - speech_start))
    line[speech_start : speech_start + usable] = speech[:usable]
    pcmu = ulaw_encode(line)

    ssrc = secrets.randbits(32) if ssrc is None else ssrc
    seq = secrets.randbits(16) if first_seq is None else first_seq
    ts0 = secrets.randbits(32) if first_timestamp is None else first_timestamp

    # Every packet as (send ms, payload type, timestamp offset, payload, kind, marker), sorted by
    # send time before numbering: audio and events share one sequence in sending order.
    packets: list[tuple[int, int, int, bytes, int, bool]] = []
    muted: set[int] = set()
    for press in presses:
        first_slot = press.start_ms // FRAME_MS
        muted.update(range(first_slot, min(frames, press.resume_ms // FRAME_MS)))
        times = press.update_times_ms
        end_index = len(times) - END_PACKET_COPIES
        for i, at_ms in enumerate(times):
            is_end = i >= end_index
            duration_ms = press.tone_ms if is_end else (i + 1) * EVENT_UPDATE_MS
            body = struct.pack(
                "!BBH",
                DTMF_EVENTS[press.digit],
                (0x80 if is_end else 0) | EVENT_VOLUME,
                duration_ms * SAMPLE_RATE // 1000,
            )
            packets.append((at_ms, PT_TELEPHONE_EVENT, first_slot * FRAME_SAMPLES, body, 1, i == 0))
    for slot in range(frames):
        if slot in muted:
            continue
        body = pcmu[slot * FRAME_SAMPLES : (slot + 1) * FRAME_SAMPLES]
        packets.append((slot * FRAME_MS, PT_PCMU, slot * FRAME_SAMPLES, body, 0, slot == 0))
    packets.sort(key=lambda p: (p[0], p[4]))

    writer = _PcapWriter(path, src, dst, base_time)
    try:
        for at_ms, pt, ts_offset, body, _kind, mark in packets:
            header = struct.pack(
                "!BBHII", 0x80, (0x80 if mark else 0) | pt, seq, (ts0 + ts_offset) & 0xFFFFFFFF, ssrc
            )
            writer.write(at_ms, header + body)
            seq = (seq + 1) & 0xFFFF
    finally:
        writer.close()
    events = sum(1 for p in packets if p[1] == PT_TELEPHONE_EVENT)
    return PcapSummary(
        path=path,
        packets=len(packets),
        audio_packets=len(packets) - events,
        event_packets=events,
        duration_ms=frames * FRAME_MS,
        ssrc=ssrc,
        digits="".join(p.digit for p in presses),
    )
