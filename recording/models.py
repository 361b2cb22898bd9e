"""Recorded audio kept for the record, its transcripts and the phrases spotted in them.

A call recording's row is written when the agent answers (Asterisk starts writing the files then),
closed when the call hangs up, and finished by a worker that builds the archive copy and its hash.
Rows are never deleted: retention removes the files and leaves the row as the trace of it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UtcDateTime


class RecordingKind(StrEnum):
    VOICEMAIL = "voicemail"
    CALL = "call"
    SURVEY = "survey"


class RecordingStatus(StrEnum):
    RECORDING = "recording"  # Asterisk is writing the files
    STOPPED = "stopped"  # the call ended; a worker is to build the archive copy
    COMPLETE = "complete"  # archive copy written, hashed, row closed
    REPAIRED = "repaired"  # complete, but the files were left open by a crash and repaired
    DAMAGED = "damaged"  # the files could not be made usable (failure_reason says why)
    FAILED = "failed"  # nothing usable was recorded (e.g. the disk was full)
    DELETED = "deleted"  # files removed by retention; the row stays as the trace

    @property
    def is_open(self) -> bool:
        return self in (RecordingStatus.RECORDING, RecordingStatus.STOPPED)


FINISHED_WITH_AUDIO = (RecordingStatus.COMPLETE, RecordingStatus.REPAIRED)


class AsrStatus(StrEnum):
    NONE = "none"  # nothing to transcribe (yet, or ever: a failed recording)
    PENDING = "pending"  # wanted; a job is (or should be) queued
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # asr_error says why; retried only by hand


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    call_uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    # Files without extension: Asterisk wrote <path>.<format> (and, for calls, the two legs
    # <path>-caller.wav and <path>-agent.wav).
    path: Mapped[str] = mapped_column(String(512), unique=True)
    format: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    size_bytes: Mapped[int | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(
        String(16), default=RecordingStatus.COMPLETE, server_default="complete"
    )
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    archive_path: Mapped[str] = mapped_column(String(512), default="", server_default="")
    archive_format: Mapped[str] = mapped_column(String(16), default="", server_default="")
    sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    failure_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    finalize_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    hold_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    asr_status: Mapped[str] = mapped_column(String(16), default=AsrStatus.NONE, server_default="none")
    asr_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    asr_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    asr_queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    asr_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)

    __table_args__ = (
        Index("ix_recordings_status", "status"),
        Index("ix_recordings_asr_status", "asr_status"),
    )

    @property
    def legs(self) -> dict[str, str]:
        """Asterisk's PCM files of a call recording, by speaker."""
        if self.kind != RecordingKind.CALL:
            return {"caller": f"{self.path}.{self.format}"}
        return {"caller": f"{self.path}-caller.wav", "agent": f"{self.path}-agent.wav"}


class RecordingPause(Base):
    """A stretch the agent paused recording (an ID or bank number being read out): PCI practice.

    Keyed by the call, since the agent may pause before the worker-side row exists.
    """

    __tablename__ = "recording_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    paused_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    paused_by: Mapped[str] = mapped_column(String(64), default="")


class Transcript(Base):
    """At most one per recording (the unique key is what makes a retried job harmless)."""

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), unique=True)
    call_uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    engine: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # text normalised for the full-text index (CJK characters spaced, Latin lower-cased).
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    audio_seconds: Mapped[float] = mapped_column(default=0.0)
    processing_seconds: Mapped[float] = mapped_column(default=0.0)


class TranscriptSegment(Base):
    __tablename__ = "transcript_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id"), index=True)
    speaker: Mapped[str] = mapped_column(String(16))
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # [[word, start_ms, end_ms], ...] as JSON: read only by the call page.
    words: Mapped[str] = mapped_column(Text, default="[]")


class KeyPhraseHit(Base):
    """A hotline phrase heard in a call: later prefills a case or alerts the duty leader."""

    __tablename__ = "key_phrase_hits"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    call_uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    phrase: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    speaker: Mapped[str] = mapped_column(String(16))
    start_ms: Mapped[int] = mapped_column(Integer, default=0)
