"""A web process's link to the seat service, through Redis only (docs/seat-layer.md).

Commands go on a Redis list and their answers come back on a per-command list, so any number of
web processes can talk to the one seats component without knowing where it runs. Changes arrive
on one pub/sub subscription per process and are fanned out to that process's websockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hotline.logs import mask_number
from telephony import seat_bus as bus

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_SECONDS = 5
SOCKET_BACKLOG = 500  # messages a slow browser may fall behind before it is cut off (it reconnects)

Message = dict[str, Any]


class SeatServiceUnavailable(Exception):
    """Redis or the seats component did not answer in time."""


class CommandRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def masked(message: Message) -> Message:
    """The message with every caller number masked (for roles that must not see them)."""
    out = dict(message)
    for key in ("ring", "call"):
        leg = out.get(key)
        if isinstance(leg, dict) and leg.get("number"):
            out[key] = {**leg, "number": mask_number(str(leg["number"]))}
    if isinstance(out.get("waiting"), list):
        out["waiting"] = [
            {**w, "number": mask_number(str(w.get("number", "")))} if isinstance(w, dict) else w
            for w in out["waiting"]
        ]
    return out


@dataclass(eq=False)
class Subscriber:
    """One websocket's inbox of encoded messages (None: closed, reconnect for a fresh picture).

    ``wants`` picks its messages and shapes them (None: not for it). Sockets with the same ``view``
    have the same ``wants``, so a message is shaped and JSON-encoded once per view, not per socket:
    200 wallboards cost one encoding.
    """

    wants: Callable[[Message], Message | None]
    view: Hashable
    inbox: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(SOCKET_BACKLOG))
    overflowed: bool = False


class SeatLink:
    def __init__(self, redis_url: str) -> None:
        # No connection is made until first use: pages that never touch seats never need Redis.
        self.redis: aioredis.Redis = aioredis.from_url(redis_url, decode_responses=True)
        self._subscribers: set[Subscriber] = set()
        self._listener: asyncio.Task[None] | None = None

    # ----- commands -----------------------------------------------------------------------------
    async def command(self, agent: str, command: str, **extra: str) -> Message:
        """Run a seat command in the seats component; the agent message after it, or raise."""
        command_id = uuid.uuid4().hex
        payload = {"id": command_id, "agent": agent, "command": command, "sent": time.time(), **extra}
        try:
            await self.redis.lpush(bus.COMMANDS_LIST, bus.encode(payload))
            item = await self.redis.blpop([bus.reply_key(command_id)], timeout=COMMAND_TIMEOUT_SECONDS)
        except RedisError as exc:
            raise SeatServiceUnavailable(f"Redis: {exc}") from exc
        if item is None:
            raise SeatServiceUnavailable("the seats component did not answer")
        reply = bus.decode(item[1])
        if not reply.get("ok"):
            raise CommandRefused(int(reply.get("status", 409)), str(reply.get("detail", "refused")))
        agent_message: Message = reply["agent"]
        return agent_message

    async def notify_agents_changed(self) -> None:
        """Tell the seats component to regenerate the web seats (it also checks every minute)."""
        with contextlib.suppress(RedisError):
            await self.redis.publish(bus.CONFIG_CHANNEL, "agents")

    # ----- current state ------------------------------------------------------------------------
    async def agent(self, agent: str) -> Message | None:
        try:
            raw = await self.redis.hget(bus.AGENTS_HASH, agent)
        except RedisError as exc:
            raise SeatServiceUnavailable(f"Redis: {exc}") from exc
        return bus.decode(raw) if raw else None

    async def everything(self) -> tuple[list[Message], list[Message]]:
        try:
            agents = await self.redis.hgetall(bus.AGENTS_HASH)
            queues = await self.redis.hgetall(bus.QUEUES_HASH)
        except RedisError as exc:
            raise SeatServiceUnavailable(f"Redis: {exc}") from exc
        return (
            sorted((bus.decode(v) for v in agents.values()), key=lambda m: str(m.get("agent"))),
            sorted((bus.decode(v) for v in queues.values()), key=lambda m: str(m.get("queue"))),
        )

    # ----- fan-out ------------------------------------------------------------------------------
    def subscribe(self, wants: Callable[[Message], Message | None], view: Hashable) -> Subscriber:
        subscriber = Subscriber(wants, view)
        self._subscribers.add(subscriber)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="seat-fanout")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _deliver(self, message: Message) -> None:
        encoded: dict[Hashable, str | None] = {}
        for subscriber in list(self._subscribers):
            if subscriber.view not in encoded:
                shaped = subscriber.wants(message)
                encoded[subscriber.view] = None if shaped is None else bus.encode(shaped)
            text = encoded[subscriber.view]
            if text is None:
                continue
            try:
                subscriber.inbox.put_nowait(text)
            except asyncio.QueueFull:
                # Cut off rather than hold memory for ever; the page reconnects and gets a snapshot.
                subscriber.overflowed = True
                self._subscribers.discard(subscriber)
                with contextlib.suppress(asyncio.QueueFull):
                    subscriber.inbox.get_nowait()
                    subscriber.inbox.put_nowait(None)

    async def _listen(self) -> None:
        while self._subscribers:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(bus.EVENTS_CHANNEL)
                while self._subscribers:
                    item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if item is not None and item.get("type") == "message":
                        try:
                            self._deliver(bus.decode(item["data"]))
                        except ValueError:
                            log.warning("malformed seat message ignored")
            except RedisError as exc:
                log.warning("seat events subscription lost; retrying", extra={"why": str(exc)})
                # Every socket's picture may now be stale: close them so pages reload a snapshot.
                for subscriber in list(self._subscribers):
                    self._subscribers.discard(subscriber)
                    with contextlib.suppress(asyncio.QueueFull):
                        subscriber.inbox.put_nowait(None)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(RedisError, RuntimeError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        with contextlib.suppress(RedisError, RuntimeError):
            await self.redis.aclose()
