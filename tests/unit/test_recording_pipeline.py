"""The workers' steps on real files and a real (SQLite) database: finish, transcribe, sweep, purge.

The ASR engine here is a small stand-in that returns fixed words; the real engines are tested on
real speech in test_asr_engines.py and end to end in tests/integration/test_recording_e2e.py.
"""

from __future__ import annotations

import json
import os
import struct
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from hotline.alerts import Alert
from hotline.db import Database
from hotline.settings import Settings
from recording import audio, housekeeping, pipeline, service
from recording.asr import AsrConfigError, Segment, Word
from recording.models import AsrStatus, KeyPhraseHit, Recording, RecordingStatus, Transcript
from telephony.models import Call, Disposition

RATE = 8000
T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class FixedWords:
    """Says the same words for every leg, one segment per second of audio."""

    name = "fixed"
    model = "fixed words for tests"

    def __init__(self, words: str = "the street light is broken") -> None:
        self.words = words
        self.calls = 0

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> list[Segment]:
        self.calls += 1
        seconds = len(samples) / sample_rate
        return [
            Segment(0.0, seconds, self.words, tuple(Word(w, 0.0, seconds, None) for w in self.words.split()))
        ]


def settings_for(tmp_path: Path, **recording: object) -> Settings:
    return Settings.model_validate(
        {"site": {"state_dir": str(tmp_path)}, "recording": {"min_free_mb": 0, **recording}}
    )


def write_leg(path: Path, seconds: float, *, tone: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    samples = (np.sin(2 * np.pi * tone * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    # Asterisk finished with it long ago (the worker leaves files alone while they change).
    os.utime(path, (0, 0))


def leave_open(path: Path) -> None:
    """What a killed Asterisk leaves: the header's sizes never written (zero)."""
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 0)
    data[40:44] = struct.pack("<I", 0)
    path.write_bytes(bytes(data))
    os.utime(path, (0, 0))


def a_call(db: Database, tmp_path: Path, uid: str, *, died: bool = False, legs: bool = True) -> int:
    base = tmp_path / "recordings" / "2026" / "11" / "21" / uid
    if legs:
        write_leg(Path(f"{base}-caller.wav"), 3.0)
        write_leg(Path(f"{base}-agent.wav"), 3.0, tone=660.0)
        write_leg(Path(f"{base}.wav"), 3.0)
        pipeline.closed_marker(str(base)).touch()  # as MixMonitor's end command does
    with db.unit_of_work() as session:
        session.add(
            Call(
                uniqueid=uid,
                linkedid=uid,
                channel="PJSIP/carrier-1",
                started_at=T0,
                ended_at=T0 + timedelta(seconds=10),
                disposition=Disposition.ABNORMAL if died else Disposition.ANSWERED,
            )
        )
        row = service.start_call_recording(
            session,
            call_uniqueid=uid,
            base_path=str(base),
            started_at=T0,
            settings=settings_for(tmp_path).recording,
        )
        session.flush()
        service.call_ended(session, call_uniqueid=uid, ended_at=T0 + timedelta(seconds=10))
        return row.id


def get(db: Database, recording_id: int) -> Recording:
    with db.unit_of_work() as session:
        row = session.get(Recording, recording_id)
        assert row is not None
        return row


def test_given_closed_legs_when_finished_then_the_archive_holds_both_and_its_hash(
    db: Database, tmp_path: Path
) -> None:
    rid = a_call(db, tmp_path, "main-1.1")
    settings = settings_for(tmp_path)
    assert pipeline.finalize(db, settings, rid, now=T0 + timedelta(seconds=11)) == RecordingStatus.COMPLETE
    row = get(db, rid)
    archive = Path(row.archive_path)
    # The mix for listening, small; the legs apart live on as their waveforms (and transcripts).
    assert archive.suffix == ".opus" and audio.legs_channels(archive) == ["caller"]
    legs = json.loads(pipeline.peaks_file(row.path).read_text())
    assert set(legs) == {"caller", "agent"} and max(legs["caller"]) > 0.1 and max(legs["agent"]) > 0.1
    assert row.sha256 == audio.sha256_file(archive) and row.size_bytes == archive.stat().st_size
    assert 2900 <= (row.duration_ms or 0) <= 3100
    assert row.asr_status == AsrStatus.PENDING
    assert not Path(f"{row.path}.wav").exists(), "Asterisk's mix is replaced by the archive"
    # Done is done: a second delivery of the job changes nothing.
    assert pipeline.finalize(db, settings, rid) == RecordingStatus.COMPLETE
    assert get(db, rid).sha256 == row.sha256


def test_given_files_still_open_after_a_normal_hangup_then_the_worker_waits_for_asterisk(
    db: Database, tmp_path: Path
) -> None:
    rid = a_call(db, tmp_path, "main-1.2")
    leave_open(Path(get(db, rid).legs["caller"]))
    with pytest.raises(pipeline.FilesStillOpen):
        pipeline.finalize(db, settings_for(tmp_path), rid, now=T0 + timedelta(seconds=11))
    # Past the grace period Asterisk is not going to close them: repaired.
    later = T0 + timedelta(seconds=10 + 21)
    assert pipeline.finalize(db, settings_for(tmp_path), rid, now=later) == RecordingStatus.REPAIRED


def test_given_asterisk_killed_then_open_files_are_repaired_at_once(db: Database, tmp_path: Path) -> None:
    rid = a_call(db, tmp_path, "main-1.3", died=True)
    for leg in get(db, rid).legs.values():
        leave_open(Path(leg))
    assert (
        pipeline.finalize(db, settings_for(tmp_path), rid, now=T0 + timedelta(seconds=11))
        == RecordingStatus.REPAIRED
    )
    row = get(db, rid)
    assert "header repaired" in row.failure_reason and row.sha256
    assert 2900 <= (row.duration_ms or 0) <= 3100


def test_given_an_unusable_leg_then_the_recording_is_damaged_with_the_reason(
    db: Database, tmp_path: Path
) -> None:
    rid = a_call(db, tmp_path, "main-1.4", died=True)
    for leg in get(db, rid).legs.values():
        Path(leg).write_bytes(b"")
    assert pipeline.finalize(db, settings_for(tmp_path), rid) == RecordingStatus.DAMAGED
    assert "caller leg unusable" in get(db, rid).failure_reason


def test_given_no_file_and_a_full_disk_then_the_recording_fails_and_an_alert_is_raised(
    db: Database, tmp_path: Path
) -> None:
    rid = a_call(db, tmp_path, "main-1.5", legs=False)
    settings = settings_for(tmp_path, min_free_mb=10**7)  # more than any disk: "full"
    assert pipeline.finalize(db, settings, rid) == RecordingStatus.FAILED
    assert "disk full" in get(db, rid).failure_reason
    with db.unit_of_work() as session:
        assert session.scalar(select(Alert.key).where(Alert.cleared_at.is_(None))) == service.DISK_ALERT


def test_given_too_little_space_when_the_agent_answers_then_the_row_fails_at_once(
    db: Database, tmp_path: Path
) -> None:
    with db.unit_of_work() as session:
        row = service.start_call_recording(
            session,
            call_uniqueid="main-1.6",
            base_path=str(tmp_path / "r" / "main-1.6"),
            started_at=T0,
            settings=settings_for(tmp_path, min_free_mb=10**7).recording,
        )
        assert row.status == RecordingStatus.FAILED and "disk full" in row.failure_reason


def finished(db: Database, tmp_path: Path, uid: str) -> int:
    rid = a_call(db, tmp_path, uid)
    pipeline.finalize(db, settings_for(tmp_path), rid, now=T0 + timedelta(seconds=11))
    return rid


def test_given_a_finished_recording_then_one_transcript_per_speaker_with_phrases(
    db: Database, tmp_path: Path
) -> None:
    rid = finished(db, tmp_path, "main-2.1")
    engine = FixedWords()
    assert pipeline.transcribe(db, settings_for(tmp_path), lambda: engine, rid) == AsrStatus.DONE
    assert engine.calls == 2
    with db.unit_of_work() as session:
        transcript = session.scalar(select(Transcript).where(Transcript.recording_id == rid))
        assert transcript is not None and "caller: the street light is broken" in transcript.text
        assert "street light" in transcript.search_text
        hits = session.scalars(select(KeyPhraseHit).where(KeyPhraseHit.recording_id == rid)).all()
        assert {(h.category, h.speaker) for h in hits} == {
            ("street_light", "caller"),
            ("street_light", "agent"),
        }
    # The PCM legs were only the ASR's input.
    assert not any(Path(p).exists() for p in get(db, rid).legs.values())
    # A second delivery (a worker died after storing, before acknowledging) adds nothing.
    assert pipeline.transcribe(db, settings_for(tmp_path), lambda: engine, rid) == AsrStatus.DONE
    assert engine.calls == 2


def test_given_two_workers_on_one_recording_then_one_transcript_is_kept(db: Database, tmp_path: Path) -> None:
    rid = finished(db, tmp_path, "main-2.2")
    settings = settings_for(tmp_path, keep_pcm=True)

    class SlowSecond(FixedWords):
        def transcribe(self, samples: np.ndarray, sample_rate: int) -> list[Segment]:
            if self.calls == 0:
                # While this worker listens, another (a redelivery) finishes the same job.
                self.calls += 1
                pipeline.transcribe(db, settings, FixedWords, rid)
            return super().transcribe(samples, sample_rate)

    pipeline.transcribe(db, settings, SlowSecond, rid)
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count(Transcript.id))) == 1
        assert get(db, rid).asr_status == AsrStatus.DONE


def test_given_a_missing_vosk_model_then_the_job_fails_naming_the_setting(
    db: Database, tmp_path: Path
) -> None:
    from recording.asr import make_engine

    rid = finished(db, tmp_path, "main-2.3")
    settings = Settings.model_validate(
        {
            "site": {"state_dir": str(tmp_path)},
            "asr": {"engine": "vosk", "vosk_model": str(tmp_path / "nowhere")},
        }
    )
    with pytest.raises(AsrConfigError):
        make_engine(settings.asr)
    assert pipeline.transcribe(db, settings, lambda: make_engine(settings.asr), rid) == AsrStatus.FAILED
    row = get(db, rid)
    assert "asr.vosk_model" in row.asr_error and str(tmp_path / "nowhere") in row.asr_error
    with db.unit_of_work() as session:
        alert = session.scalar(select(Alert).where(Alert.key == pipeline.ASR_CONFIG_ALERT))
        assert alert is not None and "asr.vosk_model" in alert.message


def test_given_a_crashing_engine_then_the_job_is_retried_then_given_up(db: Database, tmp_path: Path) -> None:
    rid = finished(db, tmp_path, "main-2.4")
    settings = settings_for(tmp_path, keep_pcm=True)

    def broken() -> FixedWords:
        raise RuntimeError("decoder exploded")

    for attempt in range(1, settings.asr.max_attempts + 1):
        status = pipeline.transcribe(db, settings, broken, rid)
        assert status == (AsrStatus.FAILED if attempt == settings.asr.max_attempts else AsrStatus.PENDING)
    assert "decoder exploded" in get(db, rid).asr_error
    # A duplicate job arriving after the last attempt does not run the engine again.
    assert pipeline.transcribe(db, settings, broken, rid) == AsrStatus.FAILED
    assert get(db, rid).asr_attempts == settings.asr.max_attempts


def test_given_lost_jobs_then_the_sweeper_finds_them(db: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    stopped = a_call(db, tmp_path, "main-3.1")
    lost = finished(db, tmp_path, "main-3.2")
    # A recording whose hang-up was never seen: its call row is closed, the recording still open.
    with db.unit_of_work() as session:
        session.add(Call(uniqueid="main-3.3", linkedid="main-3.3", channel="c", started_at=T0, ended_at=T0))
        orphan = service.start_call_recording(
            session,
            call_uniqueid="main-3.3",
            base_path=str(tmp_path / "o"),
            started_at=T0,
            settings=settings.recording,
        )
        session.flush()
        orphan_id = orphan.id
    report = housekeeping.sweep(db, settings, now=T0 + timedelta(hours=1))
    assert report.stopped == [orphan_id]
    assert stopped in report.finalize
    assert report.transcribe == [lost]
    assert get(db, orphan_id).status == RecordingStatus.STOPPED


def test_given_retention_then_old_files_go_held_ones_stay_and_rows_remain(
    db: Database, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {"site": {"state_dir": str(tmp_path)}, "recording": {"min_free_mb": 0, "retention": {"call": 30}}}
    )
    old, held = finished(db, tmp_path, "main-4.1"), finished(db, tmp_path, "main-4.2")
    with db.unit_of_work() as session:
        kept = session.get(Recording, held)
        assert kept is not None
        service.set_legal_hold(session, kept, hold=True, reason="case 20261121-0001 under supervision")
    deleted = housekeeping.purge_expired(db, settings, now=T0 + timedelta(days=31))
    assert deleted == [old]
    gone, stays = get(db, old), get(db, held)
    assert gone.status == RecordingStatus.DELETED and gone.deleted_at is not None
    assert "retention" in gone.failure_reason and not Path(gone.archive_path).exists()
    assert stays.status == RecordingStatus.COMPLETE and Path(stays.archive_path).exists()
    assert housekeeping.purge_expired(db, settings, now=T0 + timedelta(days=29)) == []


def test_given_one_byte_changed_then_verify_reports_the_recording_altered(
    db: Database, tmp_path: Path
) -> None:
    rid = finished(db, tmp_path, "main-5.1")
    with db.unit_of_work() as session:
        assert housekeeping.verify_all(session) == []
    archive = Path(get(db, rid).archive_path)
    data = bytearray(archive.read_bytes())
    data[-10] ^= 0xFF
    archive.write_bytes(bytes(data))
    with db.unit_of_work() as session:
        [problem] = housekeeping.verify_all(session)
    assert (problem.recording_id, problem.problem) == (rid, "altered")
    archive.unlink()
    with db.unit_of_work() as session:
        assert [p.problem for p in housekeeping.verify_all(session)] == ["missing"]


def test_given_mixmonitor_not_yet_done_then_the_worker_waits_for_its_closed_mark(
    db: Database, tmp_path: Path
) -> None:
    # A leg's audio was seen landing after its header was final: only the mark says "done".
    rid = a_call(db, tmp_path, "main-6.1")
    pipeline.closed_marker(get(db, rid).path).unlink()
    with pytest.raises(pipeline.FilesStillOpen):
        pipeline.finalize(db, settings_for(tmp_path), rid, now=T0 + timedelta(seconds=11))
    # Past the grace period the files are taken as they are.
    assert pipeline.finalize(db, settings_for(tmp_path), rid, now=T0 + timedelta(seconds=40)) == "complete"
