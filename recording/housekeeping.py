"""The sweeper, retention and the integrity check: what keeps the recordings true over time.

The sweeper is how nothing is lost between the database (the truth) and Redis (reminders): it
stops recordings whose call ended while nobody was listening (tracker down, Asterisk killed),
finishes rows left stopped, and queues again transcriptions Redis lost or a dead worker dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db import Database, utcnow
from hotline.settings import Settings
from recording import audio, jobs
from recording.models import FINISHED_WITH_AUDIO, AsrStatus, Recording, RecordingKind, RecordingStatus
from recording.service import check_disk
from telephony.models import Call

log = logging.getLogger("recording.housekeeping")

BATCH = 200
# A stopped row is normally finished within a second of hang-up; older ones lost their job.
STOPPED_STALE_SECONDS = 10


@dataclass
class SweepReport:
    stopped: list[int] = field(default_factory=list)
    finalize: list[int] = field(default_factory=list)
    transcribe: list[int] = field(default_factory=list)
    given_up: list[int] = field(default_factory=list)


def sweep(db: Database, settings: Settings, now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    with db.unit_of_work() as session:
        _stop_orphans(session, report)
        stale = now - timedelta(seconds=STOPPED_STALE_SECONDS)
        report.finalize += session.scalars(
            select(Recording.id)
            .where(Recording.status == RecordingStatus.STOPPED, Recording.ended_at < stale)
            .limit(BATCH)
        ).all()
        _requeue_transcriptions(session, settings, now, report)
        # Today's folder, where new recordings go (it may be its own mount).
        today = now.astimezone(settings.site.zone).strftime("%Y/%m/%d")
        check_disk(session, settings.state_dir / "recordings" / today, settings.recording)
    # Queued after the commit, so a worker finds the rows as the sweep left them.
    jobs.queue_finalize(report.stopped + report.finalize)
    jobs.queue_transcribe(report.transcribe)
    if report.stopped or report.finalize or report.transcribe or report.given_up:
        log.info(
            "sweep",
            extra={
                "stopped": len(report.stopped),
                "finalize": len(report.finalize),
                "transcribe": len(report.transcribe),
                "given_up": len(report.given_up),
            },
        )
    return report


def _stop_orphans(session: Session, report: SweepReport) -> None:
    """Recording rows still 'recording' whose call row is closed: the hang-up was never seen."""
    rows = session.execute(
        select(Recording, Call.ended_at)
        .join(Call, Call.uniqueid == Recording.call_uniqueid)
        .where(Recording.status == RecordingStatus.RECORDING, Call.ended_at.is_not(None))
        .limit(BATCH)
    ).all()
    for recording, ended_at in rows:
        recording.status = RecordingStatus.STOPPED
        recording.ended_at = ended_at
        report.stopped.append(recording.id)


def _requeue_transcriptions(session: Session, settings: Settings, now: datetime, report: SweepReport) -> None:
    lost = now - timedelta(seconds=settings.asr.requeue_after_seconds)
    overdue = now - timedelta(seconds=settings.asr.max_seconds)
    rows = session.scalars(
        select(Recording)
        .where(
            ((Recording.asr_status == AsrStatus.PENDING) & (Recording.asr_queued_at < lost))
            | ((Recording.asr_status == AsrStatus.RUNNING) & (Recording.asr_started_at < overdue))
        )
        .limit(BATCH)
    ).all()
    for recording in rows:
        if recording.asr_attempts >= settings.asr.max_attempts:
            recording.asr_status = AsrStatus.FAILED
            recording.asr_error = recording.asr_error or f"gave up after {recording.asr_attempts} attempts"
            report.given_up.append(recording.id)
            continue
        recording.asr_status = AsrStatus.PENDING
        recording.asr_queued_at = now
        report.transcribe.append(recording.id)


# ----- retention -------------------------------------------------------------------------------
def purge_expired(db: Database, settings: Settings, now: datetime | None = None) -> list[int]:
    """Delete the files of recordings past their kind's retention, unless under legal hold.

    The row stays, marked deleted with when and why: the trace that the recording existed and
    was removed by rule, not by hand.
    """
    now = now or utcnow()
    retention = settings.recording.retention
    deleted: list[int] = []
    with db.unit_of_work() as session:
        for kind in RecordingKind:
            days = getattr(retention, kind.value)
            if not days:
                continue
            rows = session.scalars(
                select(Recording)
                .where(
                    Recording.kind == kind,
                    Recording.status != RecordingStatus.DELETED,
                    Recording.status.not_in([RecordingStatus.RECORDING, RecordingStatus.STOPPED]),
                    Recording.legal_hold.is_(False),
                    Recording.created_at < now - timedelta(days=days),
                )
                .limit(BATCH)
            ).all()
            for recording in rows:
                for path in _files_of(recording):
                    path.unlink(missing_ok=True)
                recording.status = RecordingStatus.DELETED
                recording.deleted_at = now
                recording.failure_reason = (
                    f"deleted by retention: {kind.value} recordings are kept {days} days "
                    f"(recording.retention.{kind.value})"
                )
                deleted.append(recording.id)
                log.warning("recording deleted by retention", extra={"recording": recording.id, "kind": kind})
    return deleted


def _files_of(recording: Recording) -> list[Path]:
    files = [Path(p) for p in recording.legs.values()]
    files.append(Path(f"{recording.path}.{recording.format}"))
    if recording.archive_path:
        files.append(Path(recording.archive_path))
    files.append(Path(f"{recording.path}.peaks.json"))
    return files


# ----- integrity -------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntegrityProblem:
    recording_id: int
    call_uniqueid: str
    path: str
    problem: str


def verify(session: Session, recording: Recording) -> str:
    """'ok', or what is wrong with the archive copy: missing, or altered since it was hashed."""
    if recording.status not in FINISHED_WITH_AUDIO or not recording.archive_path:
        return "ok"
    path = Path(recording.archive_path)
    if not path.exists():
        return "missing"
    return "ok" if audio.sha256_file(path) == recording.sha256 else "altered"


def verify_all(session: Session, *, since: datetime | None = None) -> list[IntegrityProblem]:
    query = select(Recording).where(Recording.status.in_(list(FINISHED_WITH_AUDIO)))
    if since is not None:
        query = query.where(Recording.created_at >= since)
    problems = []
    for recording in session.scalars(query.order_by(Recording.id)):
        result = verify(session, recording)
        if result != "ok":
            problems.append(
                IntegrityProblem(recording.id, recording.call_uniqueid, recording.archive_path, result)
            )
    return problems
