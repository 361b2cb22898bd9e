"""Finding and hearing a call in a real headless Chromium against the running platform.

A finished call is put on record the way the workers leave one: a stereo Ogg Opus archive made
from espeak-ng speech (the caller says "the street light on main road is broken"), hashed, with
its transcript, segments and a key phrase. A supervisor finds it by a word, opens it, gives a
reason and hears it: the <audio> element plays and its requests are answered 206. The listen is
then on the audit log with the reason. An agent who did not answer the call reads the refusal on
the page, and the API answers them 403.

``supervisor_plays`` is the supervisor's whole path, for other tests (a real call end to end) to
reuse. Screenshots: test-artifacts/screenshots/recordings-*.png.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Page, Response, expect

from agents_ui.accounts import service
from hotline.db import utcnow
from recording import audio, vocabulary
from recording.models import (
    KeyPhraseHit,
    Recording,
    RecordingKind,
    RecordingStatus,
    Transcript,
    TranscriptSegment,
)
from recording.pipeline import PEAK_BUCKETS, peaks_file
from telephony.models import Call, Disposition
from tests.integration.browser import open_page, shot
from tests.integration.harness import Platform

CALLER_SAYS = "the street light on main road is broken"
AGENT_SAYS = "twelve three four five hotline, how can I help you"
PASSWORD = "录音抽查 is long enough"
REASON = "质检抽查 quality check of street light calls"
SEARCH_SECONDS = 90.0  # a real call's transcript may still be on its way
_numbers = itertools.count(1)


def fresh_name(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000) % 10**9}{next(_numbers)}"


def add_person(platform: Platform, prefix: str, role: str, extension: str | None = None) -> str:
    username = fresh_name(prefix)
    with platform.db.unit_of_work() as session:
        service.create_user(
            session,
            username=username,
            password=PASSWORD,
            roles=[role],
            display_name=f"{prefix} {username[-4:]}",
            extension=extension,
        )
    return username


def log_in(page: Page, platform: Platform, username: str, next_path: str) -> None:
    page.goto(f"{platform.web}/login?next={next_path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(next_path.split("?")[0])))


@contextmanager
def api_as(platform: Platform, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.web, headers={"origin": platform.web}, timeout=10) as client:
        reply = client.post("/api/session", json={"username": username, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        yield client


# ----- the supervisor's path, for reuse -----------------------------------------------------------


@dataclass
class Heard:
    """What supervisor_plays did: who listened, to which recording, why, and what the audio
    requests were answered."""

    username: str
    recording_id: int
    reason: str
    audio_statuses: list[int] = field(default_factory=list)


def supervisor_plays(
    page: Page,
    platform: Platform,
    word: str,
    call_uniqueid: str,
    *,
    reason: str = REASON,
    shots: str = "recordings",
) -> Heard:
    """A new supervisor (in no team: every call) logs in, searches the recordings for ``word``
    until the call shows (its transcript may still be on its way), opens it, gives ``reason`` and
    plays it. Returns once the <audio> element is playing (not paused, its time moving), having
    checked that an audio request was answered 206 Partial Content."""
    username = add_person(platform, "banzhang", "supervisor")
    log_in(page, platform, username, "/recordings")
    expect(page).to_have_title(re.compile(r"^录音查询 · "))

    row = page.locator(f'#results tbody tr[data-uniqueid="{call_uniqueid}"]')
    page.get_by_label("通话内容").fill(word)
    deadline = time.monotonic() + SEARCH_SECONDS
    while True:
        with page.expect_response(lambda r: "/api/recordings/search" in r.url) as searched:
            page.get_by_role("button", name="查询").click()
        assert searched.value.status == 200, searched.value.text()
        if row.count():
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_uniqueid} not found by {word!r} in {SEARCH_SECONDS:.0f}s")
        time.sleep(2)
    expect(row.locator("mark").first).to_have_text(re.compile(re.escape(word), re.IGNORECASE))
    shot(page, f"{shots}-1-found")

    recording_id = int(row.get_attribute("data-recording-id") or 0)
    with page.expect_navigation(wait_until="load"):
        row.locator("a").first.click()
    expect(page).to_have_url(re.compile(rf"/recordings/{recording_id}\?"))
    expect(page.locator("#recording")).to_be_visible()
    expect(page.locator("#integrity")).to_have_attribute("data-state", "ok")
    expect(page.locator(".lane-label[data-channel='caller']")).to_have_text("来电人")
    expect(page.locator(".lane-label[data-channel='agent']")).to_have_text("坐席")

    heard = Heard(username, recording_id, reason)

    def keep(response: Response) -> None:
        if f"/api/recordings/{recording_id}/audio" in response.url:
            heard.audio_statuses.append(response.status)

    page.on("response", keep)
    page.get_by_role("button", name="播放").click()
    dialog = page.locator("#reason-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#reason-title")).to_have_text("请说明收听原因")
    page.get_by_label("原因", exact=True).fill(reason)
    shot(page, f"{shots}-2-reason")
    page.get_by_role("button", name="确定").click()
    expect(dialog).to_be_hidden()
    page.wait_for_function(
        "() => { const a = document.getElementById('audio'); return !a.paused && a.currentTime > 0; }",
        timeout=15_000,
    )
    expect(page.locator("#player-status")).to_have_text("正在播放")
    shot(page, f"{shots}-3-playing")
    assert 206 in heard.audio_statuses, heard.audio_statuses
    assert all(status in (200, 206) for status in heard.audio_statuses), heard.audio_statuses
    return heard


# ----- a finished call on record ------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedCall:
    uniqueid: str
    recording_id: int
    agent: str


def spoken(text: str, work: Path) -> tuple[np.ndarray, int]:
    wav = work / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), text], check=True, timeout=30)
    samples, rate = sf.read(str(wav), dtype="int16")
    return samples, int(rate)


def record_call(platform: Platform, work: Path, agent: str) -> RecordedCall:
    """A call answered by ``agent``, finished as the workers finish one: archive, hash, transcript."""
    work.mkdir(parents=True, exist_ok=True)
    greeting, rate = spoken(AGENT_SAYS, work)
    complaint, caller_rate = spoken(CALLER_SAYS, work)
    assert caller_rate == rate
    gap = np.zeros(rate // 2, dtype=np.int16)
    # The agent greets, the caller answers after: each leg silent while the other speaks.
    agent_leg = np.concatenate([greeting, gap, np.zeros_like(complaint)])
    caller_leg = np.concatenate([np.zeros_like(greeting), gap, complaint])
    greeting_ms = round(len(greeting) * 1000 / rate)
    complaint_at = greeting_ms + 500
    total_ms = round(len(caller_leg) * 1000 / rate)

    uniqueid = f"{int(time.time())}.{90000 + next(_numbers)}"
    started = utcnow() - timedelta(minutes=3)
    base = platform.state_dir / "recordings" / "browser" / uniqueid
    # As the recorder leaves a call: the archive is the mix, each leg's waveform is kept beside it.
    archive = audio.write_archive(
        base, "opus", caller=audio.mix_to_mono(caller_leg, agent_leg), agent=None, rate=rate
    )
    legs = {}
    for speaker, samples in (("caller", caller_leg), ("agent", agent_leg)):
        leg = work / f"{uniqueid}-{speaker}.wav"
        sf.write(str(leg), samples, rate, subtype="PCM_16")
        legs[speaker] = audio.peaks(leg, PEAK_BUCKETS)[0]
    peaks_file(str(base)).write_text(json.dumps(legs), encoding="utf-8")
    with platform.db.unit_of_work() as session:
        session.add(
            Call(
                uniqueid=uniqueid,
                linkedid=uniqueid,
                channel=f"PJSIP/carrier-{uniqueid}",
                caller_number="13800138000",
                caller_name="张三",
                called_number="12345",
                trunk="carrier",
                started_at=started,
                answered_at=started + timedelta(seconds=1),
                agent_connected_at=started + timedelta(seconds=8),
                ended_at=started + timedelta(seconds=8, milliseconds=total_ms),
                duration_seconds=8 + total_ms // 1000,
                disposition=Disposition.ANSWERED,
                queue="main",
                agent=agent,
            )
        )
        recording = Recording(
            kind=RecordingKind.CALL,
            call_uniqueid=uniqueid,
            path=str(base),
            format="wav",
            created_at=started + timedelta(seconds=8),
            started_at=started + timedelta(seconds=8),
            ended_at=started + timedelta(seconds=8, milliseconds=total_ms),
            duration_ms=total_ms,
            status=RecordingStatus.COMPLETE,
            archive_path=str(archive),
            archive_format="opus",
            sha256=audio.sha256_file(archive),
            size_bytes=archive.stat().st_size,
        )
        session.add(recording)
        session.flush()
        transcript = Transcript(
            recording_id=recording.id,
            call_uniqueid=uniqueid,
            engine="espeak-ng script",
            text=f"agent: {AGENT_SAYS}\ncaller: {CALLER_SAYS}",
            search_text=vocabulary.search_text(f"{AGENT_SAYS} {CALLER_SAYS}"),
            created_at=utcnow(),
        )
        session.add(transcript)
        session.flush()
        for speaker, start_ms, end_ms, words in (
            ("agent", 0, greeting_ms, AGENT_SAYS),
            ("caller", complaint_at, total_ms, CALLER_SAYS),
        ):
            session.add(
                TranscriptSegment(
                    transcript_id=transcript.id, speaker=speaker, start_ms=start_ms, end_ms=end_ms, text=words
                )
            )
        session.add(
            KeyPhraseHit(
                recording_id=recording.id,
                call_uniqueid=uniqueid,
                phrase="street light",
                category="street_light",
                urgent=False,
                speaker="caller",
                start_ms=complaint_at + 300,
            )
        )
        return RecordedCall(uniqueid, recording.id, agent)


# ----- the tests ----------------------------------------------------------------------------------


@pytest.fixture
def page(artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page() as opened:
        try:
            yield opened
        finally:
            shot(opened, f"recordings-last-{request.node.name[:60]}", artifacts_dir / "screenshots")


@pytest.fixture
def recorded(platform: Platform, tmp_path: Path) -> RecordedCall:
    answered_by = add_person(platform, "zuoxi", "agent")  # a web seat: calls hold the username
    return record_call(platform, tmp_path / "speech", answered_by)


def test_given_a_recorded_call_when_a_supervisor_searches_a_word_and_plays_it_then_the_listen_is_audited(
    platform: Platform, page: Page, recorded: RecordedCall
) -> None:
    heard = supervisor_plays(page, platform, "street", recorded.uniqueid)

    assert heard.recording_id == recorded.recording_id
    # The transcript follows the audio: a line is marked current, and a click on the caller's
    # line moves the audio there.
    expect(page.locator("#lines li.current")).to_have_count(1)
    caller_line = page.locator("#lines li[data-speaker='caller']")
    expect(caller_line).to_contain_text(CALLER_SAYS)
    caller_line.click()
    start = int(caller_line.get_attribute("data-start") or 0) / 1000
    page.wait_for_function(f"() => document.getElementById('audio').currentTime >= {start}", timeout=5000)
    expect(caller_line).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator("#phrases li")).to_contain_text(["street light"])
    shot(page, "recordings-4-seeked")

    # The audit log (an administrator's view of it) has the listen, the reason and the call.
    admin = add_person(platform, "guanliyuan", "administrator")
    with api_as(platform, admin) as client:
        entries = client.get("/api/audit", params={"limit": 100}).json()
    [listen] = [e for e in entries if e["actor"] == heard.username and e["action"] == "recording.listen"]
    assert listen["outcome"] == "ok"
    assert listen["detail"] == REASON
    assert listen["target"] == f"recording:{recorded.recording_id} call:{recorded.uniqueid}"
    assert listen["source_ip"] == "127.0.0.1"


def test_given_an_agent_who_did_not_answer_the_call_when_opening_it_then_the_page_shows_the_refusal(
    platform: Platform, page: Page, recorded: RecordedCall
) -> None:
    other = add_person(platform, "zuoxi", "agent")
    log_in(page, platform, other, f"/recordings/{recorded.recording_id}")

    refusal = page.locator("#refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_text("无权访问：you may only hear the calls you answered")
    expect(page.locator("#recording")).to_be_hidden()
    expect(page.locator("#audio")).to_be_hidden()
    shot(page, "recordings-5-agent-refused")

    # The search does not even show them the call.
    with page.expect_response(lambda r: "/api/recordings/search" in r.url) as searched:
        page.goto(f"{platform.web}/recordings?lang=en&words=street")
    assert searched.value.status == 200
    expect(page.locator("#search-form input[name='words']")).to_have_value("street")
    expect(page.locator(f'#results tbody tr[data-uniqueid="{recorded.uniqueid}"]')).to_have_count(0)
    shot(page, "recordings-6-agent-search-en")

    with api_as(platform, other) as client:
        detail = client.get(f"/api/recordings/{recorded.recording_id}")
        access = client.post(
            f"/api/recordings/{recorded.recording_id}/access",
            json={"purpose": "listen", "reason": "just curious"},
        )
    assert detail.status_code == 403 and access.status_code == 403
    assert access.json() == {"detail": "you may only hear the calls you answered"}

    admin = add_person(platform, "guanliyuan", "administrator")
    with api_as(platform, admin) as client:
        entries = client.get("/api/audit", params={"limit": 100}).json()
    refused = [e for e in entries if e["actor"] == other and e["action"] == "recording.listen"]
    assert len(refused) == 3  # the page's request, then the two above
    assert {e["outcome"] for e in refused} == {"refused"}
    assert {e["target"] for e in refused} == {f"recording:{recorded.recording_id} call:{recorded.uniqueid}"}


def test_given_the_agent_who_answered_when_opening_the_call_then_they_may_hear_it(
    platform: Platform, page: Page, recorded: RecordedCall
) -> None:
    # The test platform keeps the default recording.agents_hear_own = true.
    assert platform.settings.recording.agents_hear_own
    log_in(page, platform, recorded.agent, f"/recordings/{recorded.recording_id}")

    expect(page.locator("#recording")).to_be_visible()
    expect(page.locator("#refusal")).to_be_hidden()
    page.get_by_role("button", name="下载").click()
    expect(page.locator("#reason-title")).to_have_text("请说明下载原因")
    page.get_by_label("原因", exact=True).fill("ab")
    page.get_by_role("button", name="确定").click()
    expect(page.locator("#reason-error")).to_have_text("原因至少需要 4 个字符。")
    page.get_by_label("原因", exact=True).fill("复核自己的通话")
    with page.expect_download() as download:
        page.get_by_role("button", name="确定").click()
    assert download.value.suggested_filename == f"call-{recorded.uniqueid}.opus"
    expect(page.locator("#player-status")).to_have_text("已开始下载。")
    shot(page, "recordings-7-agent-download")
