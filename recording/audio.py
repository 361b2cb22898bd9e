"""The file-level audio work of call recording: Asterisk's PCM legs in, one archive copy out.

MixMonitor leaves three 8 kHz 16-bit mono PCM WAVs per answered call: ``<base>.wav`` (the mix),
``<base>-caller.wav`` (the r() leg: what the caller said) and ``<base>-agent.wav`` (the t() leg: what
the caller heard). The worker repairs their headers if Asterisk died (recording.wav_header), reads
the legs, writes one archive copy, hashes it and later deletes the PCM. This module is that work on
files; it knows nothing of the database or of Celery.

Archive formats (hotline.settings.RecordingSettings.archive_format):
  opus  ``<base>.opus``: Ogg Opus, caller on the left channel and agent on the right; mono when only
        one leg exists (a voicemail). Chromium plays it.
  gsm   ``<base>.gsm.wav``: GSM 6.10 in WAV, a mono mix of both legs at 8 kHz. Chromium does not
        play it: decode_to_pcm_wav makes a listening copy.
  wav   ``<base>.archive.wav``: PCM, channels as for opus. Not ``<base>.wav``: that is Asterisk's mix.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from recording.wav_header import (
    Damage,
    DamagedRecording,
    RepairOutcome,
    WavInfo,
    inspect_wav,
    repair_wav,
)

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ArchiveFormat",
    "Damage",
    "DamagedRecording",
    "RepairOutcome",
    "WavInfo",
    "archive_path",
    "audio_duration_seconds",
    "decode_to_pcm_wav",
    "inspect_wav",
    "legs_channels",
    "mix_to_mono",
    "pad_legs",
    "peaks",
    "read_channel",
    "read_pcm",
    "repair_wav",
    "sha256_file",
    "write_archive",
]

Pcm = npt.NDArray[np.int16]
ArchiveFormat = Literal["opus", "gsm", "wav"]
ARCHIVE_SUFFIXES: dict[str, str] = {"opus": ".opus", "gsm": ".gsm.wav", "wav": ".archive.wav"}

GSM_RATE = 8000  # GSM 6.10 is defined for 8 kHz only
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # the only rates libsndfile's Opus writer takes
# libsndfile maps compression level q to a target of ((1 - q) * 250 kbps + 6 kbps) per channel.
# Mono at 1.0 is 6 kbps (~2.5 MB/hour), plenty for narrowband speech. Stereo at 1.0 (2 x 6 kbps) is
# below libopus's stereo threshold: it folds both channels into one, each then holds half of both
# sides and the caller/agent separation is gone. In benchmarks/recording_storage.py 0.96 (16 kbps
# per channel, ~15 MB/hour) is the most compressed level whose channels stay apart: 0.97 and 0.98
# leak the caller into the agent's channel at -32 and -22 dB, 0.99 kept speech apart but not a tone.
OPUS_MONO_COMPRESSION = 1.0
OPUS_STEREO_COMPRESSION = 0.96
BLOCK_FRAMES = 1 << 16  # frames per read when streaming a whole file (8 s at 8 kHz): bounded memory
HASH_CHUNK = 1 << 20


# ----- reading Asterisk's legs --------------------------------------------------------------------
def read_pcm(path: Path | str) -> tuple[Pcm, int]:
    """A consistent WAV as int16 mono samples and its sample rate; several channels are averaged.
    A damaged file, or a stale header (Asterisk killed), raises DamagedRecording: repair_wav it
    first, since libsndfile would silently read too little."""
    path = Path(path)
    info = inspect_wav(path)
    if info.damage is not None:
        raise DamagedRecording(info.problem, damage=info.damage)
    if not info.consistent:
        raise DamagedRecording(
            f"{path.name}: the header's sizes do not match the file (repair it first)",
            damage=Damage.STALE_HEADER,
        )
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    if data.shape[1] == 1:
        return np.ascontiguousarray(data[:, 0]), int(rate)
    # The mean of int16 channels always fits int16 again: no clipping needed.
    return data.mean(axis=1, dtype=np.float64).round().astype(np.int16), int(rate)


def read_channel(path: Path | str, channel: int) -> tuple[Pcm, int]:
    """One channel of an archive (any format) as int16 samples and its rate: a leg back for the
    ASR once its PCM file is gone (legs_channels says which index is whose). Streamed, so only
    that channel of an hour-long file is ever held."""
    with sf.SoundFile(str(path)) as f:
        if not 0 <= channel < f.channels:
            raise ValueError(f"{Path(path).name} has {f.channels} channel(s), no channel {channel}")
        parts = [np.ascontiguousarray(block[:, channel]) for block in _blocks(f, "int16")]
        rate = int(f.samplerate)
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)), rate


# ----- the legs -----------------------------------------------------------------------------------
def pad_legs(*legs: Pcm) -> list[Pcm]:
    """All legs as long as the longest, silence added at the end: a leg stops when its side of the
    call stops sending frames (MixMonitor writes only while frames flow), not when the call ends."""
    longest = max(len(leg) for leg in legs)
    return [np.pad(leg, (0, longest - len(leg))) if len(leg) < longest else leg for leg in legs]


def mix_to_mono(caller: Pcm, agent: Pcm) -> Pcm:
    """Both legs summed, as a listener on the line hears them. Summed in int32 and clipped to the
    int16 range: two loud legs must saturate, not wrap around into a loud crack."""
    caller, agent = pad_legs(caller, agent)
    total = caller.astype(np.int32) + agent.astype(np.int32)
    return np.clip(total, -32768, 32767).astype(np.int16)


def _checked_legs(caller: Pcm | None, agent: Pcm | None) -> list[Pcm]:
    """[caller] alone (a voicemail: mono) or [caller, agent] padded to one length. An agent leg
    without its caller leg (the caller's file lost) gets a silent caller beside it, so that channel
    1 is still the agent: a mono archive is always labelled "caller" (legs_channels)."""
    for leg in (caller, agent):
        if leg is not None and (leg.ndim != 1 or leg.dtype != np.int16):
            raise ValueError(f"a leg must be 1-D int16 PCM (read_pcm), not {leg.ndim}-D {leg.dtype}")
    if agent is None:
        if caller is None:
            raise ValueError("no leg to archive: give the caller leg, the agent leg or both")
        return _nonempty([caller])
    silent = np.zeros(0, dtype=np.int16)
    return _nonempty([silent if caller is None else caller, agent])


def _nonempty(legs: list[Pcm]) -> list[Pcm]:
    if max(len(leg) for leg in legs) == 0:
        raise ValueError("no audio to archive: every leg is empty")
    return pad_legs(*legs)


def _channels(legs: list[Pcm]) -> Pcm:
    """One leg: mono. Two: frames x 2, caller left (channel 0), agent right (channel 1)."""
    return legs[0] if len(legs) == 1 else np.column_stack(legs)


def _resample(data: Pcm, rate: int, to: int) -> Pcm:
    if rate == to:
        return data
    return np.asarray(soxr.resample(data, rate, to), dtype=np.int16)


# ----- archives -----------------------------------------------------------------------------------
def archive_path(dest_base: Path | str, fmt: ArchiveFormat) -> Path:
    """``dest_base`` plus the format's suffix. Appended, not with_suffix: Asterisk's uniqueids hold
    a dot (``1700000000.42``) that is no suffix."""
    if fmt not in ARCHIVE_SUFFIXES:
        raise ValueError(f"unknown archive format {fmt!r}; one of {sorted(ARCHIVE_SUFFIXES)}")
    dest_base = Path(dest_base)
    return dest_base.with_name(dest_base.name + ARCHIVE_SUFFIXES[fmt])


def write_archive(
    dest_base: Path,
    fmt: ArchiveFormat,
    *,
    caller: Pcm | None,
    agent: Pcm | None,
    rate: int,
) -> Path:
    """The archive copy of a call (or of one leg, a voicemail), written atomically; its path.

    Legs of different lengths are padded with silence to the longer one. opus and wav keep the
    legs apart (caller left, agent right; mono for a caller leg alone); gsm is a mono mix,
    resampled to 8 kHz if need be. Opus takes 8/12/16/24/48 kHz: other rates go up to the next."""
    final = archive_path(dest_base, fmt)
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, not {rate}")
    legs = _checked_legs(caller, agent)
    if fmt == "gsm":
        mono = mix_to_mono(*legs) if len(legs) == 2 else legs[0]
        data = _resample(mono, rate, GSM_RATE)
        _atomic_write(final, lambda tmp: sf.write(str(tmp), data, GSM_RATE, format="WAV", subtype="GSM610"))
    elif fmt == "opus":
        out_rate = next((r for r in OPUS_RATES if r >= rate), OPUS_RATES[-1])
        data = _resample(_channels(legs), rate, out_rate)
        level = OPUS_STEREO_COMPRESSION if data.ndim == 2 else OPUS_MONO_COMPRESSION
        _atomic_write(
            final,
            lambda tmp: sf.write(
                str(tmp), data, out_rate, format="OGG", subtype="OPUS", compression_level=level
            ),
        )
    else:
        data = _channels(legs)
        _atomic_write(final, lambda tmp: sf.write(str(tmp), data, rate, format="WAV", subtype="PCM_16"))
    return final


def _atomic_write(final: Path, write: Callable[[Path], None]) -> None:
    """Write to a hidden temp file beside *final*, fsync it, rename it over *final*, fsync the
    directory. A crash leaves the old file or the new one under the final name, never half of one;
    the temp file goes on any error. mkstemp makes it 0600: recordings are personal data."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        _fsync_path(tmp, os.O_RDONLY)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(final.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def decode_to_pcm_wav(src: Path | str, dest: Path | str) -> Path:
    """A 16-bit PCM WAV copy of any archive, channels and rate kept (browsers do not play GSM in
    WAV), as long as audio_duration_seconds says (GSM's block padding left out). Streamed in
    blocks, written atomically; returns *dest*."""
    dest = Path(dest)
    limit = _true_frames(Path(src))
    with sf.SoundFile(str(src)) as inp:

        def copy(tmp: Path) -> None:
            with sf.SoundFile(
                str(tmp),
                "w",
                samplerate=inp.samplerate,
                channels=inp.channels,
                format="WAV",
                subtype="PCM_16",
            ) as out:
                left = limit
                for block in _blocks(inp, "int16"):
                    out.write(block if left is None else block[:left])
                    left = None if left is None else max(0, left - len(block))

        _atomic_write(dest, copy)
    return dest


# ----- facts about a file -------------------------------------------------------------------------
def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces (an archive can be far larger than wanted in RAM)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def audio_duration_seconds(path: Path | str) -> float:
    """Playing time of an archive or a consistent WAV: frames / rate as libsndfile reads them,
    except for a compressed WAV (GSM 6.10) whose fact chunk holds the true length: libsndfile
    counts its data in whole 640-sample units, up to 80 ms of padding more."""
    frames = _true_frames(Path(path))
    info = sf.info(str(path))
    return float(info.frames if frames is None else frames) / float(info.samplerate)


def _true_frames(path: Path) -> int | None:
    """The fact chunk's length of a non-PCM WAV (None for anything else)."""
    with path.open("rb") as f:
        if f.read(4) != b"RIFF":
            return None
    info = inspect_wav(path)
    return info.fact_frames if info.damage is None and not info.is_pcm else None


def legs_channels(path: Path | str) -> list[str]:
    """What each channel of an archive holds, as the call page labels it."""
    channels = sf.info(str(path)).channels
    if channels == 2:
        return ["caller", "agent"]
    if channels == 1:
        return ["caller"]
    raise ValueError(f"{Path(path).name}: {channels} channels; archives have 1 or 2")


def peaks(path: Path | str, buckets: int = 800) -> list[list[float]]:
    """Per channel, the largest absolute sample of each of *buckets* equal slices of the file, on
    0..1 where 1 is full scale (not the file's own loudest sample: a quiet call must look quiet,
    and caller and agent stay comparable). Fewer buckets when the file has fewer frames. Streamed
    in blocks, so an hour (28.8 M frames at 8 kHz) never sits in memory."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    with sf.SoundFile(str(path)) as f:
        frames = int(f.frames)
        count = min(buckets, frames)
        out = np.zeros((f.channels, count), dtype=np.float32)
        if count == 0:
            return [[] for _ in range(f.channels)]
        start = 0
        for block in _blocks(f, "float32"):
            _fold_block(out, block, start, frames)
            start += len(block)
    # Decoded Opus may overshoot full scale a little.
    return [[round(float(v), 4) for v in row] for row in np.minimum(out, 1.0)]


def _fold_block(
    out: npt.NDArray[np.float32], block: npt.NDArray[np.float32], start: int, frames: int
) -> None:
    """Fold one block's maxima into their buckets: frame n belongs to bucket n * count // frames.
    Bucket numbers rise through the block, so each bucket is one run: reduceat takes its maximum."""
    count = out.shape[1]
    index = np.minimum((np.arange(start, start + len(block), dtype=np.int64) * count) // frames, count - 1)
    runs = np.flatnonzero(np.diff(index)) + 1
    starts = np.concatenate(([0], runs))
    loudest = np.maximum.reduceat(np.abs(block), starts, axis=0)  # runs x channels
    ids = index[starts]
    out[:, ids] = np.maximum(out[:, ids], loudest.T)


def _blocks(f: sf.SoundFile, dtype: Literal["int16", "float32"]) -> Iterator[npt.NDArray[Any]]:
    """Blocks of BLOCK_FRAMES frames (frames x channels) until the file ends. Read until an empty
    block rather than counted to f.frames: an Ogg file's frame count is only the encoder's word."""
    while True:
        block = f.read(BLOCK_FRAMES, dtype=dtype, always_2d=True)
        if len(block) == 0:
            return
        yield block
