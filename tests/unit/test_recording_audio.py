"""recording.audio and recording.wav_header on real files: crashed MixMonitor WAVs repaired, archive
copies written and read back, hashes, waveform peaks."""

from __future__ import annotations

import hashlib
import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recording import audio
from recording.audio import ArchiveFormat, Damage, DamagedRecording

RATE = 8000
HEADER = 44  # the wave module's (and Asterisk's) header: data size at byte 40


# ----- helpers --------------------------------------------------------------------------------------
def tone(seconds: float, freq: float = 440.0, amp: int = 8000, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(round(seconds * rate), dtype=np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, width: int = 2) -> Path:
    """A closed, consistent PCM WAV as Python's wave module writes it (same 44-byte layout as Asterisk)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes() if width == 2 else samples.tobytes())
    return path


def kill_header(path: Path) -> None:
    """What a kill -9 leaves: Asterisk's header sizes were never written (0)."""
    with path.open("r+b") as f:
        f.seek(4)
        f.write(b"\0\0\0\0")
        f.seek(40)
        f.write(b"\0\0\0\0")


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", chunk_id, len(body)) + body + (b"\0" if len(body) % 2 else b"")


def fmt_chunk(tag: int = 1, channels: int = 1, rate: int = RATE, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


LIST_INFO = chunk(b"LIST", b"INFO" + chunk(b"ISFT", b"Lavf60.3.100\0"))


def build_wav(
    path: Path,
    audio_bytes: bytes,
    *,
    before: bytes = b"",
    after: bytes = b"",
    declared: int | None = None,
    riff: int | None = None,
    fmt: bytes | None = None,
) -> Path:
    """A WAV laid out by hand: other chunks before and after the data, sizes as given (None: right)."""
    data_size = len(audio_bytes) if declared is None else declared
    body = (
        b"WAVE"
        + (fmt_chunk() if fmt is None else fmt)
        + before
        + struct.pack("<4sI", b"data", data_size)
        + audio_bytes
        + after
    )
    path.write_bytes(struct.pack("<4sI", b"RIFF", len(body) if riff is None else riff) + body)
    return path


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


# ----- inspecting and repairing ---------------------------------------------------------------------
def test_a_closed_file_is_consistent(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "leg.wav", tone(1.0))
    info = audio.inspect_wav(path)
    assert (info.channels, info.sample_rate, info.bits, info.data_offset) == (1, RATE, 16, HEADER)
    assert info.header_data_bytes == info.actual_data_bytes == 16000
    assert info.header_riff_bytes == path.stat().st_size - 8
    assert info.consistent and info.is_pcm and info.damage is None
    assert info.frames == 8000 and info.duration_seconds == 1.0


def test_zeroed_header_after_kill_is_repaired(tmp_path: Path) -> None:
    samples = tone(1.0)
    path = write_wav(tmp_path / "leg.wav", samples)
    kill_header(path)
    assert sf.info(str(path)).frames != 8000  # what libsndfile makes of it unrepaired
    info = audio.inspect_wav(path)
    assert not info.consistent
    assert (info.header_data_bytes, info.actual_data_bytes, info.header_riff_bytes) == (0, 16000, 0)

    outcome = audio.repair_wav(path)

    assert outcome.changed
    assert (outcome.riff_bytes_before, outcome.riff_bytes_after) == (0, 16036)
    assert (outcome.data_bytes_before, outcome.data_bytes_after) == (0, 16000)
    assert outcome.truncated_bytes == 0 and outcome.frames == 8000
    assert "data size 0 -> 16000" in str(outcome)
    assert audio.inspect_wav(path).consistent
    assert sf.info(str(path)).frames == 8000
    read, rate = audio.read_pcm(path)
    assert rate == RATE and np.array_equal(read, samples)


def test_frames_written_after_an_old_header_are_kept(tmp_path: Path) -> None:
    # A header last updated after 1 s, Asterisk killed 0.5 s later.
    path = write_wav(tmp_path / "leg.wav", tone(1.0))
    append(path, tone(0.5, freq=600).astype("<i2").tobytes())
    info = audio.inspect_wav(path)
    assert (info.header_data_bytes, info.actual_data_bytes, info.consistent) == (16000, 24000, False)

    outcome = audio.repair_wav(path)

    assert outcome.frames == 12000 and outcome.data_bytes_after == 24000
    assert sf.info(str(path)).frames == 12000


def test_a_trailing_partial_sample_is_cut(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "leg.wav", tone(1.0))
    kill_header(path)
    append(path, b"\x7f")  # the first byte of a sample whose second never came

    outcome = audio.repair_wav(path)

    assert outcome.truncated_bytes == 1 and outcome.frames == 8000
    assert path.stat().st_size == HEADER + 16000
    assert sf.info(str(path)).frames == 8000


def test_a_file_cut_mid_sample_under_a_full_header_is_repaired(tmp_path: Path) -> None:
    # The header claims more than the disk got (e.g. the disk filled up): trust the file.
    path = write_wav(tmp_path / "leg.wav", tone(1.0))
    os.truncate(path, path.stat().st_size - 3)
    info = audio.inspect_wav(path)
    assert (info.header_data_bytes, info.actual_data_bytes) == (16000, 15997)

    outcome = audio.repair_wav(path)

    assert (outcome.frames, outcome.truncated_bytes, outcome.data_bytes_after) == (7998, 1, 15996)
    assert sf.info(str(path)).frames == 7998


def test_data_after_a_list_chunk_is_found_and_repaired(tmp_path: Path) -> None:
    samples = tone(0.5)
    path = build_wav(tmp_path / "leg.wav", samples.tobytes(), before=LIST_INFO, declared=0, riff=0)
    info = audio.inspect_wav(path)
    assert info.data_offset == 12 + 24 + len(LIST_INFO) + 8
    assert info.actual_data_bytes == 8000 and not info.consistent

    audio.repair_wav(path)

    data, rate = sf.read(str(path), dtype="int16")
    assert rate == RATE and np.array_equal(data, samples)


def test_chunks_after_the_data_are_not_taken_for_audio(tmp_path: Path) -> None:
    path = build_wav(tmp_path / "leg.wav", tone(0.5).tobytes(), after=LIST_INFO)
    before = snapshot(path)
    info = audio.inspect_wav(path)
    assert info.consistent and info.actual_data_bytes == 8000

    outcome = audio.repair_wav(path)

    assert not outcome.changed and snapshot(path) == before


def test_a_stale_riff_size_alone_is_fixed_without_cutting_trailing_chunks(tmp_path: Path) -> None:
    path = build_wav(tmp_path / "leg.wav", tone(0.5).tobytes(), after=LIST_INFO, riff=36)
    size = path.stat().st_size

    outcome = audio.repair_wav(path)

    assert outcome.changed and outcome.riff_bytes_after == size - 8
    assert outcome.data_bytes_after == outcome.data_bytes_before == 8000
    assert path.stat().st_size == size and path.read_bytes().endswith(LIST_INFO)
    assert sf.info(str(path)).frames == 4000


def test_odd_8_bit_data_gets_its_pad_byte(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "leg.wav", np.full(7, 128, dtype=np.uint8), width=1)
    kill_header(path)
    path.write_bytes(path.read_bytes().rstrip(b"\0"))  # wave wrote the pad byte: drop it again
    outcome = audio.repair_wav(path)
    assert (outcome.frames, outcome.data_bytes_after) == (7, 7)
    assert path.stat().st_size == HEADER + 8 and audio.inspect_wav(path).consistent
    assert sf.info(str(path)).frames == 7


def test_a_consistent_file_is_never_written(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "leg.wav", tone(1.0))
    before = snapshot(path)
    path.chmod(0o444)  # opening it for writing would fail (unless root): the test also checks bytes
    try:
        outcome = audio.repair_wav(path)
    finally:
        path.chmod(0o644)
    assert not outcome.changed and outcome.frames == 8000
    assert "not touched" in str(outcome)
    assert snapshot(path) == before


def test_repair_twice_is_a_no_op_the_second_time(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "leg.wav", tone(1.0))
    kill_header(path)
    append(path, b"\1")
    assert audio.repair_wav(path).changed
    before = snapshot(path)
    assert not audio.repair_wav(path).changed
    assert snapshot(path) == before


def _no_audio_header_only(tmp_path: Path) -> Path:
    path = write_wav(tmp_path / "x.wav", silence(0))
    kill_header(path)
    return path


DAMAGED = {
    "missing": (Damage.MISSING, "missing", lambda d: d / "x.wav"),
    "empty": (Damage.EMPTY, "empty", lambda d: _touch(d / "x.wav", b"")),
    "text": (Damage.NOT_WAVE, "not a RIFF/WAVE", lambda d: _touch(d / "x.wav", b"hello, this is no audio")),
    "avi": (
        Damage.NOT_WAVE,
        "not a RIFF/WAVE",
        lambda d: _touch(d / "x.wav", b"RIFF\4\0\0\0AVI " + b"\0" * 40),
    ),
    "short": (Damage.NOT_WAVE, "too short", lambda d: _touch(d / "x.wav", b"RIFF\0\0")),
    "no fmt": (
        Damage.NO_FMT,
        "no fmt chunk",
        lambda d: _touch(d / "x.wav", b"RIFF\0\0\0\0WAVEdata\4\0\0\0\1\2\3\4"),
    ),
    "cut fmt": (
        Damage.NO_FMT,
        "cut short",
        lambda d: _touch(d / "x.wav", b"RIFF\0\0\0\0WAVEfmt \20\0\0\0\1\0\1\0"),
    ),
    "bad fmt": (
        Damage.BAD_FMT,
        "0 channel",
        lambda d: build_wav(d / "x.wav", b"\0" * 100, fmt=fmt_chunk(channels=0)),
    ),
    "not pcm": (
        Damage.NOT_PCM,
        "not PCM (format tag 0x0031)",
        lambda d: _gsm(d / "x.wav"),
    ),
    "header only": (Damage.NO_AUDIO, "no audio", _no_audio_header_only),
    "half a sample": (
        Damage.NO_AUDIO,
        "0 complete sample frames",
        lambda d: build_wav(d / "x.wav", b"\1", declared=0, riff=0),
    ),
    "no data chunk": (
        Damage.NO_AUDIO,
        "before a data chunk",
        lambda d: _touch(d / "x.wav", b"RIFF\0\0\0\0WAVE" + fmt_chunk() + LIST_INFO),
    ),
}


def _touch(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _gsm(path: Path) -> Path:
    sf.write(str(path), tone(1.0), RATE, format="WAV", subtype="GSM610")
    return path


@pytest.mark.parametrize("case", DAMAGED, ids=list(DAMAGED))
def test_every_damage_is_named(tmp_path: Path, case: str) -> None:
    damage, words, make = DAMAGED[case]
    path = make(tmp_path)
    before = snapshot(path) if path.exists() else None

    with pytest.raises(DamagedRecording) as raised:
        audio.repair_wav(path)

    assert raised.value.damage == damage
    assert words in raised.value.reason and raised.value.reason.startswith("x.wav: ")
    assert str(raised.value) == raised.value.reason
    assert (snapshot(path) if path.exists() else None) == before
    info = audio.inspect_wav(path)  # asking never raises
    assert not info.consistent or damage in (Damage.NOT_PCM, Damage.NO_AUDIO)
    if damage not in (Damage.NOT_PCM, Damage.NO_AUDIO) or case == "no data chunk":
        assert info.damage == damage and info.problem == raised.value.reason


# ----- reading the legs -----------------------------------------------------------------------------
def test_read_pcm_refuses_a_stale_header_and_a_damaged_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "leg.wav", tone(1.0))
    kill_header(path)
    with pytest.raises(DamagedRecording) as raised:
        audio.read_pcm(path)
    assert raised.value.damage == Damage.STALE_HEADER and "repair" in raised.value.reason
    with pytest.raises(DamagedRecording) as raised:
        audio.read_pcm(tmp_path / "gone.wav")
    assert raised.value.damage == Damage.MISSING


def test_read_pcm_averages_channels(tmp_path: Path) -> None:
    left, right = tone(0.1, amp=1000), tone(0.1, amp=3001)
    path = write_wav(tmp_path / "stereo.wav", np.column_stack([left, right]))
    samples, rate = audio.read_pcm(path)
    assert samples.dtype == np.int16 and samples.shape == (800,) and rate == RATE
    expected = np.round((left.astype(np.float64) + right) / 2).astype(np.int16)
    assert np.array_equal(samples, expected)


# ----- the legs -------------------------------------------------------------------------------------
def test_mixing_clips_instead_of_wrapping_around() -> None:
    loud = np.array([30000, -30000, 1000, 32767], dtype=np.int16)
    mixed = audio.mix_to_mono(loud, np.array([30000, -30000, -3000], dtype=np.int16))
    assert mixed.tolist() == [32767, -32768, -2000, 32767]


def test_pad_legs_adds_silence_at_the_end() -> None:
    short, long = audio.pad_legs(np.ones(3, dtype=np.int16), np.ones(5, dtype=np.int16))
    assert short.tolist() == [1, 1, 1, 0, 0] and long.tolist() == [1] * 5


# ----- archives -------------------------------------------------------------------------------------
FORMATS: tuple[ArchiveFormat, ...] = ("opus", "gsm", "wav")


@pytest.mark.parametrize("fmt", FORMATS)
def test_archive_round_trip_keeps_duration_and_channel_order(tmp_path: Path, fmt: ArchiveFormat) -> None:
    caller, agent = tone(2.0, amp=8000), silence(2.0)
    base = tmp_path / "1700000000.42"  # a uniqueid: its dot is no suffix

    path = audio.write_archive(base, fmt, caller=caller, agent=agent, rate=RATE)

    assert path == tmp_path / f"1700000000.42{audio.ARCHIVE_SUFFIXES[fmt]}"
    assert abs(audio.audio_duration_seconds(path) - 2.0) <= 0.05
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == RATE
    if fmt == "gsm":  # a mono mix
        assert audio.legs_channels(path) == ["caller"] and data.shape[1] == 1
        assert rms(data[:, 0]) > 2000
        return
    assert audio.legs_channels(path) == ["caller", "agent"] and data.shape[1] == 2
    left, right = rms(data[:, 0]), rms(data[:, 1])
    assert left > 4000  # 8000 / sqrt(2) before coding
    assert right < left / 100  # less than -40 dB of cross-talk: the agent channel stays the agent's


@pytest.mark.parametrize("fmt", ("opus", "wav"))
def test_the_agent_is_on_the_right(tmp_path: Path, fmt: ArchiveFormat) -> None:
    path = audio.write_archive(tmp_path / "c", fmt, caller=silence(1.0), agent=tone(1.0), rate=RATE)
    left, right = (audio.read_channel(path, k)[0] for k in (0, 1))
    assert rms(right) > 4000 and rms(left) < rms(right) / 100


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_leg_alone_is_mono(tmp_path: Path, fmt: ArchiveFormat) -> None:
    path = audio.write_archive(tmp_path / "vm", fmt, caller=tone(1.0), agent=None, rate=RATE)
    assert sf.info(str(path)).channels == 1 and audio.legs_channels(path) == ["caller"]


def test_an_agent_leg_alone_keeps_its_channel(tmp_path: Path) -> None:
    # The caller's file was lost: the archive still says which channel is the agent.
    path = audio.write_archive(tmp_path / "c", "wav", caller=None, agent=tone(1.0), rate=RATE)
    assert audio.legs_channels(path) == ["caller", "agent"]
    assert rms(audio.read_channel(path, 0)[0]) == 0 and rms(audio.read_channel(path, 1)[0]) > 4000


def test_unequal_legs_are_padded_to_the_longer(tmp_path: Path) -> None:
    caller, agent = tone(1.0), tone(2.0, freq=700)
    path = audio.write_archive(tmp_path / "c", "wav", caller=caller, agent=agent, rate=RATE)
    data, _ = sf.read(str(path), dtype="int16")
    assert data.shape == (16000, 2)
    assert np.array_equal(data[:8000, 0], caller) and not data[8000:, 0].any()
    assert np.array_equal(data[:, 1], agent)
    opus = audio.write_archive(tmp_path / "c", "opus", caller=agent, agent=caller, rate=RATE)
    assert abs(audio.audio_duration_seconds(opus) - 2.0) <= 0.05


def test_gsm_is_made_at_8_khz_from_any_rate(tmp_path: Path) -> None:
    path = audio.write_archive(
        tmp_path / "c", "gsm", caller=tone(1.5, rate=16000), agent=tone(1.5, 300, rate=16000), rate=16000
    )
    info = sf.info(str(path))
    assert (info.samplerate, info.subtype, info.channels) == (8000, "GSM610", 1)
    assert abs(audio.audio_duration_seconds(path) - 1.5) <= 0.05


def test_gsm_duration_is_the_true_length_not_the_padded_blocks(tmp_path: Path) -> None:
    # libsndfile pads GSM 6.10 data to 640-sample units (8000 samples read back as 8320); the
    # fact chunk it writes keeps the true length.
    path = audio.write_archive(tmp_path / "c", "gsm", caller=tone(1.0), agent=tone(0.3, 700), rate=RATE)
    assert sf.info(str(path)).frames == 8320
    assert audio.inspect_wav(path).fact_frames == 8000
    assert audio.audio_duration_seconds(path) == 1.0
    copy = audio.decode_to_pcm_wav(path, tmp_path / "listen.wav")
    assert sf.info(str(copy)).frames == 8000


def test_opus_takes_the_next_rate_it_supports(tmp_path: Path) -> None:
    path = audio.write_archive(tmp_path / "c", "opus", caller=tone(1.0, rate=11025), agent=None, rate=11025)
    assert sf.info(str(path)).samplerate == 12000
    assert abs(audio.audio_duration_seconds(path) - 1.0) <= 0.05


@pytest.mark.parametrize(
    ("fmt", "caller", "agent", "rate", "words"),
    [
        ("opus", None, None, RATE, "no leg"),
        ("opus", silence(0), None, RATE, "every leg is empty"),
        ("opus", tone(1.0).astype(np.float32), None, RATE, "int16"),
        ("opus", np.zeros((10, 2), dtype=np.int16), None, RATE, "1-D"),
        ("opus", tone(1.0), None, 0, "sample rate"),
        ("mp3", tone(1.0), None, RATE, "unknown archive format"),
    ],
)
def test_write_archive_refuses_what_it_cannot_write(
    tmp_path: Path, fmt: str, caller: np.ndarray | None, agent: np.ndarray | None, rate: int, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        audio.write_archive(tmp_path / "c", fmt, caller=caller, agent=agent, rate=rate)  # type: ignore[arg-type]  # "mp3" on purpose
    assert list(tmp_path.iterdir()) == []


def test_the_archive_appears_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = audio.write_archive(tmp_path / "c", "wav", caller=tone(1.0), agent=None, rate=RATE)
    assert [p.name for p in tmp_path.iterdir()] == ["c.archive.wav"]  # no temp file left behind
    old = snapshot(first)

    def crash(file: str, *args: object, **kwargs: object) -> None:
        Path(file).write_bytes(b"RIFF half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(sf, "write", crash)
    with pytest.raises(OSError, match="disk full"):
        audio.write_archive(tmp_path / "c", "wav", caller=tone(2.0), agent=None, rate=RATE)
    assert [p.name for p in tmp_path.iterdir()] == ["c.archive.wav"]
    assert snapshot(first) == old


def test_a_new_archive_replaces_the_old_one(tmp_path: Path) -> None:
    audio.write_archive(tmp_path / "c", "opus", caller=tone(1.0), agent=None, rate=RATE)
    path = audio.write_archive(tmp_path / "c", "opus", caller=tone(3.0), agent=None, rate=RATE)
    assert [p.name for p in tmp_path.iterdir()] == ["c.opus"]
    assert abs(audio.audio_duration_seconds(path) - 3.0) <= 0.05


@pytest.mark.parametrize("fmt", FORMATS)
def test_decode_to_pcm_wav_makes_a_playable_copy(tmp_path: Path, fmt: ArchiveFormat) -> None:
    src = audio.write_archive(tmp_path / "c", fmt, caller=tone(1.0), agent=tone(0.5, 700), rate=RATE)
    dest = audio.decode_to_pcm_wav(src, tmp_path / "listen.wav")
    info, original = sf.info(str(dest)), sf.info(str(src))
    assert (info.format, info.subtype) == ("WAV", "PCM_16")
    assert (info.channels, info.samplerate) == (original.channels, RATE)
    assert info.frames / RATE == audio.audio_duration_seconds(src) == 1.0
    assert audio.inspect_wav(dest).consistent
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, "listen.wav"])


# ----- facts about a file ---------------------------------------------------------------------------
def test_sha256_changes_when_one_byte_flips(tmp_path: Path) -> None:
    path = audio.write_archive(tmp_path / "c", "opus", caller=tone(2.0), agent=tone(2.0, 300), rate=RATE)
    digest = audio.sha256_file(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest() and len(digest) == 64
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert audio.sha256_file(path) != digest


@pytest.mark.parametrize("fmt", FORMATS)
def test_peaks_per_channel_on_0_to_1(tmp_path: Path, fmt: ArchiveFormat) -> None:
    # Caller: silence then a loud tone. Agent: a quiet tone throughout.
    caller = np.concatenate([silence(1.0), tone(1.0, amp=16384)])
    path = audio.write_archive(tmp_path / "c", fmt, caller=caller, agent=tone(2.0, 300, amp=1638), rate=RATE)

    shown = audio.peaks(path, buckets=100)

    channels = 1 if fmt == "gsm" else 2
    assert len(shown) == channels and all(len(row) == 100 for row in shown)
    assert all(0.0 <= v <= 1.0 for row in shown for v in row)
    left = shown[0]
    assert max(left[60:]) == pytest.approx(0.5, abs=0.08)  # the loud tone, half of full scale
    if channels == 2:
        assert max(left[:40]) < 0.02  # the caller's silence stays flat
        assert max(shown[1]) == pytest.approx(0.05, abs=0.02)


def test_peaks_of_a_short_file_have_one_bucket_per_frame(tmp_path: Path) -> None:
    samples = np.array([0, 16384, -32768, 8192, 0], dtype=np.int16)
    path = audio.write_archive(tmp_path / "c", "wav", caller=samples, agent=None, rate=RATE)
    assert audio.peaks(path) == [[0.0, 0.5, 1.0, 0.25, 0.0]]
    assert audio.peaks(path, buckets=2) == [[1.0, 0.25]]


def test_peaks_fold_across_read_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Blocks smaller than a bucket and not aligned with it: the result must not depend on them.
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 7)
    rng = np.random.default_rng(5)
    samples = rng.integers(-20000, 20000, 1000).astype(np.int16)
    path = audio.write_archive(tmp_path / "c", "wav", caller=samples, agent=None, rate=RATE)
    expected = [
        round(float(np.abs(samples[k * 1000 // 30 : (k + 1) * 1000 // 30]).max()) / 32768, 4)
        for k in range(30)
    ]
    assert audio.peaks(path, buckets=30) == [expected]


def test_duration_of_a_leg_and_of_each_archive(tmp_path: Path) -> None:
    leg = write_wav(tmp_path / "leg.wav", tone(1.25))
    assert audio.audio_duration_seconds(leg) == 1.25
    for fmt in FORMATS:
        path = audio.write_archive(tmp_path / "c", fmt, caller=tone(1.25), agent=tone(1.25), rate=RATE)
        assert abs(audio.audio_duration_seconds(path) - 1.25) <= 0.05, fmt


def test_read_channel_refuses_a_channel_the_file_lacks(tmp_path: Path) -> None:
    path = audio.write_archive(tmp_path / "vm", "opus", caller=tone(1.0), agent=None, rate=RATE)
    samples, rate = audio.read_channel(path, 0)
    assert rate == RATE and samples.dtype == np.int16 and abs(len(samples) - 8000) <= 400
    with pytest.raises(ValueError, match="no channel 1"):
        audio.read_channel(path, 1)
