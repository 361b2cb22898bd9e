"""Every answered call recorded and transcribed: a real Asterisk, sipp caller and agent, the workers.

Engine and vocabulary, stated honestly: transcripts here come from pocketsphinx with the en-us
model its PyPI package ships, decoding with the hotline vocabulary grammar (the default
``asr.pocketsphinx_grammar = "vocabulary"``: the English key phrases of ``asr.vocabulary`` plus an
everyday word list). The speech is espeak-ng English, sent as G.711 RTP by sipp: synthetic, clean
speech. Mandarin in production is vosk with vosk-model-cn, which cannot be downloaded here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from recording import audio, pipeline
from recording.models import KeyPhraseHit, Recording, RecordingStatus, Transcript, TranscriptSegment
from telephony.sipp.runner import CallerId
from tests.integration.browser import open_page, shot
from tests.integration.harness import (
    ROOT,
    Platform,
    closed_rows_since,
    place_calls,
    poll,
    seat_agent,
)
from tests.integration.test_recordings_browser import supervisor_plays

CALLER_SAYS = "The street light on main road is broken."
# Answer to speech: the queue rings the seat at once and sipp answers at once; a margin for both.
AFTER_ANSWER = 2.5


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as sound:
        return float(sound.getnframes() / sound.getframerate())


@pytest.fixture
def browser(artifacts_dir: Path) -> Iterator[Page]:
    with open_page() as opened:
        try:
            yield opened
        finally:
            shot(opened, "e2e-recording-last", artifacts_dir / "screenshots")


def finished_recording(platform: Platform, uniqueid: str, timeout: float = 60.0) -> Recording:
    def done() -> Recording | None:
        with platform.db.unit_of_work() as session:
            row = session.scalar(select(Recording).where(Recording.call_uniqueid == uniqueid))
            return row if row is not None and not RecordingStatus(row.status).is_open else None

    return poll("the recording finished by the worker", done, timeout)


def stored_transcript(platform: Platform, recording_id: int, timeout: float = 90.0) -> Transcript:
    def done() -> Transcript | None:
        with platform.db.unit_of_work() as session:
            return session.scalar(select(Transcript).where(Transcript.recording_id == recording_id))

    return poll("the transcript stored", done, timeout)


def answered_call(platform: Platform, work: Path, *, hold_seconds: float = 12.0) -> str:
    """One real call: the caller speaks CALLER_SAYS after the agent answers; the agent's phone
    (sipp's RTP echo) sends it back, so the agent's leg carries speech of its own."""
    first = platform.last_call_id()
    greeting = wav_seconds(platform.state_dir / "prompts" / "zh-CN" / "welcome.wav")
    with seat_agent(platform, "1001", work / "agent", hold_seconds=hold_seconds) as agent:
        place_calls(
            platform,
            "carrier",
            work / "caller",
            text=CALLER_SAYS,
            voice="en",
            silence_first=greeting + AFTER_ANSWER,
            talk_seconds=greeting + hold_seconds + 6,
            callers=[CallerId("13800138000", "张三")],
        )
        agent.wait_for(1)
    [row] = closed_rows_since(platform, first)
    assert row.disposition == "answered", row.end_reason
    return row.uniqueid


def loudness(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def test_given_an_answered_call_then_both_legs_are_kept_hashed_and_transcribed(
    clean_platform: Platform, browser: Page, tmp_path: Path
) -> None:
    platform = clean_platform
    uniqueid = answered_call(platform, tmp_path)
    recording = finished_recording(platform, uniqueid)
    assert recording.status == RecordingStatus.COMPLETE, recording.failure_reason
    assert recording.kind == "call" and recording.archive_format == "opus"
    archive = Path(recording.archive_path)
    # Laid out by the local date, named by the call's uniqueid.
    assert archive.parent.relative_to(platform.state_dir / "recordings").parts[0].isdigit()
    assert archive.name.startswith(uniqueid)
    assert audio.sha256_file(archive) == recording.sha256
    assert recording.size_bytes == archive.stat().st_size
    assert recording.duration_ms and recording.duration_ms > 5000
    assert recording.started_at and recording.ended_at and recording.ended_at > recording.started_at
    # The archive is the mix for listening; it has both voices in it.
    mix, _ = audio.read_channel(archive, 0)
    assert loudness(mix) > 100, "the recording is silent"
    # The legs were kept apart: each has its own waveform, with speech in it (then its transcript).
    legs = json.loads(pipeline.peaks_file(recording.path).read_text())
    assert len(legs["agent"]) == len(legs["caller"]) > 0, "the legs do not cover the same time"
    assert max(legs["caller"]) > 0.05, "the caller's leg is silent"
    # Not asserted: speech in the agent's leg. In about half the runs Asterisk takes no audio
    # from the sipp agent's RTP echo at all (its own mix lacks it too), so the leg is silence;
    # a browser agent's voice is in this leg (test_recording_pause_browser.py checks it). Open in
    # issue 4's note.
    # Asterisk's own mix is replaced by the archive copy.
    assert not Path(f"{recording.path}.wav").exists()

    transcript = stored_transcript(platform, recording.id)
    with platform.db.unit_of_work() as session:
        segments = session.scalars(
            select(TranscriptSegment).where(TranscriptSegment.transcript_id == transcript.id)
        ).all()
        hits = session.scalars(select(KeyPhraseHit).where(KeyPhraseHit.recording_id == recording.id)).all()
        after = session.get(Recording, recording.id)
        assert after is not None
    assert transcript.engine == "pocketsphinx"
    caller_text = " ".join(s.text for s in segments if s.speaker == "caller").lower()
    assert "street light" in caller_text, transcript.text
    assert "broken" in caller_text, transcript.text
    assert ("street_light", "caller") in {(h.category, h.speaker) for h in hits}
    assert after.asr_status == "done"
    # The PCM legs were the ASR's input; kept only until the transcript is stored.
    assert not any(Path(p).exists() for p in after.legs.values())

    # A supervisor finds the call by a word the caller said, and hears it in the browser.
    heard = supervisor_plays(browser, platform, "street", uniqueid, shots="e2e-recording")
    assert heard.recording_id == recording.id


def test_given_a_recording_altered_by_one_byte_then_the_integrity_check_reports_it(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    uniqueid = answered_call(platform, tmp_path, hold_seconds=6)
    recording = finished_recording(platform, uniqueid)

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hotline.cli", "recordings", "verify", "--days", "1"],
            cwd=ROOT,
            env=platform.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    clean = verify()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    archive = Path(recording.archive_path)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    altered = verify()
    assert altered.returncode == 1, altered.stdout
    assert f"recording {recording.id} (call {uniqueid}): altered" in altered.stdout
