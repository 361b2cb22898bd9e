"""The live websockets of one web process (uvicorn) against a real Redis, without Asterisk.

What a supervisor's wallboard may see (their team's seats, every queue), that 200 identical
wallboards cost one encoding of a message, and that a login ending elsewhere closes an open socket.
Seat messages are published on the seat bus exactly as the seats component publishes them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select
from websockets.typing import Origin

from agents_ui import seat_socket
from agents_ui.accounts import service
from agents_ui.accounts.models import AuditEntry
from agents_ui.accounts.permissions import COOKIE
from agents_ui.app import create_app
from hotline.db import Database
from hotline.migrate import upgrade
from hotline.settings import DatabaseSettings, RedisSettings, Settings, SiteSettings
from telephony import seat_bus
from tests.integration.web_alone import serving
from tests.servers import RedisServer, redis_server

PASSWORD = "a long enough password"


@dataclass
class Web:
    url: str
    redis: RedisServer
    db: Database

    def cookie(self, username: str) -> str:
        with httpx.Client(base_url=self.url, headers={"origin": self.url}, timeout=10) as client:
            reply = client.post("/api/session", json={"username": username, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            return client.cookies[COOKIE]

    def publish(self, message: dict[str, Any] | str) -> None:
        client = self.redis.client()
        try:
            raw = message if isinstance(message, str) else seat_bus.encode(message)
            client.publish(seat_bus.EVENTS_CHANNEL, raw)
        finally:
            client.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    state = tmp_path_factory.mktemp("live")
    with redis_server() as redis:
        settings = Settings(
            site=SiteSettings(state_dir=state),
            database=DatabaseSettings(url=f"sqlite:///{state / 'hotline.db'}"),
            redis=RedisSettings(url=redis.url, managed=False),
        )
        upgrade(settings.database_url)
        app = create_app(settings)
        with app.state.db.unit_of_work() as session:
            east = service.create_team(session, name="东区班组").id
            west = service.create_team(session, name="西区班组").id
            for username, roles, extension, team in (
                ("east.boss", ["supervisor"], "3101", east),
                ("east.agent", ["agent"], "2101", east),
                ("west.agent", ["agent"], "2102", west),
                ("chief", ["supervisor"], None, None),
            ):
                service.create_user(
                    session,
                    username=username,
                    password=PASSWORD,
                    roles=roles,
                    display_name=username,
                    extension=extension,
                    team_id=team,
                )
        with serving(app) as url:
            yield Web(url, redis, app.state.db)


async def _open(web: Web, path: str, cookie: str) -> websockets.ClientConnection:
    return await websockets.connect(
        web.url.replace("http://", "ws://") + path,
        origin=Origin(web.url),
        additional_headers={"Cookie": f"{COOKIE}={cookie}"},
    )


async def _next(ws: websockets.ClientConnection, timeout: float = 5) -> dict[str, Any]:
    """The next message that is not a ping."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message.get("type") != "ping":
            return message


def _agent(name: str, state: str) -> dict[str, Any]:
    return {"type": "agent", "agent": name, "state": state, "sent": time.time()}


def test_given_supervisors_with_and_without_a_team_when_seats_change_then_each_sees_what_is_theirs(
    web: Web,
) -> None:
    async def watch() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        east = await _open(web, "/ws/wallboard", web.cookie("east.boss"))
        chief = await _open(web, "/ws/wallboard", web.cookie("chief"))
        try:
            assert (await _next(east))["type"] == "snapshot"
            assert (await _next(chief))["type"] == "snapshot"
            await asyncio.sleep(0.3)  # the process's one subscription is taken with the first socket
            for message in (
                _agent("west.agent", "available"),
                _agent("east.agent", "paused"),
                {"type": "queue", "queue": "main", "waiting": [{"number": "13912345678"}]},
            ):
                await asyncio.to_thread(web.publish, message)
            seen_east = [await _next(east), await _next(east)]
            seen_chief = [await _next(chief) for _ in range(3)]
            return seen_east, seen_chief
        finally:
            await east.close()
            await chief.close()

    seen_east, seen_chief = asyncio.run(watch())
    # The team supervisor: their own agent and every queue, never the other team's seat.
    assert [(m["type"], m.get("agent")) for m in seen_east] == [("agent", "east.agent"), ("queue", None)]
    # Without a team (a small site): everything. Numbers are masked for both.
    assert [m.get("agent") for m in seen_chief] == ["west.agent", "east.agent", None]
    assert seen_east[1]["waiting"] == [{"number": "139****5678"}]


def test_given_a_team_supervisor_when_asking_for_the_board_then_other_teams_seats_are_left_out(
    web: Web,
) -> None:
    client = web.redis.client()
    try:
        for name in ("east.agent", "west.agent"):
            client.hset(seat_bus.AGENTS_HASH, name, seat_bus.encode(_agent(name, "available")))
    finally:
        client.close()
    with httpx.Client(base_url=web.url, timeout=10) as http:
        for who, expected in (("east.boss", ["east.agent"]), ("chief", ["east.agent", "west.agent"])):
            http.cookies.set(COOKIE, web.cookie(who))
            board = http.get("/api/wallboard")
            assert board.status_code == 200, board.text
            assert [a["agent"] for a in board.json()["agents"]] == expected


def test_given_an_open_socket_when_its_login_ends_elsewhere_then_the_socket_is_closed_1008(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seat_socket, "RECHECK_SECONDS", 0.2)
    monkeypatch.setattr(seat_socket, "PING_SECONDS", 0.2)
    cookie = web.cookie("east.agent")

    async def open_then_log_out() -> int | None:
        ws = await _open(web, "/ws/seat", cookie)
        try:
            assert (await _next(ws))["agent"] == "east.agent"
            await ws.recv()  # the socket is alive (a ping) before the login ends
            async with httpx.AsyncClient(base_url=web.url, headers={"origin": web.url}, timeout=10) as http:
                http.cookies.set(COOKIE, cookie)
                assert (await http.delete("/api/session")).status_code == 204
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for _ in range(50):  # bounded: pings until the recheck closes the socket
                    await asyncio.wait_for(ws.recv(), 5)
            return closed.value.rcvd.code if closed.value.rcvd else None
        finally:
            await ws.close()

    assert asyncio.run(open_then_log_out()) == 1008


def test_given_many_identical_wallboards_when_a_seat_changes_then_the_message_is_encoded_once(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    encodings: list[str] = []
    real_encode = seat_bus.encode

    def counting(message: dict[str, Any]) -> str:
        encodings.append(str(message.get("agent")))
        return real_encode(message)

    cookie = web.cookie("chief")

    async def watch() -> list[dict[str, Any]]:
        sockets = [await _open(web, "/ws/wallboard", cookie) for _ in range(20)]
        try:
            for ws in sockets:
                assert (await _next(ws))["type"] == "snapshot"
            await asyncio.sleep(0.3)
            raw = seat_bus.encode(_agent("west.agent", "on_call"))  # as the seats component sends it
            monkeypatch.setattr(seat_bus, "encode", counting)
            await asyncio.to_thread(web.publish, raw)
            return [await _next(ws) for ws in sockets]
        finally:
            for ws in sockets:
                await ws.close()

    received = asyncio.run(watch())
    assert {m["state"] for m in received} == {"on_call"} and len(received) == 20
    assert encodings == ["west.agent"]  # shaped and encoded once for the 20 sockets of one view


def test_given_a_team_supervisor_when_listening_in_on_another_teams_agent_then_refused_and_audited(
    web: Web,
) -> None:
    with httpx.Client(base_url=web.url, headers={"origin": web.url}, timeout=10) as http:
        http.cookies.set(COOKIE, web.cookie("east.boss"))
        refused = http.post("/api/supervise", json={"agent": "west.agent", "mode": "listen"})
    assert (refused.status_code, refused.json()["detail"]) == (403, "this agent is not in your team")
    with web.db.unit_of_work() as session:
        row = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "call.supervise").order_by(AuditEntry.id.desc())
        ).first()
        assert row is not None
        assert (row.actor, row.target, row.outcome, row.detail) == (
            "east.boss",
            "west.agent",
            "refused",
            "listen: not in my team",
        )


def test_given_a_ring_before_the_call_row_exists_when_the_console_asks_for_the_pop_then_it_gets_one(
    web: Web,
) -> None:
    # The seat rings (its agent message names the caller) but the call tracker has not written the
    # row yet: the race the screen-pop benchmark caught (docs/benchmarks.md).
    ringing = {
        **_agent("east.agent", "ringing"),
        "ring": {"queue": "desk", "caller": "1795.42", "number": "13912345678", "queued_at": None},
    }
    client = web.redis.client()
    try:
        client.hset(seat_bus.AGENTS_HASH, "east.agent", seat_bus.encode(ringing))
    finally:
        client.close()
    with httpx.Client(base_url=web.url, timeout=10) as http:
        http.cookies.set(COOKIE, web.cookie("east.agent"))
        pop = http.get("/api/calls/1795.42/pop")
        someone_elses = http.get("/api/calls/1795.43/pop")
    assert pop.status_code == 200, pop.text
    call = pop.json()["call"]
    # Their own ringing caller: the full number (agents.full_numbers_for_agents, on by default).
    assert (call["uniqueid"], call["queue"], call["number"]) == ("1795.42", "desk", "13912345678")
    assert someone_elses.status_code == 404
