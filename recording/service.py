"""Recording rows. Services take a Session and never commit (the caller's unit of work does)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db import utcnow
from recording.models import Recording, RecordingKind


def register_voicemail(session: Session, *, call_uniqueid: str, path: str, fmt: str) -> Recording:
    """Keep an after-hours message so a case can be made from it; idempotent per file."""
    existing = session.scalar(select(Recording).where(Recording.path == path))
    if existing is not None:
        return existing
    file = Path(f"{path}.{fmt}")
    recording = Recording(
        kind=RecordingKind.VOICEMAIL,
        call_uniqueid=call_uniqueid,
        path=path,
        format=fmt,
        created_at=utcnow(),
        size_bytes=file.stat().st_size if file.exists() else None,
    )
    session.add(recording)
    return recording
