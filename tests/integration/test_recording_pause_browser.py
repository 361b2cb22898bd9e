"""An agent pauses the recording while a citizen reads out an ID number, in the real console.

Real parts only, as in test_softphone_browser.py: Debian's Chromium (its fake microphone plays a
steady tone: the agent's voice), JsSIP over Asterisk's websocket, a sipp caller on the "desk"
trunk, the seats component, Redis, the web process and the database. Each check is made where it
is true: the badge in the page, the MixMonitorMute event from Asterisk, silence in the file
Asterisk wrote, and the RecordingPause rows. Screenshots: recording-pause-*.png.
"""

from __future__ import annotations

import array
import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from recording.models import Recording, RecordingPause, RecordingStatus
from tests.integration.browser import open_page, shot
from tests.integration.harness import AmiRecorder, Platform, closed_rows_since, poll
from tests.integration.seats_support import (
    SEAT_PASSWORD,
    CallInBackground,
    add_seat_user,
    log_in,
    seat_state,
)

AGENT, AGENT_EXT = "qian.li", "2501"  # nobody else in the suite uses these
CALLER = "13712345678"
RATE = 8000  # Asterisk writes the MixMonitor legs as 8 kHz 16-bit mono WAV
HEADER = 44
FRAME = RATE // 50  # 20 ms, Asterisk's frame
SPEAKING = 300.0  # RMS of a 100 ms window of the tone; a muted stretch is written as zeros
# Between a click and Asterisk's event, and the frames around a mute: what a stretch may differ by.
SLACK_SECONDS = 1.0


@pytest.fixture(scope="module")
def seats(platform: Platform) -> Platform:
    add_seat_user(platform, AGENT, AGENT_EXT, "agent", skills={"desk": 0})
    return platform


@pytest.fixture
def console(seats: Platform, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The agent's console, softphone registered, seat logged in; logged out again afterwards."""
    try:
        with open_page(media=True) as page:
            try:
                log_in(page, seats.web, AGENT, "/agent")
                expect(page.locator("#sip-status")).to_have_attribute(
                    "data-state", "registered", timeout=15_000
                )
                page.locator("#btn-login").click()
                expect(page.locator("#seat-state")).to_have_attribute("data-state", "available")
                yield page
            finally:
                shot(page, f"recording-pause-last-{request.node.name[:50]}")
    finally:
        leave(seats)


def leave(platform: Platform) -> None:
    """Best effort: the seat out of its queue for the next test, passed or failed."""
    with (
        contextlib.suppress(httpx.HTTPError),
        httpx.Client(base_url=platform.web, headers={"origin": platform.web}, timeout=10) as api,
    ):
        api.post("/api/session", json={"username": AGENT, "password": SEAT_PASSWORD})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (seat_state(AGENT) or {}).get("state") != "logged_out":
            if (seat_state(AGENT) or {}).get("state") != "on_call":  # a call ends with its browser
                api.post("/api/seat/logout")
            time.sleep(0.5)


def pauses_of(platform: Platform, uniqueid: str) -> list[RecordingPause]:
    with platform.db.unit_of_work() as session:
        rows = session.scalars(
            select(RecordingPause)
            .where(RecordingPause.call_uniqueid == uniqueid)
            .order_by(RecordingPause.paused_at)
        )
        return list(rows)


def rows_when(platform: Platform, uniqueid: str, what: str, *closed: bool) -> list[RecordingPause]:
    """The call's pause rows once there are as many as ``closed`` says, each closed or open as it
    says. The console hears the seat's change on its websocket a moment before the web route's
    transaction with the row commits: rows are awaited, not read once."""

    def as_said() -> list[RecordingPause] | None:
        rows = pauses_of(platform, uniqueid)
        ends = tuple(r.resumed_at is not None for r in rows)
        return rows if ends == closed else None

    return poll(what, as_said, 10)


def recording_of(platform: Platform, uniqueid: str) -> Recording | None:
    with platform.db.unit_of_work() as session:
        return session.scalar(select(Recording).where(Recording.call_uniqueid == uniqueid))


def open_agent_leg(platform: Platform, uniqueid: str) -> BinaryIO:
    """The file Asterisk writes the agent's voice to (MixMonitor's t() on the caller's channel),
    opened now: the worker may archive and remove it after the call, the open handle still reads it.
    """

    def written() -> Path | None:
        row = recording_of(platform, uniqueid)
        leg = Path(row.legs["agent"]) if row is not None else None
        return leg if leg is not None and leg.exists() else None

    return poll("the agent leg being recorded", written, 15).open("rb")


def samples_of(leg: BinaryIO) -> array.array[int]:
    """All the samples, read after Asterisk closed the file (it buffers up to 64 KB: the file on
    disk is seconds behind the call while it is being written)."""
    leg.seek(HEADER)
    raw = leg.read()
    return array.array("h", raw[: len(raw) // 2 * 2])


def silent_stretches(samples: array.array[int], at_least: float = 0.8) -> list[tuple[float, float]]:
    """(start, end) seconds of each run of digital silence of at least ``at_least`` seconds: a
    muted MixMonitor writes zeros, the agent's tone is never zero for a whole frame."""
    runs: list[tuple[float, float]] = []
    start: int | None = None
    for i in range(0, len(samples) - FRAME + 1, FRAME):
        quiet = max(map(abs, samples[i : i + FRAME])) <= 2
        if quiet and start is None:
            start = i
        elif not quiet and start is not None:
            runs.append((start / RATE, i / RATE))
            start = None
    if start is not None:
        runs.append((start / RATE, len(samples) / RATE))
    return [(a, b) for a, b in runs if b - a >= at_least]


def loudest(samples: array.array[int], start: float, end: float, window: int = RATE // 10) -> float:
    """RMS of the loudest 100 ms window between two times (seconds) of the file."""
    part = samples[int(start * RATE) : int(end * RATE)]
    windows = (part[i : i + window] for i in range(0, len(part) - window + 1, window))
    return max((math.sqrt(sum(x * x for x in w) / len(w)) for w in windows), default=0.0)


def test_given_an_agent_on_a_call_when_they_pause_recording_then_nothing_is_kept_until_they_resume(
    seats: Platform, console: Page, ami: AmiRecorder, tmp_path: Path
) -> None:
    platform, page = seats, console
    button, badge = page.locator("#btn-recording"), page.locator("#recording-paused")
    # No call, no button: there is nothing to pause.
    expect(page.locator("#recording-controls")).to_be_hidden()

    # 1. A citizen calls and the agent answers: the button shows, the badge does not.
    first = platform.last_call_id()
    caller = CallInBackground(platform, tmp_path / "caller", seconds=45, caller=CALLER)
    expect(page.locator("#incoming")).to_be_visible(timeout=20_000)
    page.locator("#btn-answer").click()
    expect(page.locator("#seat-state")).to_have_attribute("data-state", "on_call")
    expect(button).to_be_visible()
    expect(button).to_have_text("暂停录音")
    expect(badge).to_be_hidden()
    uniqueid = ((seat_state(AGENT) or {}).get("call") or {}).get("caller")
    assert uniqueid, seat_state(AGENT)
    leg = open_agent_leg(platform, uniqueid)
    time.sleep(2)  # some of the agent's voice recorded before the pause

    # 2. The citizen is about to read out an ID number: pause. The red badge says so.
    button.click()
    expect(badge).to_be_visible()
    expect(badge).to_have_text("录音已暂停")
    expect(button).to_have_text("继续录音")
    shot(page, "recording-pause-1-paused")
    # Asterisk muted the MixMonitor of the caller's channel, both directions.
    muted = ami.wait_for("MixMonitorMute", Uniqueid=uniqueid, State="1")
    paused_at = time.monotonic()
    assert muted["Direction"] == "both", muted
    (row,) = rows_when(platform, uniqueid, "the pause's row", False)
    assert row.paused_by == AGENT
    assert (seat_state(AGENT) or {}).get("recording_paused") is True

    time.sleep(4)  # the ID number being read out

    # 3. Resume: the badge goes, the row is closed, Asterisk unmutes.
    button.click()
    expect(badge).to_be_hidden()
    expect(button).to_have_text("暂停录音")
    ami.wait_for("MixMonitorMute", Uniqueid=uniqueid, State="0")
    first_pause = time.monotonic() - paused_at
    (row,) = rows_when(platform, uniqueid, "the pause's row closed by the resume", True)
    assert row.resumed_at is not None and row.resumed_at > row.paused_at
    shot(page, "recording-pause-2-resumed")
    time.sleep(2.5)  # the agent's voice recorded again

    # 4. Paused again, and the agent hangs up before resuming: the call's end ends the pause.
    button.click()
    expect(badge).to_be_visible()
    ami.wait_for("MixMonitorMute", Uniqueid=uniqueid, State="1", timeout=10)
    time.sleep(2)
    page.locator("#btn-hangup").click()
    expect(page.locator("#seat-state")).to_have_attribute("data-state", "wrap_up")
    expect(page.locator("#recording-controls")).to_be_hidden()
    closed = rows_when(platform, uniqueid, "the second pause closed by the call's end", True, True)
    assert closed[1].paused_by == AGENT
    assert (seat_state(AGENT) or {}).get("recording_paused") is False
    page.locator("#disposition").select_option("resolved")
    page.locator("#btn-wrapup-done").click()
    expect(page.locator("#seat-state")).to_have_attribute("data-state", "available")
    caller.join(30)
    (call,) = closed_rows_since(platform, first)
    assert (call.uniqueid, call.agent) == (uniqueid, AGENT)

    # 5. What Asterisk wrote: the agent's voice, zeros for as long as each pause lasted (the
    # second one up to the hang-up), the voice between them.
    poll(
        "Asterisk done writing the recording",
        lambda: (row := recording_of(platform, uniqueid)) and row.status != RecordingStatus.RECORDING,
        15,
    )
    time.sleep(0.5)  # MixMonitor closes its files as the caller's channel goes
    samples = samples_of(leg)
    leg.close()
    stretches = silent_stretches(samples)
    length = len(samples) / RATE
    assert len(stretches) == 2, (stretches, length)
    (muted_from, muted_to), (second_from, second_to) = stretches
    assert abs((muted_to - muted_from) - first_pause) < SLACK_SECONDS, (stretches, first_pause)
    assert second_to > length - 0.1, (stretches, length)  # muted to the end of the call
    assert loudest(samples, 0, muted_from) > SPEAKING, "no voice before the pause"
    assert loudest(samples, muted_to, second_from) > SPEAKING, "no voice after the resume"
