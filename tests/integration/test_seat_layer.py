"""The seat layer against the real platform: the API, Asterisk's queues, Redis and the websockets,
including the faults the issue names (seat service, web process and Asterisk restarted)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from agents_ui.accounts.permissions import COOKIE
from tests.integration.harness import Platform, poll
from tests.integration.seats_support import SEAT_PASSWORD, add_seat_user, seat_state

AGENT, EXT = "zhou.min", "2002"


@pytest.fixture(scope="module")
def seated(platform: Platform) -> Platform:
    add_seat_user(platform, AGENT, EXT, "agent", skills={"desk": 3, "second": 5})
    return platform


@pytest.fixture
def api(seated: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seated.web, headers={"origin": seated.web}, timeout=10) as client:
        reply = client.post("/api/session", json={"username": AGENT, "password": SEAT_PASSWORD})
        assert reply.status_code == 200, reply.text
        yield client
        seat = client.get("/api/seat").json()["agent"]
        if seat["state"] == "paused":
            client.post("/api/seat/unpause")
        if seat["state"] != "logged_out":
            client.post("/api/seat/logout")


def members(platform: Platform, queue: str) -> str:
    return "\n".join(line for line in platform.rx(f"queue show {queue}").splitlines() if f"seat{EXT}" in line)


def socket_messages(
    platform: Platform, cookie: str, count: int, origin: str | None = None
) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        url = platform.web.replace("http://", "ws://") + "/ws/seat"
        headers = {"Cookie": f"{COOKIE}={cookie}"}
        async with websockets.connect(
            url, origin=Origin(origin or platform.web), additional_headers=headers
        ) as ws:
            out: list[dict[str, Any]] = []
            while len(out) < count:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message.get("type") != "ping":
                    out.append(message)
            return out

    return asyncio.run(read())


def test_given_an_agent_when_they_log_in_and_pause_then_asterisk_holds_it_and_a_seat_restart_keeps_it(
    seated: Platform, api: httpx.Client
) -> None:
    platform = seated
    mine = api.get("/api/seat").json()
    assert mine["sip"]["authorization_user"] == f"seat{EXT}" and mine["sip"]["password"]
    assert {"meal", "training", "meeting"} <= {r["code"] for r in mine["pause_reasons"]}
    assert mine["agent"]["state"] == "logged_out"

    # Login joins the skill queues at their penalties.
    assert api.post("/api/seat/login").json()["agent"]["state"] == "available"
    poll("member of desk", lambda: members(platform, "desk") or None, 10)
    assert f"seat{EXT}" in members(platform, "second")
    assert api.post("/api/seat/login").status_code == 409  # already logged in: refused, said why

    # A pause with a reason is Asterisk's pause; a bad reason is refused and changes nothing.
    assert api.post("/api/seat/pause", json={"reason": "no-such"}).status_code == 422
    paused = api.post("/api/seat/pause", json={"reason": "meal"}).json()["agent"]
    assert (paused["state"], paused["pause_reason"]) == ("paused", "meal")
    poll("paused in Asterisk", lambda: "paused:meal" in members(platform, "desk") or None, 10)

    # The seat service is killed: its successor rebuilds the seat from QueueStatus.
    old = platform.component_pid("seats")
    os.kill(old, signal.SIGKILL)
    poll(
        "a new seat service rebuilt from Asterisk",
        lambda: (
            ((s := platform.status("seats")) and s.get("pid") != old and s.get("rebuilds", 0) >= 1) or None
        ),
        40,
    )
    rebuilt = api.get("/api/seat").json()["agent"]
    assert (rebuilt["state"], rebuilt["pause_reason"]) == ("paused", "meal")
    assert rebuilt["queues"] == {"desk": 3, "second": 5}

    # The web process is killed mid-shift: the supervisor restarts it and nothing changed.
    old_web = platform.component_pid("web")
    os.kill(old_web, signal.SIGKILL)
    poll(
        "the web process back",
        lambda: (platform.component_pid("web") != old_web and platform.healthy()) or None,
        40,
    )
    again = api.get("/api/seat").json()["agent"]
    assert (again["state"], again["pause_reason"]) == ("paused", "meal")

    assert api.post("/api/seat/unpause").json()["agent"]["state"] == "available"
    assert api.post("/api/seat/logout").json()["agent"]["state"] == "logged_out"
    poll("out of the queues", lambda: not members(platform, "desk") or None, 10)


def test_given_the_seat_websocket_when_the_seat_changes_then_the_change_is_pushed(
    seated: Platform, api: httpx.Client
) -> None:
    cookie = api.cookies[COOKIE]
    received: list[dict[str, Any]] = []

    async def watch_then_change() -> None:
        url = seated.web.replace("http://", "ws://") + "/ws/seat"
        async with websockets.connect(
            url,
            origin=Origin(seated.web),
            additional_headers={"Cookie": f"{COOKIE}={cookie}"},
        ) as ws:
            received.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            await asyncio.to_thread(api.post, "/api/seat/login")
            while not received or received[-1].get("state") != "available":
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message.get("type") == "agent":
                    received.append(message)

    asyncio.run(watch_then_change())
    assert received[0]["state"] == "logged_out" and received[-1]["state"] == "available"
    assert received[-1]["agent"] == AGENT


def test_given_a_foreign_origin_or_no_session_when_a_websocket_opens_then_it_is_refused(
    seated: Platform, api: httpx.Client
) -> None:
    cookie = api.cookies[COOKIE]
    with pytest.raises(InvalidStatus) as foreign:
        socket_messages(seated, cookie, 1, origin="http://evil.example")
    assert foreign.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as anonymous:
        socket_messages(seated, "not-a-session", 1)
    assert anonymous.value.response.status_code == 403


def test_given_a_logged_in_agent_when_asterisk_restarts_then_queue_membership_is_restored(
    seated: Platform, api: httpx.Client
) -> None:
    platform = seated
    login = api.post("/api/seat/login")
    assert login.status_code in (200, 409), login.text  # 409: still logged in from a test before
    pause = api.post("/api/seat/pause", json={"reason": "training"})
    assert pause.status_code == 200, pause.text
    try:
        poll("paused in Asterisk", lambda: "paused:training" in members(platform, "desk") or None, 20)
    except AssertionError:
        raise AssertionError(platform.rx("queue show desk") + repr(seat_state(AGENT))) from None
    old_pid = platform.instance.pid
    rebuilds = (platform.status("seats") or {}).get("rebuilds", 0)
    platform.instance.kill()
    poll(
        "Asterisk back and the seats rebuilt",
        lambda: (
            (
                platform.instance.pid not in (None, old_pid)
                and platform.healthy()
                and (platform.status("seats") or {}).get("rebuilds", 0) > rebuilds
            )
            or None
        ),
        60,
    )
    # The seat service puts the member back as it was (app_queue's own astdb copy may be lost).
    try:
        poll("member of desk again", lambda: "paused:training" in members(platform, "desk") or None, 20)
    except AssertionError:
        raise AssertionError(platform.rx("queue show desk") + repr(seat_state(AGENT))) from None
    state = seat_state(AGENT) or {}
    assert (state.get("state"), state.get("pause_reason")) == ("paused", "training")
