"""Several agents in real browsers against the real queues: who rings, who is left ringing, a seat
that logs out mid-ring, a console that loses its links, and transfers between two softphones.

Real parts only, as in test_softphone_browser.py: Debian's Chromium (fake microphone), JsSIP over
Asterisk's websocket, sipp callers on the "desk" (ringall) and "least" (leastrecent) trunks, the
seats component, Redis and the web process. Each check is made where it is true: in the page, in
Asterisk (`queue show`), in Redis (the seat's last agent message) and in the call rows.
Screenshots: test-artifacts/screenshots/strategies-*.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from asterisk_conf.queues import WRAPUP_GUARD
from tests.integration.browser import open_pages, shot
from tests.integration.harness import Platform, closed_rows_since, poll
from tests.integration.seats_support import (
    SEAT_PASSWORD,
    CallInBackground,
    add_seat_user,
    log_in,
    seat_state,
)

# (username, extension): nobody else in the suite uses these.
DESK_A = ("gao.yan", "2401")
DESK_B = ("he.ping", "2402")
LEAST_A = ("jiang.tao", "2411")
LEAST_B = ("kong.wei", "2412")
LINK = ("ma.lan", "2421")
RING_MS = 20_000  # a caller reaches the queue and a seat rings within this


@pytest.fixture(scope="module")
def seats(platform: Platform) -> Platform:
    for username, extension in (DESK_A, DESK_B, LINK):
        add_seat_user(platform, username, extension, "agent", skills={"desk": 0})
    for username, extension in (LEAST_A, LEAST_B):
        add_seat_user(platform, username, extension, "agent", skills={"least": 0})
    return platform


# ----- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def agent_api(platform: Platform, username: str) -> Iterator[httpx.Client]:
    """The agent's own session, as a second client beside the browser (another tab, a script)."""
    with httpx.Client(base_url=platform.web, headers={"origin": platform.web}, timeout=10) as client:
        reply = client.post("/api/session", json={"username": username, "password": SEAT_PASSWORD})
        assert reply.status_code == 200, reply.text
        yield client


def leave(platform: Platform, username: str) -> None:
    """Best effort after a test, passed or failed: the seat out of its queues for the next test."""
    with contextlib.suppress(httpx.HTTPError, AssertionError), agent_api(platform, username) as api:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            reply = api.get("/api/seat")
            if reply.status_code != 200:  # the seat service busy or restarting: ask again
                time.sleep(0.5)
                continue
            state = reply.json()["agent"]["state"]
            if state == "logged_out":
                return
            if state != "on_call":  # a call ends once its browser is gone
                api.post("/api/seat/logout")
            time.sleep(0.5)


@contextlib.contextmanager
def consoles(platform: Platform, test: str, *agents: tuple[str, str]) -> Iterator[tuple[Page, ...]]:
    """One browser per agent, each on the agent console with its softphone registered and the seat
    logged out; screenshots of every page at the end, then every seat logged out."""
    try:
        with open_pages(len(agents), media=True) as pages:
            try:
                for (username, _), page in zip(agents, pages, strict=True):
                    log_in(page, platform.web, username, "/agent")
                    expect(page).to_have_url(f"{platform.web}/agent")
                    expect(page.locator("#seat-state")).to_have_attribute("data-state", "logged_out")
                for page in pages:
                    expect(page.locator("#sip-status")).to_have_attribute(
                        "data-state", "registered", timeout=15_000
                    )
                yield pages
            finally:
                for (username, _), page in zip(agents, pages, strict=True):
                    with contextlib.suppress(PlaywrightError):
                        shot(page, f"strategies-{test}-{username}-last")
    finally:
        for username, _ in agents:
            leave(platform, username)


def seat_is(page: Page, state: str) -> None:
    """The console shows the seat in this state (now, or within the default wait)."""
    expect(page.locator("#seat-state")).to_have_attribute("data-state", state)


def sign_in(page: Page) -> None:
    page.locator("#btn-login").click()
    seat_is(page, "available")


def wrap_up(page: Page, disposition: str = "resolved", note: str = "") -> None:
    seat_is(page, "wrap_up")
    expect(page.locator("#wrapup")).to_be_visible()
    page.locator("#disposition").select_option(disposition)
    page.locator("#wrapup-note").fill(note)
    page.locator("#btn-wrapup-done").click()
    seat_is(page, "available")


# Everything the page showed, in order: each change of the seat state or of the ring panel. A
# flag polled now and then could miss a ring of a second; a MutationObserver misses nothing.
WATCH = """() => {
  const seen = (window.strategiesSeen = []);
  const state = document.querySelector('#seat-state');
  const incoming = document.querySelector('#incoming');
  const note = () => {
    const now = { state: state.dataset.state, ringing: !incoming.hidden };
    const last = seen[seen.length - 1];
    if (!last || last.state !== now.state || last.ringing !== now.ringing) seen.push(now);
  };
  note();
  const observer = new MutationObserver(note);
  observer.observe(state, { attributes: true, attributeFilter: ['data-state'] });
  observer.observe(incoming, { attributes: true, attributeFilter: ['hidden'] });
}"""


def watch(page: Page) -> None:
    page.evaluate(WATCH)


def seen(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("() => window.strategiesSeen")
    return result


def states(page: Page) -> list[str]:
    """The seat states the page went through, each once per stretch (the ring panel aside)."""
    out: list[str] = []
    for entry in seen(page):
        if not out or out[-1] != entry["state"]:
            out.append(entry["state"])
    return out


def rang(page: Page) -> bool:
    return any(s["ringing"] or s["state"] == "ringing" for s in seen(page))


def received(page: Page) -> int:
    """RTP packets the softphone received on the call it hears now (the consult call, if any)."""
    totals: dict[str, int] = page.evaluate("() => window.hotlineConsole.softphone.stats()")
    return totals["packetsReceived"]


def hears_audio(page: Page, seconds: float = 2.0) -> None:
    before = received(page)
    time.sleep(seconds)
    after = received(page)
    assert after - before > 25 * seconds, (before, after)


def takes_a_call(platform: Platform, page: Page, work: Path, number: str, agent: str) -> None:
    """A citizen calls the desk queue: the page rings, answers, hears the caller, hangs up and wraps
    up; the call's row names the agent."""
    first = platform.last_call_id()
    caller = CallInBackground(platform, work, seconds=30, caller=number)
    expect(page.locator("#incoming")).to_be_visible(timeout=RING_MS)
    page.locator("#btn-answer").click()
    seat_is(page, "on_call")
    hears_audio(page)
    page.locator("#btn-hangup").click()
    wrap_up(page)
    caller.join(30)
    (call,) = closed_rows_since(platform, first)
    assert call.agent == agent


def queue_show(platform: Platform, queue: str) -> str:
    return platform.rx(f"queue show {queue}")


def member_line(platform: Platform, queue: str, extension: str) -> str:
    """The member's line of `queue show`, "" when the seat is not a member."""
    lines = queue_show(platform, queue).splitlines()
    return next((line for line in lines if f"(PJSIP/seat{extension})" in line), "")


def joined(platform: Platform, queue: str, extension: str) -> str:
    """Wait until the seat is a member of the queue in Asterisk; its `queue show` line."""
    return poll(f"seat{extension} in {queue}", lambda: member_line(platform, queue, extension) or None, 10)


def callers_waiting(platform: Platform, queue: str) -> int:
    match = re.search(r" has (\d+) calls? ", queue_show(platform, queue))
    assert match, queue_show(platform, queue)
    return int(match.group(1))


def redis_state(username: str) -> str:
    return str((seat_state(username) or {}).get("state"))


def pages_ringing(pages: tuple[Page, ...], timeout: float = RING_MS / 1000) -> list[int]:
    """The indexes of the pages whose ring panel shows, as soon as one does."""
    return poll(
        "a page ringing",
        lambda: [i for i, p in enumerate(pages) if p.locator("#incoming").is_visible()] or None,
        timeout,
        every=0.05,
    )


def bridged_with_caller(platform: Platform, extension: str, trunk: str) -> bool:
    """Asterisk has the seat's channel and the caller's trunk channel in one bridge."""
    bridges: dict[str, str] = {}
    for line in platform.rx("core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 12:
            bridges[fields[0]] = fields[12]
    seat = {b for ch, b in bridges.items() if ch.startswith(f"PJSIP/seat{extension}-") and b}
    caller = {b for ch, b in bridges.items() if ch.startswith(f"PJSIP/{trunk}-") and b}
    return bool(seat & caller)


# ----- 1. ringall --------------------------------------------------------------------------------


def test_given_two_agents_on_ringall_when_a_citizen_calls_then_both_ring_and_the_other_is_freed_on_answer(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    (a, a_ext), (b, b_ext) = DESK_A, DESK_B
    with consoles(platform, "ringall", DESK_A, DESK_B) as (page_a, page_b):
        # Both agents log in: both are members of the desk queue, both available.
        sign_in(page_a)
        sign_in(page_b)
        joined(platform, "desk", a_ext)
        joined(platform, "desk", b_ext)
        assert "Not in use" in member_line(platform, "desk", a_ext)
        assert "Not in use" in member_line(platform, "desk", b_ext)
        watch(page_a)
        watch(page_b)

        # A citizen calls: ringall rings both browsers at once, and both seats say so everywhere.
        first = platform.last_call_id()
        caller = CallInBackground(platform, tmp_path / "caller", seconds=30, caller="13700001111")
        expect(page_a.locator("#incoming")).to_be_visible(timeout=RING_MS)
        expect(page_b.locator("#incoming")).to_be_visible()
        seat_is(page_a, "ringing")
        seat_is(page_b, "ringing")
        expect(page_a.locator("#incoming-number")).to_contain_text("13700001111")
        expect(page_b.locator("#incoming-number")).to_contain_text("13700001111")
        assert (redis_state(a), redis_state(b)) == ("ringing", "ringing")
        assert callers_waiting(platform, "desk") == 1
        assert "'ringall' strategy" in queue_show(platform, "desk")
        assert "Ringing" in member_line(platform, "desk", a_ext), member_line(platform, "desk", a_ext)
        assert "Ringing" in member_line(platform, "desk", b_ext), member_line(platform, "desk", b_ext)
        shot(page_a, "strategies-1-ringall-a-ringing")
        shot(page_b, "strategies-1-ringall-b-ringing")

        # A answers. B's ring stops: its page and its seat are available again, not left ringing.
        page_a.locator("#btn-answer").click()
        seat_is(page_a, "on_call")
        expect(page_b.locator("#incoming")).to_be_hidden()
        seat_is(page_b, "available")
        poll("B available in Redis", lambda: redis_state(b) == "available", 10)
        poll("no caller left waiting", lambda: callers_waiting(platform, "desk") == 0, 10)
        hears_audio(page_a)
        time.sleep(2)  # still true a moment later: nothing rings B again, nothing sticks
        seat_is(page_b, "available")
        assert redis_state(b) == "available" and redis_state(a) == "on_call"
        assert "Not in use" in member_line(platform, "desk", b_ext), member_line(platform, "desk", b_ext)
        assert "in call" in member_line(platform, "desk", a_ext).lower(), member_line(platform, "desk", a_ext)
        assert states(page_b) == ["available", "ringing", "available"], seen(page_b)
        shot(page_a, "strategies-1-ringall-a-on-call")
        shot(page_b, "strategies-1-ringall-b-available-again")

        # A hangs up and wraps up; the call is A's.
        page_a.locator("#btn-hangup").click()
        wrap_up(page_a, "resolved", "路灯报修已转交")
        caller.join(30)
        (call,) = closed_rows_since(platform, first)
        assert call.agent == a and call.queue == "desk" and call.caller_number == "13700001111"
        assert (call.outcome, call.outcome_note) == ("resolved", "路灯报修已转交")
        assert "has taken 1 call" in member_line(platform, "desk", a_ext)
        assert "has taken no calls" in member_line(platform, "desk", b_ext)


# ----- 2. leastrecent ----------------------------------------------------------------------------


def test_given_two_agents_on_leastrecent_when_two_citizens_call_then_each_rings_one_agent_in_turn(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    agents = (LEAST_A, LEAST_B)
    with consoles(platform, "leastrecent", *agents) as pages:
        for page in pages:
            sign_in(page)
        for _, extension in agents:
            joined(platform, "least", extension)
            assert "has taken no calls" in member_line(platform, "least", extension)
        assert "'leastrecent' strategy" in queue_show(platform, "least")
        first = platform.last_call_id()
        answered_by: list[str] = []

        for turn, number in enumerate(("13600002222", "13600003333"), start=1):
            for page in pages:
                watch(page)
            caller = CallInBackground(
                platform, tmp_path / f"caller{turn}", seconds=30, caller=number, trunk="least"
            )
            # leastrecent rings one member at a time: exactly one page rings.
            rung = pages_ringing(pages)
            assert len(rung) == 1, rung
            ringing, other = rung[0], 1 - rung[0]
            page, idle = pages[ringing], pages[other]
            (username, extension), (idle_name, idle_ext) = agents[ringing], agents[other]
            if turn == 2:
                # The agent who took call 1 is the most recent: call 2 goes to the other one.
                assert username != answered_by[0], (username, answered_by)
            seat_is(page, "ringing")
            expect(page.locator("#incoming-number")).to_contain_text(number)
            assert redis_state(username) == "ringing" and redis_state(idle_name) == "available"
            assert "Not in use" in member_line(platform, "least", idle_ext)
            shot(page, f"strategies-2-leastrecent-call{turn}-ringing")
            shot(idle, f"strategies-2-leastrecent-call{turn}-idle")

            page.locator("#btn-answer").click()
            seat_is(page, "on_call")
            hears_audio(page)
            page.locator("#btn-hangup").click()
            wrap_up(page, "resolved")
            caller.join(30)
            answered_by.append(username)
            # The other page never rang, never left "available", for the whole call.
            assert not rang(idle), seen(idle)
            assert states(idle) == ["available"], seen(idle)
            assert "has taken 1 call" in member_line(platform, "least", extension)
            # app_queue keeps a seat out for its wrapuptime (a guard of a few seconds) after a
            # call: let it pass, so that only the strategy can keep call 2 from this agent.
            time.sleep(WRAPUP_GUARD + 1)

        rows = closed_rows_since(platform, first, count=2)
        assert [r.agent for r in rows] == answered_by and set(answered_by) == {LEAST_A[0], LEAST_B[0]}
        assert [r.queue for r in rows] == ["least", "least"]
        for _, extension in agents:
            assert "has taken 1 call" in member_line(platform, "least", extension)


# ----- 3. logout while ringing -------------------------------------------------------------------


def test_given_a_ringing_agent_when_they_log_out_then_the_seat_leaves_and_the_caller_keeps_waiting(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    username, extension = DESK_A
    with consoles(platform, "logout-ringing", DESK_A) as (page,):
        sign_in(page)
        joined(platform, "desk", extension)
        first = platform.last_call_id()
        caller = CallInBackground(platform, tmp_path / "caller", seconds=14, caller="13500004444")
        expect(page.locator("#incoming")).to_be_visible(timeout=RING_MS)
        seat_is(page, "ringing")
        assert redis_state(username) == "ringing"
        assert any(ch.startswith(f"PJSIP/seat{extension}-") for ch in _channels(platform))
        shot(page, "strategies-3-ringing")

        # The agent logs out while the call rings.
        page.locator("#btn-logout").click()
        seat_is(page, "logged_out")
        expect(page.locator("#incoming")).to_be_hidden()
        poll("the seat out of desk", lambda: member_line(platform, "desk", extension) == "", 10)
        poll("logged out in Redis", lambda: redis_state(username) == "logged_out", 10)
        poll(
            "the ring to this seat hung up",
            lambda: not any(ch.startswith(f"PJSIP/seat{extension}-") for ch in _channels(platform)),
            10,
        )
        # The caller still waits in the queue, and nothing rings this seat again.
        assert callers_waiting(platform, "desk") == 1
        time.sleep(3)
        assert redis_state(username) == "logged_out"
        seat_is(page, "logged_out")
        expect(page.locator("#incoming")).to_be_hidden()
        assert callers_waiting(platform, "desk") == 1
        assert member_line(platform, "desk", extension) == ""
        shot(page, "strategies-3-logged-out-caller-waiting")

        # The caller gives up: the queue is empty, the call row closed without an agent.
        caller.join(40)
        poll("the caller gone from desk", lambda: callers_waiting(platform, "desk") == 0, 10)
        (call,) = closed_rows_since(platform, first)
        assert call.agent == "" and call.agent_connected_at is None, (call.agent, call.agent_connected_at)
        assert redis_state(username) == "logged_out"
        seat_is(page, "logged_out")
    platform.settle()  # no channel left up (the ring we hung up included)


# ----- 4. links lost and regained ----------------------------------------------------------------


def _chromium_connections(port: int) -> list[str]:
    """Local ports of Chromium's established TCP connections to 127.0.0.1:port."""
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established", "dst", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        m.group(1)
        for line in listing.splitlines()
        if '"chromium"' in line and (m := re.search(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:" + str(port), line))
    ]


def cut_connections(port: int) -> int:
    """Kill the browser's TCP connections to a port, as a network that drops them would.

    `ss -K` (SOCK_DESTROY, needs CAP_NET_ADMIN: the suite runs as root) aborts each socket;
    the kernel sends the server a reset. The page sees its websocket close with 1006, exactly
    what a dropped connection looks like to it.
    """
    targets = _chromium_connections(port)
    for local in targets:
        subprocess.run(
            ["ss", "-K", "state", "established", "src", f"127.0.0.1:{local}", "dst", f"127.0.0.1:{port}"],
            capture_output=True,
            check=True,
        )
    left = set(targets) & set(_chromium_connections(port))
    assert not left, f"ss -K left {sorted(left)} open (it needs CAP_NET_ADMIN)"
    return len(targets)


def test_given_an_agent_when_the_browser_loses_its_links_then_it_recovers_with_what_changed_meanwhile(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    username, extension = LINK
    web_port, sip_port = platform.settings.web.port, platform.settings.asterisk.http_port
    with consoles(platform, "link-lost", LINK) as (page,):
        context = page.context
        sign_in(page)
        expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
        joined(platform, "desk", extension)
        page.evaluate("() => { window.strategiesSamePage = true; }")  # gone if the page reloads

        # The network goes. Chromium's offline emulation alone does not do it: it freezes open
        # websockets (no frames, no close event, everything delivered when back online) rather
        # than breaking them, so the page could never notice. So the connections themselves are
        # killed (the seat websocket to the web process, the SIP websocket to Asterisk) and, once
        # the page has seen its seat link drop, the browser goes offline so that every reconnect
        # fails until the network is back. (Offline first would freeze the close event too.)
        assert cut_connections(web_port) >= 1, "no seat websocket to cut"
        assert cut_connections(sip_port) >= 1, "no SIP websocket to cut"
        page.wait_for_function(
            "() => document.querySelector('#ws-status').dataset.state !== 'open'", polling="raf"
        )
        context.set_offline(True)
        expect(page.locator("#ws-status")).to_have_attribute("data-state", "closed")
        expect(page.locator("#sip-status")).not_to_have_attribute("data-state", "registered")
        shot(page, "strategies-4-links-lost")

        # Meanwhile the agent pauses from another client (a second tab, a phone): the seat
        # service takes it, Asterisk holds it, but this page cannot hear about it.
        with agent_api(platform, username) as api:
            reply = api.post("/api/seat/pause", json={"reason": "meal"})
            assert reply.status_code == 200, reply.text
            assert reply.json()["agent"]["state"] == "paused"
        assert redis_state(username) == "paused"
        poll("paused in Asterisk", lambda: "paused:meal" in member_line(platform, "desk", extension), 10)
        # Asterisk dropped the contact with its websocket: the queue skips the seat, and the seat
        # service says the softphone cannot be reached (so nobody waits on a dead browser).
        poll("unavailable in Asterisk", lambda: "Unavailable" in member_line(platform, "desk", extension), 10)
        poll("unreachable in Redis", lambda: (seat_state(username) or {}).get("reachable") is False, 10)
        time.sleep(2)
        seat_is(page, "available")  # proof the page was cut off
        expect(page.locator("#ws-status")).not_to_have_attribute("data-state", "open")
        shot(page, "strategies-4-paused-while-offline")

        # The network comes back: both links recover by themselves, and the page shows the pause.
        context.set_offline(False)
        expect(page.locator("#ws-status")).to_have_attribute("data-state", "open", timeout=30_000)
        seat_is(page, "paused")
        expect(page.locator("#sip-status")).to_have_attribute("data-state", "registered", timeout=30_000)
        assert page.evaluate("() => window.strategiesSamePage === true"), "the page was reloaded"
        poll("the seat reachable again", lambda: (seat_state(username) or {}).get("reachable") is True, 15)
        assert "Unavailable" not in member_line(platform, "desk", extension)
        expect(page.locator("#seat-state")).to_have_attribute("data-reachable", "true")
        shot(page, "strategies-4-recovered")

        # The recovered links carry both ways: unpause in the page, then a caller reaches it.
        page.locator("#btn-unpause").click()
        seat_is(page, "available")
        poll("unpaused in Asterisk", lambda: "paused" not in member_line(platform, "desk", extension), 10)
        takes_a_call(platform, page, tmp_path / "caller", "13200007777", username)
        page.locator("#btn-logout").click()
        seat_is(page, "logged_out")


# ----- 5. transfers ------------------------------------------------------------------------------


def _answered_by_a(
    platform: Platform, page_a: Page, page_b: Page, work: Path, number: str
) -> tuple[CallInBackground, int]:
    """Both seats available on desk; a caller rings both; A answers. B is left available."""
    first = platform.last_call_id()
    caller = CallInBackground(platform, work, seconds=45, caller=number)
    expect(page_a.locator("#incoming")).to_be_visible(timeout=RING_MS)
    page_a.locator("#btn-answer").click()
    seat_is(page_a, "on_call")
    expect(page_b.locator("#incoming")).to_be_hidden()
    seat_is(page_b, "available")
    hears_audio(page_a)
    watch(page_a)
    watch(page_b)
    return caller, first


def test_given_an_agent_on_a_call_when_they_blind_transfer_to_another_agent_then_the_other_hears_the_caller(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    (a, _), (b, b_ext) = DESK_A, DESK_B
    with consoles(platform, "blind-transfer", DESK_A, DESK_B) as (page_a, page_b):
        sign_in(page_a)
        sign_in(page_b)
        caller, first = _answered_by_a(platform, page_a, page_b, tmp_path / "caller", "13400005555")

        # A picks B from the transfer list and transfers, as a person would.
        expect(page_a.locator("#btn-blind-transfer")).to_be_disabled()
        page_a.locator("#transfer-target").select_option(b_ext)
        expect(page_a.locator("#btn-blind-transfer")).to_be_enabled()
        shot(page_a, "strategies-5-blind-choose-target")
        page_a.locator("#btn-blind-transfer").click()

        # B's softphone rings (a direct call, not the queue's); B answers and hears the caller.
        expect(page_b.locator("#incoming")).to_be_visible(timeout=RING_MS)
        shot(page_b, "strategies-5-blind-b-ringing")
        page_b.locator("#btn-answer").click()
        expect(page_b.locator("#btn-hangup")).to_be_enabled()
        poll("B bridged with the caller", lambda: bridged_with_caller(platform, b_ext, "desk"), 10)
        hears_audio(page_b)
        # B's seat is on a call, in the page and for everyone else, though no queue gave it.
        seat_is(page_b, "on_call")
        assert redis_state(b) == "on_call"
        # A's part is over: no call in the page, the seat in wrap-up.
        expect(page_a.locator("#btn-hangup")).to_be_disabled()
        seat_is(page_a, "wrap_up")
        assert redis_state(a) == "wrap_up"
        shot(page_a, "strategies-5-blind-a-wrap-up")
        shot(page_b, "strategies-5-blind-b-talking")

        after_transfer(platform, caller, first, (page_a, a), (page_b, b))


def test_given_an_agent_on_a_call_when_they_consult_and_complete_the_transfer_then_the_other_has_the_caller(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    (a, a_ext), (b, b_ext) = DESK_A, DESK_B
    with consoles(platform, "attended-transfer", DESK_A, DESK_B) as (page_a, page_b):
        sign_in(page_a)
        sign_in(page_b)
        caller, first = _answered_by_a(platform, page_a, page_b, tmp_path / "caller", "13300006666")

        # A consults B: the caller waits on hold, B's page rings, B answers, A and B talk.
        page_a.locator("#transfer-target").select_option(b_ext)
        page_a.locator("#btn-consult").click()
        expect(page_b.locator("#incoming")).to_be_visible(timeout=RING_MS)
        page_b.locator("#btn-answer").click()
        expect(page_a.locator("#btn-complete-transfer")).to_be_enabled(timeout=15_000)
        expect(page_a.locator("#btn-cancel-consult")).to_be_enabled()
        poll("A and B bridged", lambda: bridged_with_caller(platform, b_ext, f"seat{a_ext}"), 10)
        hears_audio(page_b)
        shot(page_a, "strategies-6-attended-consulting")
        shot(page_b, "strategies-6-attended-b-consulted")

        # A completes the transfer: A is out of both calls, B is bridged with the caller.
        page_a.locator("#btn-complete-transfer").click()
        expect(page_a.locator("#btn-hangup")).to_be_disabled(timeout=15_000)
        seat_is(page_a, "wrap_up")
        poll("B bridged with the caller", lambda: bridged_with_caller(platform, b_ext, "desk"), 15)
        assert not any(ch.startswith(f"PJSIP/seat{a_ext}-") for ch in _channels(platform))
        hears_audio(page_b)  # A's softphone is gone from the call: this is the caller
        seat_is(page_b, "on_call")
        assert redis_state(b) == "on_call"
        shot(page_a, "strategies-6-attended-a-wrap-up")
        shot(page_b, "strategies-6-attended-b-with-caller")

        after_transfer(platform, caller, first, (page_a, a), (page_b, b))


def after_transfer(
    platform: Platform,
    caller: CallInBackground,
    first: int,
    agent_a: tuple[Page, str],
    agent_b: tuple[Page, str],
) -> None:
    """A wraps up, B hangs up: one closed row, A's (the queue gave it A). A went on call, wrap-up,
    available; B, whom no queue rang, talked and is free, no wrap-up."""
    (page_a, a), (page_b, b) = agent_a, agent_b
    wrap_up(page_a, "transferred")
    page_b.locator("#btn-hangup").click()
    caller.join(30)
    (call,) = closed_rows_since(platform, first)
    assert call.agent == a and call.queue == "desk" and call.ended_at is not None
    seat_is(page_b, "available")
    poll("B available in Redis", lambda: redis_state(b) == "available", 10)
    assert states(page_a) == ["on_call", "wrap_up", "available"], seen(page_a)
    assert states(page_b) == ["available", "on_call", "available"], seen(page_b)


def _channels(platform: Platform) -> list[str]:
    return [
        line.split("!")[0] for line in platform.rx("core show channels concise").splitlines() if "!" in line
    ]


# ----- 7. the seat layer restarted under a call --------------------------------------------------


def test_given_an_agent_on_a_call_when_the_seat_service_and_the_web_process_are_killed_then_the_call_goes_on(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    agent, extension = LINK
    with consoles(platform, "restart-mid-call", LINK) as (page,):
        sign_in(page)
        first = platform.last_call_id()
        caller = CallInBackground(platform, tmp_path / "caller", seconds=60, caller="13400006666")
        expect(page.locator("#incoming")).to_be_visible(timeout=RING_MS)
        page.locator("#btn-answer").click()
        seat_is(page, "on_call")
        hears_audio(page)

        # Both processes of the seat layer die at once, as in a crash or an OOM kill.
        old = {name: platform.component_pid(name) for name in ("seats", "web")}
        for pid in old.values():
            os.kill(pid, signal.SIGKILL)
        poll(
            "a new seat service rebuilt from Asterisk and a new web process",
            lambda: (
                (
                    all(_pid(platform, n) not in (None, pid) for n, pid in old.items())
                    and platform.healthy()
                    and (seats_now := platform.status("seats") or {}).get("pid") != old["seats"]
                    and seats_now.get("rebuilds", 0) >= 1  # the new service's own first rebuild
                )
                or None
            ),
            60,
        )

        # The call never noticed: still bridged, audio still flowing, the caller still talking.
        assert bridged_with_caller(platform, extension, "desk")
        assert caller.thread.is_alive()
        hears_audio(page)
        # The seat was rebuilt as it is (on a call), and the page learnt it again by itself.
        assert redis_state(agent) == "on_call"
        expect(page.locator("#ws-status")).to_have_attribute("data-state", "open", timeout=30_000)
        seat_is(page, "on_call")
        shot(page, "strategies-7-after-restart-on-call")

        # The rest of the call works as usual: hang up, wrap up with an outcome, available.
        page.locator("#btn-hangup").click()
        wrap_up(page, "resolved", "重启后仍正常")
        caller.join(30)
        (call,) = closed_rows_since(platform, first)
        assert (call.agent, call.outcome, call.outcome_note) == (agent, "resolved", "重启后仍正常")


def _pid(platform: Platform, component: str) -> int | None:
    """The component's pid, None while the supervisor is between two of its lives."""
    try:
        return platform.component_pid(component)
    except (OSError, ValueError):
        return None


# ----- 8. Asterisk restarted under a logged-in browser -------------------------------------------


def test_given_an_available_agent_when_asterisk_restarts_then_the_softphone_re_registers_and_takes_calls(
    seats: Platform, clean_platform: Platform, tmp_path: Path
) -> None:
    platform = seats
    agent, extension = LINK
    with consoles(platform, "asterisk-restart", LINK) as (page,):
        sign_in(page)
        joined(platform, "desk", extension)
        old_pid = platform.instance.pid
        platform.instance.kill()  # SIGKILL: no goodbye to the softphone, like a crash
        # The page sees its SIP link go, then the supervisor brings Asterisk back.
        expect(page.locator("#sip-status")).not_to_have_attribute("data-state", "registered", timeout=30_000)
        poll(
            "Asterisk back and the seats rebuilt",
            lambda: (
                (
                    platform.instance.pid not in (None, old_pid)
                    and platform.healthy()
                    and (platform.status("seats") or {}).get("ami_connected")
                )
                or None
            ),
            60,
        )
        # JsSIP registers again by itself, and the seat is back in its queue as it was.
        expect(page.locator("#sip-status")).to_have_attribute("data-state", "registered", timeout=60_000)
        joined(platform, "desk", extension)
        seat_is(page, "available")
        shot(page, "strategies-8-after-asterisk-restart")

        # A citizen's call rings the re-registered softphone and is answered with audio.
        takes_a_call(platform, page, tmp_path / "caller", "13400007777", agent)
