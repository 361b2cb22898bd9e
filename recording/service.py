"""Recording rows: opened when the agent answers, stopped at hang-up, paused on the agent's word.

Services take a Session and never commit (the caller's unit of work does). Work on the files is
queued for the workers (``recording.jobs``) only after the rows are committed.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.alerts import clear_alert, raise_alert
from hotline.db import after_commit, utcnow
from hotline.settings import RecordingSettings
from recording import jobs
from recording.models import Recording, RecordingKind, RecordingPause, RecordingStatus

log = logging.getLogger("recording")

DISK_ALERT = "recording-disk-full"


def register_voicemail(
    session: Session, *, call_uniqueid: str, path: str, fmt: str, kind: str = RecordingKind.VOICEMAIL
) -> Recording:
    """Keep a message the caller left (a voicemail, a survey answer); idempotent per file.

    The flow has finished recording when this runs, so the row is stopped at once and the
    worker hashes, archives and transcribes it like a call.
    """
    existing = session.scalar(select(Recording).where(Recording.path == path))
    if existing is not None:
        return existing
    file = Path(f"{path}.{fmt}")
    now = utcnow()
    recording = Recording(
        kind=kind,
        call_uniqueid=call_uniqueid,
        path=path,
        format=fmt,
        created_at=now,
        started_at=now,
        ended_at=now,
        status=RecordingStatus.STOPPED,
        size_bytes=file.stat().st_size if file.exists() else None,
    )
    session.add(recording)
    session.flush()
    _finalize_after_commit(session, [recording.id])
    return recording


def free_megabytes(path: Path) -> float:
    """Free space on the file system that will hold ``path`` (its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / 1_000_000


def start_call_recording(
    session: Session,
    *,
    call_uniqueid: str,
    base_path: str,
    started_at: datetime,
    settings: RecordingSettings,
) -> Recording:
    """The row for the files Asterisk starts writing as the agent answers; one per call.

    A second answer in the same call (a transfer) finds the row already there. With too little
    free space the row is failed at once and an alert raised: MixMonitor still tries, the call
    goes on either way.
    """
    existing = session.scalar(select(Recording).where(Recording.path == base_path))
    if existing is not None:
        return existing
    recording = Recording(
        kind=RecordingKind.CALL,
        call_uniqueid=call_uniqueid,
        path=base_path,
        format="wav",
        created_at=started_at,
        started_at=started_at,
        status=RecordingStatus.RECORDING,
    )
    free = free_megabytes(Path(base_path))
    if free < settings.min_free_mb:
        recording.status = RecordingStatus.FAILED
        recording.ended_at = started_at
        recording.failure_reason = (
            f"disk full: {free:.0f} MB free where recordings are kept, below recording.min_free_mb "
            f"({settings.min_free_mb} MB); the call went on unrecorded"
        )
        raise_alert(session, DISK_ALERT, f"Recording disk nearly full: {free:.0f} MB free at {base_path}")
    session.add(recording)
    return recording


def check_disk(session: Session, directory: Path, settings: RecordingSettings) -> float:
    """Raise or clear the disk alert from the free space now; returns the free megabytes."""
    free = free_megabytes(directory)
    if free < settings.min_free_mb:
        raise_alert(session, DISK_ALERT, f"Recording disk nearly full: {free:.0f} MB free at {directory}")
    else:
        clear_alert(session, DISK_ALERT)
    return free


def call_ended(session: Session, *, call_uniqueid: str, ended_at: datetime) -> list[int]:
    """The caller hung up (or the call was found dead): stop its recordings, queue their finishing."""
    rows = session.scalars(
        select(Recording).where(
            Recording.call_uniqueid == call_uniqueid, Recording.status == RecordingStatus.RECORDING
        )
    ).all()
    for recording in rows:
        recording.status = RecordingStatus.STOPPED
        recording.ended_at = ended_at
    ids = [r.id for r in rows]
    if ids:
        _finalize_after_commit(session, ids)
    return ids


def _finalize_after_commit(session: Session, ids: list[int]) -> None:
    after_commit(session, lambda: jobs.queue_finalize(ids))


def pause(session: Session, *, call_uniqueid: str, by: str) -> RecordingPause:
    """Start a pause (idempotent: an open pause is returned as it is)."""
    open_pause = _open_pause(session, call_uniqueid)
    if open_pause is not None:
        return open_pause
    stretch = RecordingPause(call_uniqueid=call_uniqueid, paused_at=utcnow(), paused_by=by)
    session.add(stretch)
    log.info("recording paused", extra={"call": call_uniqueid, "by": by})
    return stretch


def resume(session: Session, *, call_uniqueid: str) -> RecordingPause | None:
    open_pause = _open_pause(session, call_uniqueid)
    if open_pause is not None:
        open_pause.resumed_at = utcnow()
        log.info("recording resumed", extra={"call": call_uniqueid})
    return open_pause


def _open_pause(session: Session, call_uniqueid: str) -> RecordingPause | None:
    return session.scalar(
        select(RecordingPause).where(
            RecordingPause.call_uniqueid == call_uniqueid, RecordingPause.resumed_at.is_(None)
        )
    )


def pauses_of(session: Session, call_uniqueid: str) -> list[RecordingPause]:
    return list(
        session.scalars(
            select(RecordingPause)
            .where(RecordingPause.call_uniqueid == call_uniqueid)
            .order_by(RecordingPause.paused_at)
        )
    )


def set_legal_hold(session: Session, recording: Recording, *, hold: bool, reason: str) -> None:
    """Keep (or release) a recording beyond its retention, e.g. while its case is supervised."""
    recording.legal_hold = hold
    recording.hold_reason = reason if hold else ""
