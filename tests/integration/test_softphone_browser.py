"""An agent answers a citizen in the browser softphone while a supervisor watches the wallboard.

Real parts only: Debian's Chromium (fake microphone), JsSIP over Asterisk's websocket with
DTLS-SRTP, a sipp caller on the "desk" trunk, the seats component, Redis pub/sub and the web
process. Screenshots: test-artifacts/screenshots/softphone-*.png.
"""

from __future__ import annotations

import array
import math
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from asterisk_conf.layout import InstanceLayout
from telephony.models import Call
from tests.integration.browser import open_pages, shot
from tests.integration.harness import Platform, closed_rows_since, poll
from tests.integration.seats_support import CallInBackground, add_seat_user, log_in, seat_state

CALLER = "13912345678"
MASKED = "139****5678"
AGENT, AGENT_EXT = "li.na", "2001"
SUPERVISOR, SUPERVISOR_EXT = "wang.jun", "3001"


@pytest.fixture(scope="module")
def seats(platform: Platform) -> Platform:
    add_seat_user(platform, AGENT, AGENT_EXT, "agent", skills={"desk": 0})
    add_seat_user(platform, SUPERVISOR, SUPERVISOR_EXT, "supervisor", skills={})
    return platform


@pytest.fixture
def two_pages(seats: Platform, request: pytest.FixtureRequest) -> Iterator[tuple[Page, ...]]:
    """The agent's browser and the supervisor's."""
    with open_pages(2, media=True) as pages:
        try:
            yield pages
        finally:
            for who, page in zip(("agent", "supervisor"), pages, strict=True):
                shot(page, f"softphone-{who}-last-{request.node.name[:50]}")


def loudest_window_rms(wav: Path, window_ms: int = 100) -> float:
    """RMS of the loudest window of a 16-bit mono WAV: speech or a beep is hundreds or more,
    silence (or comfort noise) a few."""
    with wave.open(str(wav)) as audio:
        assert audio.getsampwidth() == 2 and audio.getnchannels() == 1, audio.getparams()
        samples = array.array("h", audio.readframes(audio.getnframes()))
        step = audio.getframerate() * window_ms // 1000
    windows = (samples[i : i + step] for i in range(0, len(samples) - step + 1, step))
    return max((math.sqrt(sum(x * x for x in w) / len(w)) for w in windows), default=0.0)


def stats(page: Page, handle: str) -> dict[str, int]:
    result: dict[str, int] = page.evaluate(f"() => window.{handle}.softphone.stats()")
    return result


def test_given_an_available_agent_when_a_citizen_calls_then_one_click_answers_with_audio_both_ways(
    seats: Platform, two_pages: tuple[Page, ...], tmp_path: Path
) -> None:
    platform = seats
    agent_page, supervisor_page = two_pages
    # 1. The agent logs in to the console; the softphone registers; one click makes the seat available.
    log_in(agent_page, platform.web, AGENT, "/agent")
    expect(agent_page).to_have_url(f"{platform.web}/agent")
    expect(agent_page.locator("#sip-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    expect(agent_page.locator("#seat-state")).to_have_attribute("data-state", "logged_out")
    agent_page.locator("#btn-login").click()
    expect(agent_page.locator("#seat-state")).to_have_attribute("data-state", "available")
    shot(agent_page, "softphone-1-agent-available")

    # 2. The supervisor opens the wallboard and sees the agent available, without reloading.
    log_in(supervisor_page, platform.web, SUPERVISOR, "/wallboard")
    expect(supervisor_page.locator("#ws-status")).to_have_attribute("data-state", "open")
    row = supervisor_page.locator(f'#agents tr[data-agent="{AGENT}"]')
    expect(row.locator(".state")).to_have_attribute("data-state", "available")
    expect(supervisor_page.locator("#sip-status")).to_have_attribute(
        "data-state", "registered", timeout=15_000
    )
    shot(supervisor_page, "softphone-2-wallboard")

    # 3. A citizen calls: the agent's page rings with the screen pop; the wallboard shows the caller waiting.
    first = platform.last_call_id()
    caller = CallInBackground(platform, tmp_path / "caller", seconds=40, caller=CALLER)
    expect(agent_page.locator("#incoming")).to_be_visible(timeout=20_000)
    expect(agent_page.locator("#seat-state")).to_have_attribute("data-state", "ringing")
    expect(agent_page.locator("#pop-number")).to_contain_text(CALLER)
    expect(agent_page.locator("#pop-queue")).to_contain_text("desk")
    tile = supervisor_page.locator('.queue-tile[data-queue="desk"]')
    expect(tile.locator(".waiting")).to_have_text("1")
    expect(row.locator(".state")).to_have_attribute("data-state", "ringing")
    expect(row.locator(".caller")).to_contain_text(MASKED)
    shot(agent_page, "softphone-3-ringing-with-pop")
    shot(supervisor_page, "softphone-3-wallboard-waiting")

    # 4. One click answers. Audio both ways: the browser receives the caller's RTP and sends its own.
    agent_page.locator("#btn-answer").click()
    expect(agent_page.locator("#seat-state")).to_have_attribute("data-state", "on_call")
    expect(row.locator(".state")).to_have_attribute("data-state", "on_call")
    expect(tile.locator(".waiting")).to_have_text("0")
    # Asterisk records what it hears from the browser on the agent's leg (MixMonitor's r() file):
    # Chromium's fake microphone beeps, so that recording must not be silent.
    agent_leg = ((seat_state(AGENT) or {}).get("call") or {}).get("channel")
    assert agent_leg, seat_state(AGENT)
    agent_wav = (
        InstanceLayout.for_settings(platform.settings).spool / "test-agent-leg" / f"{time.time_ns()}.wav"
    )
    platform.rx(f"mixmonitor start {agent_leg} {agent_wav.with_suffix('.mix.wav')},r({agent_wav})")
    before = stats(agent_page, "hotlineConsole")
    time.sleep(2)
    after = stats(agent_page, "hotlineConsole")
    platform.rx(f"mixmonitor stop {agent_leg}")
    assert after["packetsReceived"] - before["packetsReceived"] > 50, (before, after)
    assert after["packetsSent"] - before["packetsSent"] > 50, (before, after)
    poll(
        "the agent leg's recording written",
        lambda: agent_wav.exists() and agent_wav.stat().st_size > 8000,
        10,
    )
    assert loudest_window_rms(agent_wav) > 300, "the agent's leg recorded in Asterisk is silent"
    shot(agent_page, "softphone-4-on-call")

    # 5. Whisper: the supervisor's own softphone is rung into the call and hears it.
    row.locator("button.whisper").click()
    expect(supervisor_page.locator("#spy-status")).to_be_visible(timeout=15_000)
    poll(
        "ChanSpy on the agent's call",
        lambda: "ChanSpy" in platform.rx("core show channels verbose") or None,
        15,
    )
    time.sleep(2)
    heard = stats(supervisor_page, "hotlineWallboard")
    assert heard["packetsReceived"] > 50, heard
    shot(supervisor_page, "softphone-5-whisper")
    supervisor_page.locator("#btn-spy-hangup").click()

    # 6. The agent hangs up, records the outcome, and is available again.
    agent_page.locator("#btn-hangup").click()
    expect(agent_page.locator("#seat-state")).to_have_attribute("data-state", "wrap_up")
    expect(agent_page.locator("#wrapup")).to_be_visible()
    expect(row.locator(".state")).to_have_attribute("data-state", "wrap_up")
    agent_page.locator("#disposition").select_option("resolved")
    agent_page.locator("#wrapup-note").fill("告知报修电话")
    shot(agent_page, "softphone-6-wrap-up")
    agent_page.locator("#btn-wrapup-done").click()
    expect(agent_page.locator("#seat-state")).to_have_attribute("data-state", "available")
    expect(row.locator(".state")).to_have_attribute("data-state", "available")
    caller.join(30)

    (call,) = closed_rows_since(platform, first)
    assert isinstance(call, Call)
    assert call.caller_number == CALLER and call.agent == AGENT and call.queue == "desk"
    assert (call.outcome, call.outcome_note) == ("resolved", "告知报修电话")
    expect(row.locator(".calls-today")).to_have_text("1")

    # 7. Logging out leaves the queue.
    agent_page.locator("#btn-logout").click()
    expect(agent_page.locator("#seat-state")).to_have_attribute("data-state", "logged_out")
    poll(
        "the seat out of the desk queue", lambda: AGENT_EXT not in platform.rx("queue show desk") or None, 10
    )
    assert (seat_state(AGENT) or {}).get("state") == "logged_out"
