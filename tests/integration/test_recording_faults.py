"""Recording and transcription under faults: killed workers, a restarted Redis, a killed Asterisk,
a full disk. Real processes throughout: the platform of `hotline run`, its Celery workers and Redis.

Long recordings for the worker tests are put where a voicemail would be and registered the way the
flow engine registers one, so the transcription takes long enough to be interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf
from sqlalchemy import func, select

from hotline.alerts import Alert
from recording import audio, jobs
from recording.models import Recording, RecordingStatus, Transcript
from recording.service import register_voicemail
from telephony.sipp.pcap import speak_to_wav
from tests.integration.harness import Platform, closed_rows_since, place_calls, poll, seat_agent
from tests.integration.test_faults import in_background
from tests.integration.test_recording_e2e import answered_call, finished_recording, stored_transcript

SPEECH = "There is a water outage in our building. The street light on main road is broken."


def long_message(platform: Platform, work: Path, name: str, repeats: int) -> Path:
    """A caller's message of ``repeats`` sentences, 8 kHz PCM, where voicemails are kept."""
    work.mkdir(parents=True, exist_ok=True)
    one, rate = sf.read(str(speak_to_wav(SPEECH, "en", work / "one.wav")), dtype="int16")
    assert rate == 8000
    gap = np.zeros(rate // 2, dtype=np.int16)
    samples = np.concatenate([np.concatenate([one, gap])] * repeats)
    target = platform.state_dir / "voicemail" / "faults" / f"{name}.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(target), samples, rate, subtype="PCM_16")
    return target


def register(platform: Platform, wav: Path, uniqueid: str) -> int:
    """As the flow engine does after a message: the row, then the worker's job after the commit."""
    jobs.configure(platform.settings)
    with platform.db.unit_of_work() as session:
        row = register_voicemail(session, call_uniqueid=uniqueid, path=str(wav.with_suffix("")), fmt="wav")
        session.flush()
        return row.id


def transcripts_of(platform: Platform, recording_id: int) -> int:
    with platform.db.unit_of_work() as session:
        return (
            session.scalar(select(func.count(Transcript.id)).where(Transcript.recording_id == recording_id))
            or 0
        )


def recording(platform: Platform, recording_id: int) -> Recording:
    with platform.db.unit_of_work() as session:
        row = session.get(Recording, recording_id)
        assert row is not None
        return row


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_given_the_asr_worker_killed_mid_transcription_then_exactly_one_transcript_is_stored(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    wav = long_message(platform, tmp_path, "killed-worker", repeats=30)
    recording_id = register(platform, wav, "faults-1.1")
    poll(
        "the transcription running",
        lambda: recording(platform, recording_id).asr_status == "running",
        60,
        0.05,
    )
    # The job runs in the worker's pool child; killing it is a worker dying mid-job.
    [child] = children(platform.component_pid("asr"))
    os.kill(child, signal.SIGKILL)
    poll("the transcription done", lambda: recording(platform, recording_id).asr_status == "done", 180)
    row = recording(platform, recording_id)
    assert row.asr_attempts >= 2, "the job was not run again after its worker died"
    time.sleep(3)  # a late duplicate delivery would land now
    assert transcripts_of(platform, recording_id) == 1


def test_given_redis_restarted_with_jobs_queued_then_every_recording_is_transcribed_after(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    asr = platform.component_pid("asr")
    os.kill(asr, signal.SIGSTOP)  # jobs pile up in Redis while nobody takes them
    try:
        ids = [
            register(
                platform, long_message(platform, tmp_path / str(n), f"redis-{n}", repeats=1), f"faults-2.{n}"
            )
            for n in range(3)
        ]
        poll(
            "the recordings finished and waiting for transcription",
            lambda: all(recording(platform, i).asr_status == "pending" for i in ids),
            60,
        )
        redis_pid = platform.component_pid("redis")
        os.kill(redis_pid, signal.SIGKILL)
        poll(
            "Redis started again by the supervisor",
            lambda: platform.component_pid("redis") != redis_pid and platform.healthy(),
            30,
        )
    finally:
        os.kill(asr, signal.SIGCONT)
    for recording_id in ids:
        poll(
            f"recording {recording_id} transcribed",
            lambda: recording(platform, recording_id).asr_status == "done",  # noqa: B023
            120,
        )
        assert transcripts_of(platform, recording_id) == 1


def test_given_asterisk_killed_with_recordings_open_then_files_are_repaired_and_rows_closed(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    old_pid = platform.instance.pid
    with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=60) as agent:
        with in_background(
            place_calls, platform, "carrier", tmp_path / "caller", talk_seconds=60, text=SPEECH, voice="en"
        ) as call:
            uid = poll("the agent talking", lambda: _open_recording(platform), 40)
            time.sleep(3)  # a few seconds of conversation in the files
            platform.instance.kill()
            call.result(120)
        agent.stop()
    poll(
        "Asterisk started again",
        lambda: platform.instance.pid not in (None, old_pid) and platform.healthy(),
        60,
    )
    [row] = closed_rows_since(platform, first, timeout=40)
    assert row.disposition == "abnormal"
    kept = finished_recording(platform, uid, timeout=60)
    assert kept.status == RecordingStatus.REPAIRED, (kept.status, kept.failure_reason)
    assert "header repaired" in kept.failure_reason
    assert kept.ended_at is not None and kept.sha256
    assert audio.sha256_file(kept.archive_path) == kept.sha256
    assert kept.duration_ms and kept.duration_ms >= 2000
    stored_transcript(platform, kept.id)


def _open_recording(platform: Platform) -> str | None:
    with platform.db.unit_of_work() as session:
        row = session.scalar(select(Recording).where(Recording.status == RecordingStatus.RECORDING))
        return row.call_uniqueid if row else None


@contextmanager
def full_disk(platform: Platform) -> Iterator[Path]:
    """Today's recordings folder on a tiny file system that is full, seen by Asterisk too."""
    day = datetime.now(platform.settings.site.zone).strftime("%Y/%m/%d")
    folder = platform.state_dir / "recordings" / day
    folder.mkdir(parents=True, exist_ok=True)
    mounts = [folder]
    root = getattr(platform.instance.runtime, "root", None)
    if getattr(platform.instance.runtime, "kind", "") == "chroot" and root is not None:
        mounts.append(Path(f"{root}{folder}"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "hotline-full", str(folder)], check=True)
    try:
        for inner in mounts[1:]:
            inner.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", str(folder), str(inner)], check=True)
        with (folder / "filler").open("wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass  # ENOSPC: the disk is full
        yield folder
    finally:
        for path in reversed(mounts):
            subprocess.run(["umount", "-l", str(path)], check=False)


def test_given_a_full_disk_when_a_call_is_answered_then_it_goes_on_and_the_recording_is_failed(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    with full_disk(platform):
        with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=6) as agent:
            place_calls(platform, "carrier", tmp_path / "caller", talk_seconds=20, text=SPEECH, voice="en")
            agent.wait_for(1)
        [row] = closed_rows_since(platform, first)
    # The call went on as usual: answered, and the agent held it for its whole time.
    assert row.disposition == "answered"
    assert row.ended_at and row.agent_connected_at
    assert (row.ended_at - row.agent_connected_at).total_seconds() >= 5
    kept = finished_recording(platform, row.uniqueid)
    assert kept.status == RecordingStatus.FAILED and "disk full" in kept.failure_reason
    with platform.db.unit_of_work() as session:
        alert = session.scalar(select(Alert).where(Alert.key == "recording-disk-full"))
        assert alert is not None and "full" in alert.message


def test_given_the_recording_pipeline_when_a_call_ends_then_health_shows_its_progress(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    uniqueid = answered_call(platform, tmp_path, hold_seconds=5)
    stored_transcript(platform, finished_recording(platform, uniqueid).id)
    pipeline = platform.health()["checks"]["recordings"]
    assert pipeline["ok"] and pipeline["transcribed"] >= 1, pipeline
    assert pipeline["recording_now"] == 0 and pipeline["to_finish"] == 0, pipeline
