"""What the workers do to a recording: finish its files, then transcribe it.

Each step reads the row, works on files outside any transaction (long), and writes its result in
one short transaction that first checks nobody else finished the step meanwhile. Running a step
twice, or two workers at once, leaves the same single result.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.alerts import clear_alert, raise_alert
from hotline.db import Database, after_commit, utcnow
from hotline.settings import Settings
from recording import audio, jobs, vocabulary
from recording.asr import AsrConfigError, AsrEngine, Segment
from recording.models import (
    FINISHED_WITH_AUDIO,
    AsrStatus,
    KeyPhraseHit,
    Recording,
    RecordingKind,
    RecordingStatus,
    Transcript,
    TranscriptSegment,
)
from recording.service import DISK_ALERT, free_megabytes
from telephony.models import Call, Disposition

log = logging.getLogger("recording.pipeline")

ASR_CONFIG_ALERT = "asr-config"


def closed_marker(base_path: str) -> Path:
    """Touched by MixMonitor's end command (asterisk_conf/extensions.py) after it closed the files."""
    return Path(f"{base_path}.closed")


class FilesStillOpen(Exception):
    """Asterisk has not closed the files yet (their WAV headers are not final): try again soon."""


@dataclass(frozen=True)
class _Snapshot:
    id: int
    kind: str
    path: str
    legs: dict[str, str]
    ended_at: datetime | None
    call_died: bool


def _snapshot(session: Session, recording: Recording) -> _Snapshot:
    disposition = session.scalar(select(Call.disposition).where(Call.uniqueid == recording.call_uniqueid))
    return _Snapshot(
        recording.id,
        recording.kind,
        recording.path,
        recording.legs,
        recording.ended_at,
        disposition == Disposition.ABNORMAL,
    )


# ----- finishing the files ---------------------------------------------------------------------
def finalize(db: Database, settings: Settings, recording_id: int, now: datetime | None = None) -> str:
    """Archive copy, hash, duration; or failed/damaged with the reason. Returns the new status."""
    now = now or utcnow()
    with db.unit_of_work() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or not RecordingStatus(recording.status).is_open:
            return recording.status if recording else "missing"
        if recording.status == RecordingStatus.RECORDING and recording.ended_at is None:
            return recording.status  # the call is live: the tracker stops it at hang-up
        snap = _snapshot(session, recording)
    result = _finish_files(settings, snap, now)
    with db.unit_of_work() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or not RecordingStatus(recording.status).is_open:
            return recording.status if recording else "missing"
        recording.finalize_attempts += 1
        _apply_finish(session, settings, recording, result, now)
        log.info(
            "recording finished",
            extra={"recording": recording_id, "status": recording.status, "why": recording.failure_reason},
        )
        return recording.status


@dataclass(frozen=True)
class _Finished:
    status: RecordingStatus
    reason: str = ""
    archive: Path | None = None
    sha256: str = ""
    size: int = 0
    duration_ms: int = 0


def _finish_files(settings: Settings, snap: _Snapshot, now: datetime) -> _Finished:
    present = {speaker: Path(p) for speaker, p in snap.legs.items() if Path(p).exists()}
    if not present:
        free = free_megabytes(Path(snap.path))
        why = "Asterisk wrote no audio file"
        if free < settings.recording.min_free_mb:
            why += f" (disk full: {free:.0f} MB free)"
        return _Finished(RecordingStatus.FAILED, why)
    open_files = [p for p in present.values() if not audio.inspect_wav(p).consistent]
    grace = timedelta(seconds=settings.recording.finalize_grace_seconds)
    ended = snap.ended_at or now
    if not snap.call_died and now - ended < grace:
        # A final header is not enough: a leg's audio was seen landing seconds after its header
        # was written. MixMonitor touches <base>.closed once it has closed every file (its end
        # command runs after that); a message is closed when the flow registers it.
        unclosed = snap.kind == RecordingKind.CALL and not closed_marker(snap.path).exists()
        if open_files or unclosed:
            raise FilesStillOpen(", ".join(map(str, open_files)) or f"no {closed_marker(snap.path).name} yet")
    notes: list[str] = []
    samples: dict[str, np.ndarray] = {}
    rate = 8000
    for speaker, path in present.items():
        try:
            if path in open_files:
                outcome = audio.repair_wav(path)
                notes.append(f"{speaker} leg left open (Asterisk stopped?); header repaired: {outcome}")
            samples[speaker], rate = audio.read_pcm(path)
        except audio.DamagedRecording as exc:
            notes.append(f"{speaker} leg unusable: {exc}")
    for speaker in snap.legs.keys() - present.keys():
        notes.append(f"{speaker} leg missing")
    if not samples:
        return _Finished(RecordingStatus.DAMAGED, "; ".join(notes))
    archive = _write_archive(settings, snap, samples, rate)
    # The legs' waveforms, drawn apart on the call page, are taken now: the PCM legs go once
    # the transcript is stored, and a compressed archive holds the mix only.
    leg_peaks = {speaker: audio.peaks(present[speaker], PEAK_BUCKETS)[0] for speaker in samples}
    peaks_file(snap.path).write_text(json.dumps(leg_peaks), encoding="utf-8")
    if snap.kind == RecordingKind.CALL:
        # Asterisk's own mono mix: the archive copy replaces it.
        Path(f"{snap.path}.wav").unlink(missing_ok=True)
        closed_marker(snap.path).unlink(missing_ok=True)
    status = RecordingStatus.REPAIRED if open_files or notes else RecordingStatus.COMPLETE
    return _Finished(
        status,
        "; ".join(notes),
        archive,
        audio.sha256_file(archive),
        archive.stat().st_size,
        round(audio.audio_duration_seconds(archive) * 1000),
    )


PEAK_BUCKETS = 800


def peaks_file(base_path: str) -> Path:
    """Per leg, the waveform of the call (JSON: speaker -> 0..1 peaks), kept beside the archive."""
    return Path(f"{base_path}.peaks.json")


def _write_archive(settings: Settings, snap: _Snapshot, samples: dict[str, np.ndarray], rate: int) -> Path:
    """The kept copy. opus and gsm: the mono mix (what a person listens to; ~2.4 and ~5.9 MB per
    recorded hour). Opus cannot keep two channels apart below ~15 MB/hour (libopus folds them
    into one: docs/benchmarks.md), and the legs apart are what the ASR needed: their transcripts
    and waveforms are kept. wav: PCM, the legs apart in two channels."""
    fmt = settings.recording.archive_format
    caller, agent = samples.get("caller"), samples.get("agent")
    if fmt != "wav" and caller is not None and agent is not None:
        caller, agent = audio.mix_to_mono(caller, agent), None
    return audio.write_archive(Path(snap.path), fmt, caller=caller, agent=agent, rate=rate)


def _apply_finish(
    session: Session, settings: Settings, recording: Recording, result: _Finished, now: datetime
) -> None:
    recording.status = result.status
    recording.failure_reason = result.reason
    recording.ended_at = recording.ended_at or now
    if result.status == RecordingStatus.FAILED and "disk full" in result.reason:
        raise_alert(session, DISK_ALERT, f"Recording failed, disk full: {recording.path}")
    if result.archive is None:
        return
    recording.archive_path = str(result.archive)
    recording.archive_format = settings.recording.archive_format
    recording.sha256 = result.sha256
    recording.size_bytes = result.size
    recording.duration_ms = result.duration_ms
    recording.asr_status = AsrStatus.PENDING
    recording.asr_queued_at = now
    ids = [recording.id]
    after_commit(session, lambda: jobs.queue_transcribe(ids))


# ----- transcription ---------------------------------------------------------------------------
EngineFactory = Callable[[], AsrEngine]


def transcribe(db: Database, settings: Settings, engine_of: EngineFactory, recording_id: int) -> str:
    """One transcript per recording, whatever happens to the workers. Returns the asr status."""
    with db.unit_of_work() as session:
        recording = session.get(Recording, recording_id)
        if recording is None:
            return "missing"
        # Failed is final (a retry goes back to pending first): a late duplicate job stops here.
        if (
            recording.asr_status in (AsrStatus.DONE, AsrStatus.NONE, AsrStatus.FAILED)
            or recording.status not in FINISHED_WITH_AUDIO
        ):
            return recording.asr_status
        recording.asr_status = AsrStatus.RUNNING
        recording.asr_started_at = utcnow()
        recording.asr_attempts += 1
        legs, archive, kind, uid = (
            recording.legs,
            recording.archive_path,
            recording.kind,
            recording.call_uniqueid,
        )
    started = time.monotonic()
    try:
        engine = engine_of()
        by_speaker = {speaker: _transcribe_leg(engine, speaker, legs, archive, kind) for speaker in legs}
    except AsrConfigError as exc:
        return _asr_failed(db, settings, recording_id, str(exc), config=True)
    except Exception as exc:
        log.exception("transcription failed", extra={"recording": recording_id})
        return _asr_failed(db, settings, recording_id, f"{type(exc).__name__}: {exc}")
    took = time.monotonic() - started
    audio_seconds = max((s.end for segs in by_speaker.values() for s in segs), default=0.0)
    try:
        with db.unit_of_work() as session:
            recording = session.get(Recording, recording_id)
            assert recording is not None
            if session.scalar(select(Transcript.id).where(Transcript.recording_id == recording_id)) is None:
                _store(session, settings, recording, uid, engine, by_speaker, audio_seconds, took)
            recording.asr_status = AsrStatus.DONE
            recording.asr_error = ""
            clear_alert(session, ASR_CONFIG_ALERT)
    except IntegrityError:
        # Another worker stored it between our check and our insert: theirs is the one.
        log.info("transcript already stored by another worker", extra={"recording": recording_id})
    if not settings.recording.keep_pcm and kind == RecordingKind.CALL:
        for path in legs.values():
            Path(path).unlink(missing_ok=True)
    log.info(
        "transcribed", extra={"recording": recording_id, "seconds": round(took, 2), "engine": engine.name}
    )
    return AsrStatus.DONE


def _transcribe_leg(
    engine: AsrEngine, speaker: str, legs: dict[str, str], archive: str, kind: str
) -> list[Segment]:
    pcm = Path(legs[speaker])
    if pcm.exists() and audio.inspect_wav(pcm).consistent:
        samples, rate = audio.read_pcm(pcm)
    else:
        # The PCM is gone (kept only until a first transcript): the archive's channel for this
        # speaker if it has one (wav), else its mix, heard as the caller's.
        channels = audio.legs_channels(Path(archive))
        if speaker not in channels and speaker != "caller":
            return []
        samples, rate = audio.read_channel(
            Path(archive), channels.index(speaker) if speaker in channels else 0
        )
    return engine.transcribe(samples, rate)


def _store(
    session: Session,
    settings: Settings,
    recording: Recording,
    uid: str,
    engine: AsrEngine,
    by_speaker: dict[str, list[Segment]],
    audio_seconds: float,
    took: float,
) -> None:
    ordered = sorted(
        ((s.start, speaker, s) for speaker, segs in by_speaker.items() for s in segs), key=lambda t: t[0]
    )
    text = "\n".join(f"{speaker}: {segment.text}" for _, speaker, segment in ordered)
    spoken = " ".join(segment.text for _, _, segment in ordered)
    transcript = Transcript(
        recording_id=recording.id,
        call_uniqueid=uid,
        engine=engine.name,
        model=engine.model[:200],
        text=text,
        search_text=vocabulary.search_text(spoken),
        created_at=utcnow(),
        audio_seconds=audio_seconds,
        processing_seconds=took,
    )
    session.add(transcript)
    session.flush()  # the unique recording_id is checked here, before anything else is added
    for _, speaker, segment in ordered:
        words = [[w.text, round(w.start * 1000), round(w.end * 1000)] for w in segment.words]
        session.add(
            TranscriptSegment(
                transcript_id=transcript.id,
                speaker=speaker,
                start_ms=round(segment.start * 1000),
                end_ms=round(segment.end * 1000),
                text=segment.text,
                words=json.dumps(words, ensure_ascii=False),
            )
        )
    for hit in vocabulary.spot(by_speaker, settings.asr.vocabulary):
        session.add(
            KeyPhraseHit(
                recording_id=recording.id,
                call_uniqueid=uid,
                phrase=hit.phrase,
                category=hit.category,
                urgent=hit.urgent,
                speaker=hit.speaker,
                start_ms=round(hit.start * 1000),
            )
        )


def _asr_failed(
    db: Database, settings: Settings, recording_id: int, why: str, *, config: bool = False
) -> str:
    with db.unit_of_work() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or recording.asr_status == AsrStatus.DONE:
            return "done"
        recording.asr_error = why[:2000]
        final = config or recording.asr_attempts >= settings.asr.max_attempts
        recording.asr_status = AsrStatus.FAILED if final else AsrStatus.PENDING
        recording.asr_queued_at = utcnow()
        if config:
            raise_alert(session, ASR_CONFIG_ALERT, f"Transcription cannot run: {why}")
        log.error("transcription not done", extra={"recording": recording_id, "why": why, "final": final})
        return recording.asr_status
