"""RIFF/WAVE headers of Asterisk's recordings: read them, and repair them after a crash.

Asterisk's MixMonitor (format_wav) writes a 44-byte header whose RIFF and data sizes are filled in
only when the file is closed. After ``kill -9`` the sizes are 0 or too small, and the last write may
have stopped inside a sample. libsndfile then reads nothing or too little, so this module walks the
chunks itself with ``struct``, trusting the file's length over the header, and rewrites the two
size fields in place. Only the standard library: the worker may call it before anything else loads.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

RIFF_HEADER = struct.Struct("<4sI4s")  # "RIFF", size of what follows, "WAVE"
CHUNK_HEADER = struct.Struct("<4sI")  # id, size of the body (a pad byte follows an odd body)
FMT_BODY = struct.Struct("<HHIIHH")  # format tag, channels, rate, byte rate, block align, bits
RIFF_SIZE_OFFSET = 4
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The chunk walk gives up after this many chunks: a real WAV has a handful, garbage could loop long.
MAX_CHUNKS = 64


class Damage(StrEnum):
    """Why a recording cannot be repaired: stable codes for the database and the logs."""

    MISSING = "missing"
    EMPTY = "empty"
    NOT_WAVE = "not_wave"
    NO_FMT = "no_fmt"
    BAD_FMT = "bad_fmt"
    NOT_PCM = "not_pcm"
    NO_AUDIO = "no_audio"
    STALE_HEADER = "stale_header"  # only from readers that need a consistent file (read_pcm)


class DamagedRecording(Exception):
    """A recording file that cannot be used; ``reason`` says why in words a supervisor can read."""

    def __init__(self, reason: str, *, damage: Damage) -> None:
        super().__init__(reason)
        self.reason = reason
        self.damage = damage


@dataclass(frozen=True)
class WavInfo:
    """What the header says next to what the file holds. A file that is no usable WAV at all
    (missing, empty, not RIFF/WAVE, no fmt or data chunk) has ``damage`` and ``problem`` set, zeros
    elsewhere and ``consistent`` False: asking never raises, repair_wav then raises the reason."""

    format_tag: int
    channels: int
    sample_rate: int
    bits: int
    block_align: int  # bytes per sample frame (all channels)
    data_offset: int  # first audio byte
    header_data_bytes: int  # the data chunk's size field
    actual_data_bytes: int  # audio bytes really in the file (a partial last frame included)
    header_riff_bytes: int  # the RIFF size field
    file_bytes: int
    consistent: bool  # the header's sizes agree with the file: libsndfile reads all of it
    # Sample frames per channel from a fact chunk (compressed formats: libsndfile's GSM 6.10 WAVs
    # hold their true length only there, their data is padded to whole blocks); None: no fact chunk.
    fact_frames: int | None = None
    damage: Damage | None = None
    problem: str = ""

    @property
    def is_pcm(self) -> bool:
        return self.format_tag == WAVE_FORMAT_PCM

    @property
    def frames(self) -> int:
        """Whole sample frames of audio in the file."""
        return self.actual_data_bytes // self.block_align if self.block_align else 0

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class RepairOutcome:
    """What repair_wav did; ``changed`` is False when the file was already consistent."""

    path: Path
    changed: bool
    riff_bytes_before: int
    riff_bytes_after: int
    data_bytes_before: int
    data_bytes_after: int
    truncated_bytes: int  # a partial last sample frame cut off the end
    frames: int

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        if not self.changed:
            return f"{self.path.name}: consistent, {self.frames} frames, not touched"
        parts = [
            f"RIFF size {self.riff_bytes_before} -> {self.riff_bytes_after}",
            f"data size {self.data_bytes_before} -> {self.data_bytes_after}",
        ]
        if self.truncated_bytes:
            parts.append(f"{self.truncated_bytes} trailing byte(s) of a partial sample cut")
        return f"{self.path.name}: " + ", ".join(parts) + f"; {self.frames} frames"


@dataclass(frozen=True)
class _Fmt:
    format_tag: int
    channels: int
    sample_rate: int
    block_align: int
    bits: int


@dataclass(frozen=True)
class _Layout:
    """Where things are in one file, found by walking its chunks."""

    fmt: _Fmt
    riff_size: int
    data_size_offset: int  # where the data chunk's size field is
    data_offset: int
    header_data_bytes: int
    actual_data_bytes: int
    data_is_last: bool  # nothing but audio between the data chunk's start and the end of the file
    file_bytes: int
    fact_frames: int | None


# ----- reading ------------------------------------------------------------------------------------
def inspect_wav(path: Path | str) -> WavInfo:
    """The header of a WAV next to its real length, read without trusting either. Never raises
    for a damaged file (see WavInfo.damage); an unreadable one (permissions) raises OSError."""
    path = Path(path)
    try:
        layout = _read_layout(path)
    except DamagedRecording as exc:
        return _damaged_info(path, exc)
    fmt = layout.fmt
    return WavInfo(
        format_tag=fmt.format_tag,
        channels=fmt.channels,
        sample_rate=fmt.sample_rate,
        bits=fmt.bits,
        block_align=fmt.block_align,
        data_offset=layout.data_offset,
        header_data_bytes=layout.header_data_bytes,
        actual_data_bytes=layout.actual_data_bytes,
        header_riff_bytes=layout.riff_size,
        file_bytes=layout.file_bytes,
        consistent=_consistent(layout),
        fact_frames=layout.fact_frames,
    )


def _damaged_info(path: Path, exc: DamagedRecording) -> WavInfo:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    return WavInfo(
        format_tag=0,
        channels=0,
        sample_rate=0,
        bits=0,
        block_align=0,
        data_offset=0,
        header_data_bytes=0,
        actual_data_bytes=0,
        header_riff_bytes=0,
        file_bytes=size,
        consistent=False,
        damage=exc.damage,
        problem=exc.reason,
    )


def _consistent(layout: _Layout) -> bool:
    """Both size fields match what is on disk: the data chunk ends where its audio ends, and RIFF
    covers the file to its last byte."""
    return (
        layout.header_data_bytes == layout.actual_data_bytes
        and layout.riff_size == layout.file_bytes - 8  # all but "RIFF" and the size field itself
    )


def _read_layout(path: Path) -> _Layout:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DamagedRecording(f"{path.name}: the file is missing", damage=Damage.MISSING) from None
    if size == 0:
        raise DamagedRecording(f"{path.name}: the file is empty (0 bytes)", damage=Damage.EMPTY)
    with path.open("rb") as f:
        riff_size = _read_riff_header(f, path, size)
        return _walk_chunks(f, path, size, riff_size)


def _read_riff_header(f: BinaryIO, path: Path, size: int) -> int:
    head = f.read(RIFF_HEADER.size)
    if len(head) < RIFF_HEADER.size:
        raise DamagedRecording(
            f"{path.name}: {size} bytes, too short for a RIFF/WAVE header", damage=Damage.NOT_WAVE
        )
    magic, riff_size, wave = RIFF_HEADER.unpack(head)
    if magic != b"RIFF" or wave != b"WAVE":
        raise DamagedRecording(
            f"{path.name}: not a RIFF/WAVE file (starts with {head[:4]!r}…{head[8:12]!r})",
            damage=Damage.NOT_WAVE,
        )
    return int(riff_size)


def _walk_chunks(f: BinaryIO, path: Path, size: int, riff_size: int) -> _Layout:
    """Chunks in file order up to the data chunk; fmt must come before it (it always does in
    practice, and after a crash everything behind the data chunk's start may be audio)."""
    fmt: _Fmt | None = None
    fact: int | None = None
    pos = RIFF_HEADER.size
    for _ in range(MAX_CHUNKS):
        head = _read_at(f, pos, CHUNK_HEADER.size)
        if len(head) < CHUNK_HEADER.size:
            break
        chunk_id, chunk_size = CHUNK_HEADER.unpack(head)
        body = pos + CHUNK_HEADER.size
        if chunk_id == b"data":
            if fmt is None:
                raise DamagedRecording(f"{path.name}: no fmt chunk before the audio", damage=Damage.NO_FMT)
            return _data_layout(f, fmt, riff_size, pos, int(chunk_size), size, fact)
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(_read_at(f, body, min(chunk_size, 40)), path)
        elif chunk_id == b"fact" and chunk_size >= 4:
            (fact,) = struct.unpack("<I", _read_at(f, body, 4).ljust(4, b"\0"))
        pos = body + chunk_size + (chunk_size & 1)
        if pos >= size:
            break
    if fmt is None:
        raise DamagedRecording(f"{path.name}: no fmt chunk", damage=Damage.NO_FMT)
    raise DamagedRecording(
        f"{path.name}: no audio (the file ends before a data chunk)", damage=Damage.NO_AUDIO
    )


def _parse_fmt(body: bytes, path: Path) -> _Fmt:
    if len(body) < FMT_BODY.size:
        raise DamagedRecording(
            f"{path.name}: the fmt chunk is cut short ({len(body)} bytes)", damage=Damage.NO_FMT
        )
    tag, channels, rate, _byte_rate, block_align, bits = FMT_BODY.unpack_from(body)
    # WAVE_FORMAT_EXTENSIBLE keeps the real format in the first two bytes of its sub-format GUID.
    if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
        (tag,) = struct.unpack_from("<H", body, 24)
    if channels == 0 or rate == 0 or block_align == 0:
        raise DamagedRecording(
            f"{path.name}: the fmt chunk says {channels} channel(s), {rate} Hz, {block_align}-byte frames",
            damage=Damage.BAD_FMT,
        )
    return _Fmt(format_tag=tag, channels=channels, sample_rate=rate, block_align=block_align, bits=bits)


def _data_layout(
    f: BinaryIO, fmt: _Fmt, riff_size: int, chunk_pos: int, declared: int, size: int, fact: int | None
) -> _Layout:
    """Where the audio really ends. A declared size that runs past the end of the file, or leaves
    bytes behind that are not well-formed chunks, is stale: the audio runs to the end of the file.
    (Asterisk's stale size is 0 and its audio follows: silence or speech almost never reads as a
    run of chunks ending exactly at the end of the file.)"""
    data_offset = chunk_pos + CHUNK_HEADER.size
    available = max(0, size - data_offset)
    declared_end = data_offset + declared + (declared & 1)
    trusted = declared <= available and (
        declared_end in (size, size + 1) or _chunks_fill(f, declared_end, size)
    )
    return _Layout(
        fmt=fmt,
        riff_size=riff_size,
        data_size_offset=chunk_pos + 4,
        data_offset=data_offset,
        header_data_bytes=declared,
        actual_data_bytes=declared if trusted else available,
        data_is_last=not trusted or declared_end >= size,
        file_bytes=size,
        fact_frames=fact,
    )


def _chunks_fill(f: BinaryIO, start: int, end: int) -> bool:
    """Do the bytes from *start* to *end* read as a run of chunks (LIST, id3 …) ending exactly at
    the end of the file? Audio appended after a stale header almost never does."""
    pos = start
    for _ in range(MAX_CHUNKS):
        if pos in (end, end + 1):  # a last odd chunk may lack its pad byte
            return True
        head = _read_at(f, pos, CHUNK_HEADER.size)
        if len(head) < CHUNK_HEADER.size:
            return False
        chunk_id, chunk_size = CHUNK_HEADER.unpack(head)
        if not all(0x20 <= byte <= 0x7E for byte in chunk_id):
            return False
        pos += CHUNK_HEADER.size + chunk_size + (chunk_size & 1)
        if pos > end + 1:
            return False
    return False


def _read_at(f: BinaryIO, offset: int, count: int) -> bytes:
    f.seek(offset)
    return f.read(count)


# ----- repairing ----------------------------------------------------------------------------------
def repair_wav(path: Path | str) -> RepairOutcome:
    """Make a crashed PCM recording readable: RIFF and data sizes rewritten in place from the real
    length, a partial last sample frame cut off. A consistent file is never opened for writing.
    Raises DamagedRecording when the file cannot be made into a recording."""
    path = Path(path)
    layout = _read_layout(path)
    if layout.fmt.format_tag != WAVE_FORMAT_PCM:
        raise DamagedRecording(
            f"{path.name}: not PCM (format tag 0x{layout.fmt.format_tag:04x}); only Asterisk's "
            "PCM recordings are repaired",
            damage=Damage.NOT_PCM,
        )
    whole = layout.actual_data_bytes - layout.actual_data_bytes % layout.fmt.block_align
    if whole == 0:
        raise DamagedRecording(
            f"{path.name}: no audio (0 complete sample frames after the header)", damage=Damage.NO_AUDIO
        )
    if _consistent(layout):
        return _outcome(path, layout, riff_after=layout.riff_size, data_after=layout.header_data_bytes)
    if layout.data_is_last:
        return _repair_tail(path, layout, whole)
    # The audio's size is right and chunks follow it: only the RIFF size is stale.
    riff_after = layout.file_bytes - 8
    _write_sizes(path, layout, riff=riff_after, data=None, length=None)
    return _outcome(path, layout, riff_after=riff_after, data_after=layout.header_data_bytes)


def _repair_tail(path: Path, layout: _Layout, whole: int) -> RepairOutcome:
    """The data chunk runs to the end of the file: cut it to whole frames (plus the pad byte RIFF
    wants after an odd-sized chunk, only possible with 8-bit mono) and write both sizes."""
    length = layout.data_offset + whole + (whole & 1)
    riff_after = length - 8
    _write_sizes(path, layout, riff=riff_after, data=whole, length=length)
    return _outcome(path, layout, riff_after=riff_after, data_after=whole, length=length)


def _write_sizes(path: Path, layout: _Layout, *, riff: int, data: int | None, length: int | None) -> None:
    """Size fields first, then the length: a crash in between leaves a header libsndfile can read
    (sizes no larger than the file), and a second repair finishes the job."""
    with path.open("r+b") as f:
        f.seek(RIFF_SIZE_OFFSET)
        f.write(struct.pack("<I", riff))
        if data is not None:
            f.seek(layout.data_size_offset)
            f.write(struct.pack("<I", data))
        if length is not None and length != layout.file_bytes:
            # Shorter: a partial frame goes. Longer by one: the zero pad byte after odd 8-bit data.
            f.truncate(length)
        f.flush()
        os.fsync(f.fileno())


def _outcome(
    path: Path, layout: _Layout, *, riff_after: int, data_after: int, length: int | None = None
) -> RepairOutcome:
    end = layout.file_bytes if length is None else length
    return RepairOutcome(
        path=path,
        changed=(riff_after, data_after, end)
        != (layout.riff_size, layout.header_data_bytes, layout.file_bytes),
        riff_bytes_before=layout.riff_size,
        riff_bytes_after=riff_after,
        data_bytes_before=layout.header_data_bytes,
        data_bytes_after=data_after,
        truncated_bytes=max(0, layout.file_bytes - end),
        frames=data_after // layout.fmt.block_align,
    )
