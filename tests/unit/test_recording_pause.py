"""Pausing a call's recording from the agent console: route → seat link → seats component → board.

Everything is the real code but the two transports: Redis is a dict (``MemoryRedis``, the few
commands the link and the service use; the link's BLPOP runs the seats component's loop once, as
its BRPOP would) and Asterisk is ``FakeAmi``, which records each action and can refuse them.
The rows are checked in the same SQLite database the web process and the seats component use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from agents_ui.accounts.models import Role
from agents_ui.app import create_app
from agents_ui.seat_link import SeatLink
from hotline.db import Database
from hotline.settings import DatabaseSettings, QueueSettings, RedisSettings, Settings, SiteSettings
from recording.models import RecordingPause
from telephony import seat_bus as bus
from telephony.ami import AmiActionFailed
from telephony.ami_actions import AmiAction, MixMonitorMute
from telephony.seat_directory import SeatEntry
from telephony.seat_service import SeatService
from tests.unit.accounts_support import ORIGIN, add_user, log_in

AGENT = SeatEntry(agent="li.na", display_name="李娜", extension="2001", queues={"desk": 0})
IFACE = "PJSIP/seat2001"
CALLER = "1763712000.7"
CALLER_CHANNEL = "PJSIP/desk-0000002a"


class MemoryRedis:
    """The Redis commands of SeatLink.command and SeatService.handle_command/publish, in memory."""

    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.published: list[dict[str, Any]] = []
        self.service: SeatService | None = None

    def pipeline(self, transaction: bool = False) -> _Pipeline:
        return _Pipeline(self)

    async def lpush(self, key: str, value: str) -> int:
        self.lists.setdefault(key, []).insert(0, value)
        return len(self.lists[key])

    async def blpop(self, keys: list[str], timeout: float = 0) -> tuple[str, str] | None:
        # The seats component's BRPOP loop, one turn: take each waiting command, oldest first.
        assert self.service is not None
        waiting = self.lists.get(bus.COMMANDS_LIST, [])
        while waiting:
            await self.service.handle_command(waiting.pop())
        for key in keys:
            if self.lists.get(key):
                return key, self.lists[key].pop(0)
        return None

    async def hget(self, name: str, key: str) -> str | None:
        return self.hashes.get(name, {}).get(key)

    async def hgetall(self, name: str) -> dict[str, str]:
        return dict(self.hashes.get(name, {}))


class _Pipeline:
    def __init__(self, redis: MemoryRedis) -> None:
        self.redis = redis
        self.ops: list[tuple[str, tuple[Any, ...]]] = []

    async def __aenter__(self) -> _Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def lpush(self, key: str, value: str) -> None:
        self.ops.append(("lpush", (key, value)))

    def expire(self, key: str, seconds: int) -> None:
        pass  # replies are read at once here

    def hset(self, name: str, key: str, value: str) -> None:
        self.ops.append(("hset", (name, key, value)))

    def publish(self, channel: str, value: str) -> None:
        self.ops.append(("publish", (channel, value)))

    async def execute(self) -> None:
        for op, args in self.ops:
            if op == "lpush":
                self.redis.lists.setdefault(args[0], []).insert(0, args[1])
            elif op == "hset":
                self.redis.hashes.setdefault(args[0], {})[args[1]] = args[2]
            else:
                self.redis.published.append(bus.decode(args[1]))


class FakeAmi:
    def __init__(self) -> None:
        self.sent: list[AmiAction] = []
        self.refuse = False
        self.connected = True

    async def send(self, action: AmiAction) -> list[dict[str, Any]]:
        if self.refuse:
            raise AmiActionFailed(f"{action.name}: Cannot set mute flag")
        self.sent.append(action)
        return [{"Response": "Success"}]


class Seats:
    """The seats component of the test, with its fake Redis and Asterisk."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.redis = MemoryRedis()
        redis: Any = self.redis  # stands in for redis.asyncio.Redis
        self.service = SeatService(settings, db, redis, load_seats=lambda: [AGENT], load_web_seats=lambda: [])
        self.ami = FakeAmi()
        self.service.ami = self.ami  # type: ignore[assignment]
        self.redis.service = self.service

    def on_a_call(self) -> None:
        """The agent logged in, rang and answered a caller of the desk queue (AMI as Asterisk 22 says it)."""
        board = self.service.board
        board.command("li.na", "login")
        common = {"Queue": "desk", "Interface": IFACE}
        board.on_event({"Event": "QueueMemberAdded", **common, "Penalty": "0", "Paused": "0", "Status": "1"})
        caller = {**common, "Uniqueid": CALLER, "CallerIDNum": "13912345678", "Channel": CALLER_CHANNEL}
        caller["DestChannel"] = "PJSIP/seat2001-00000003"
        board.on_event({"Event": "AgentCalled", **caller})
        board.on_event({"Event": "AgentConnect", **caller, "HoldTime": "3"})
        self.caller_event = caller

    def deliver(self, event: dict[str, str]) -> None:
        """One AMI event through the component, as its events loop applies it."""
        asyncio.run(self.service._apply(self.service.board.on_event(event)))

    def last_message(self) -> dict[str, Any]:
        return [m for m in self.redis.published if m.get("agent") == "li.na"][-1]

    def mutes(self) -> list[AmiAction]:
        return [a for a in self.ami.sent if isinstance(a, MixMonitorMute)]


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        site=SiteSettings(state_dir=tmp_path / "state"),
        database=DatabaseSettings(url=db_url),
        redis=RedisSettings(url="redis://127.0.0.1:1/0", managed=False),
        queues=(QueueSettings(name="main"), QueueSettings(name="desk", wrapup_until_done=True)),
    )


@pytest.fixture
def console(settings: Settings) -> Iterator[tuple[TestClient, Seats]]:
    """The agent's logged-in browser session on the web process, and the seats component."""
    app = create_app(settings)
    seats = Seats(settings, app.state.db)
    link = SeatLink(settings.redis.url)
    link.redis = seats.redis  # type: ignore[assignment]
    app.state.seat_link = link
    add_user(app.state.db, "li.na", Role.AGENT, extension="2001")
    with TestClient(app, headers={"origin": ORIGIN}) as client:
        log_in(client, "li.na")
        yield client, seats
    app.state.db.dispose()


def pauses(seats: Seats) -> list[RecordingPause]:
    with seats.service.db.unit_of_work() as session:
        return list(session.scalars(select(RecordingPause).order_by(RecordingPause.id)))


def test_given_an_agent_on_a_queue_call_when_they_pause_and_resume_then_asterisk_mutes_and_a_row_says_who(
    console: tuple[TestClient, Seats],
) -> None:
    client, seats = console
    seats.on_a_call()
    assert client.get("/api/seat").json()["recording"] is True  # the console offers the button

    paused = client.post("/api/seat/recording/pause")

    assert paused.status_code == 200, paused.text
    assert paused.json()["agent"]["recording_paused"] is True
    # Both directions of the caller's channel: neither the citizen nor the agent is kept.
    assert seats.mutes() == [MixMonitorMute(channel=CALLER_CHANNEL, muted=True, direction="both")]
    assert seats.last_message()["recording_paused"] is True  # every open console hears it too
    (row,) = pauses(seats)
    assert (row.call_uniqueid, row.paused_by, row.resumed_at) == (CALLER, "li.na", None)

    resumed = client.post("/api/seat/recording/resume")

    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["agent"]["recording_paused"] is False
    assert seats.mutes()[-1] == MixMonitorMute(channel=CALLER_CHANNEL, muted=False)
    (row,) = pauses(seats)
    assert row.resumed_at is not None and row.resumed_at >= row.paused_at


def test_given_an_agent_not_on_a_call_when_they_pause_then_409_says_why_and_nothing_is_written(
    console: tuple[TestClient, Seats],
) -> None:
    client, seats = console
    seats.service.board.command("li.na", "login")

    reply = client.post("/api/seat/recording/pause")

    assert reply.status_code == 409
    assert "not on a call" in reply.json()["detail"]
    assert seats.mutes() == [] and pauses(seats) == []
    assert client.post("/api/seat/recording/resume").status_code == 409


def test_given_asterisk_refuses_the_mute_when_paused_then_503_no_row_and_the_console_not_told_paused(
    console: tuple[TestClient, Seats],
) -> None:
    client, seats = console
    seats.on_a_call()
    seats.ami.refuse = True  # e.g. the caller hung up a moment ago

    reply = client.post("/api/seat/recording/pause")

    assert reply.status_code == 503
    assert pauses(seats) == []
    assert seats.last_message()["recording_paused"] is False
    assert seats.service.board.agent_message("li.na")["recording_paused"] is False
    assert seats.service._need_rebuild is False  # no seat fact moved: nothing to rebuild


def test_given_a_paused_recording_when_the_caller_hangs_up_then_the_seats_component_closes_the_row(
    console: tuple[TestClient, Seats],
) -> None:
    client, seats = console
    seats.on_a_call()
    assert client.post("/api/seat/recording/pause").status_code == 200

    seats.deliver({"Event": "AgentComplete", **seats.caller_event, "Reason": "caller", "TalkTime": "30"})

    (row,) = pauses(seats)
    assert row.resumed_at is not None  # the call's end is the pause's end
    assert (seats.last_message()["state"], seats.last_message()["recording_paused"]) == ("wrap_up", False)
    assert len(seats.mutes()) == 1  # the caller's channel is gone: nothing to unmute


def test_given_a_paused_recording_when_the_agent_transfers_then_it_is_unmuted_and_the_row_closed(
    console: tuple[TestClient, Seats],
) -> None:
    client, seats = console
    seats.on_a_call()
    assert client.post("/api/seat/recording/pause").status_code == 200

    seats.deliver({"Event": "AgentComplete", **seats.caller_event, "Reason": "transfer"})

    assert seats.mutes()[-1] == MixMonitorMute(channel=CALLER_CHANNEL, muted=False)
    (row,) = pauses(seats)
    assert row.resumed_at is not None
