"""Recorded audio kept for the record: voicemails now, call recordings in a later issue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UtcDateTime


class RecordingKind(StrEnum):
    VOICEMAIL = "voicemail"
    CALL = "call"


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    call_uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(512), unique=True)
    format: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    size_bytes: Mapped[int | None] = mapped_column(default=None)
