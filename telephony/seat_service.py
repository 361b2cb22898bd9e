"""The seats component: the one writer of seat state for an Asterisk node.

It feeds AMI events to the ``SeatBoard``, runs agents' commands that arrive over Redis, ends timed
wrap-ups, and publishes every change to Redis for the web processes to push to browsers. Whenever
the AMI link (re)connects, or an event contradicts the board, every seat and queue is rebuilt from
QueueStatus and CoreShowChannels: after any restart the board shows what Asterisk holds.

When agents change (the web processes publish on ``CONFIG_CHANNEL``), pjsip.conf is regenerated
from the database and res_pjsip reloaded; no restart, no call dropped.

A recording pause the agent left on when the call ended (hang-up, transfer) is closed here, since
this is the one process that sees the agent's call end: its RecordingPause row gets its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from asterisk_conf.layout import InstanceLayout
from asterisk_conf.pjsip import WebSeat
from asterisk_conf.render import write_config
from hotline.db import Database
from hotline.settings import Settings
from hotline.status import clear_status, write_status
from recording import service as recordings
from telephony import seat_bus as bus
from telephony.agent_state import Refused
from telephony.ami import AmiActionFailed, AmiClient, AmiUnavailable
from telephony.ami_actions import AmiAction, CoreShowChannels, MixMonitorMute, ModuleReload, QueueStatus
from telephony.queue_stats import agent_calls_today, daily_queue_counts, local_day_start
from telephony.seat_board import RECORDING_COMMANDS, Message, Result, SeatBoard
from telephony.seat_directory import SeatLoader

log = logging.getLogger("telephony.seats")

COMPONENT = "seats"
WebSeatLoader = Callable[[], list[WebSeat]]
# Agents change rarely; this catches a change whose notice was lost (Redis down at the time).
DIRECTORY_CHECK_SECONDS = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


class SeatService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis: aioredis.Redis,
        *,
        load_seats: SeatLoader,
        load_web_seats: WebSeatLoader,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self._load_seats = load_seats
        self._load_web_seats = load_web_seats
        self.board = SeatBoard(settings, load_seats(), clock=_now)
        self.layout = InstanceLayout.for_settings(settings)
        self.ami = AmiClient(
            host=settings.asterisk.bind_address,
            port=settings.asterisk.ami_port,
            username=settings.asterisk.ami_user,
            secret=self.layout.ami_secret(),
            on_event=self._queue_event,
            on_ready=self._on_ami_ready,
        )
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lock = asyncio.Lock()  # one change at a time: events, commands, ticks, rebuilds
        self._day: date | None = None
        self._need_rebuild = False
        self._need_republish = False
        self._logins = 0
        self._restore_next = False
        self.published = 0
        self.commands = 0
        self.rebuilds = 0

    # ----- output -------------------------------------------------------------------------------
    async def publish(self, messages: Iterable[Message]) -> None:
        batch = list(messages)
        if not batch:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for message in batch:
                    text = bus.encode(message)
                    if message["type"] == "agent":
                        pipe.hset(bus.AGENTS_HASH, message["agent"], text)
                    elif message["type"] == "queue":
                        pipe.hset(bus.QUEUES_HASH, message["queue"], text)
                    pipe.publish(bus.EVENTS_CHANNEL, text)
                await pipe.execute()
            self.published += len(batch)
        except RedisError as exc:
            # Browsers miss this change; the full snapshot is published again once Redis answers.
            log.warning("could not publish seat changes", extra={"why": str(exc)})
            self._need_republish = True

    async def _send(self, actions: Iterable[AmiAction]) -> bool:
        ok = True
        for action in actions:
            try:
                await self.ami.send(action)
            except (AmiUnavailable, AmiActionFailed) as exc:
                ok = False
                if isinstance(action, MixMonitorMute):
                    # No seat fact moved (the caller of a refused command puts the flag back);
                    # most often the caller's channel just hung up.
                    log.warning("recording mute failed", extra={"channel": action.channel, "why": str(exc)})
                    continue
                # The board already moved; Asterisk did not. A rebuild makes the board true again.
                log.warning("seat action failed; rebuilding", extra={"action": action.name, "why": str(exc)})
                self._need_rebuild = True
        return ok

    async def _apply(self, result: Result) -> bool:
        ok = await self._send(result.actions)
        await self.publish(result.messages)
        if result.resync:
            self._need_rebuild = True
        if result.pauses_ended:
            await asyncio.to_thread(self._close_pauses, result.pauses_ended)
        return ok

    def _close_pauses(self, calls: tuple[str, ...]) -> None:
        """End the RecordingPause rows of calls that ended while paused (now: the call's end)."""
        try:
            with self.db.unit_of_work() as session:
                for uniqueid in calls:
                    recordings.resume(session, call_uniqueid=uniqueid)
        except SQLAlchemyError as exc:
            # The row stays open: it then reads "paused until the recording ended", still true.
            log.warning("could not close recording pauses", extra={"calls": list(calls), "why": str(exc)})

    # ----- AMI ----------------------------------------------------------------------------------
    def _queue_event(self, event: dict[str, Any]) -> None:
        self._events.put_nowait(event)

    async def _on_ami_ready(self) -> None:
        # A second login means the link dropped: most often Asterisk restarted, so the rebuild
        # also restores what the seats had (SeatBoard.rebuild's restore).
        self._restore_next = self._logins > 0
        self._logins += 1
        self._need_rebuild = True

    async def rebuild(self) -> None:
        self._need_rebuild = False
        try:
            status = await self.ami.send(QueueStatus())
            channels = await self.ami.send(CoreShowChannels())
        except (AmiUnavailable, AmiActionFailed) as exc:
            log.warning("seat rebuild postponed", extra={"why": str(exc)})
            self._need_rebuild = True
            return
        async with self._lock:
            result = self.board.rebuild(status, channels, restore=self._restore_next)
            self._restore_next = False
            await self._apply(result)
        self.rebuilds += 1
        log.info("seats rebuilt from Asterisk", extra={"seats": len(self.board.machines)})

    async def events_loop(self) -> None:
        while True:
            event = await self._events.get()
            async with self._lock:
                await self._apply(self.board.on_event(event))

    # ----- commands -----------------------------------------------------------------------------
    async def handle_command(self, raw: str | bytes) -> None:
        try:
            command = bus.decode(raw)
            command_id = str(command["id"])[:64]
            agent = str(command["agent"])
            name = str(command["command"])
            reason = str(command.get("reason") or "")
            sent = float(command.get("sent", 0))
        except (ValueError, KeyError, TypeError):
            log.warning("malformed seat command dropped")
            return
        if time.time() - sent > bus.COMMAND_MAX_AGE_SECONDS:
            log.warning("stale seat command dropped", extra={"agent": agent, "command": name})
            return
        self.commands += 1
        reply: dict[str, Any]
        async with self._lock:
            try:
                if name == "supervise":
                    result = self.board.supervise(str(command.get("supervisor", "")), agent, reason)
                else:
                    result = self.board.command(agent, name, reason)
            except KeyError:
                reply = {"ok": False, "status": 404, "detail": "no seat for this agent"}
            except ValueError as exc:  # an action refused its own fields (e.g. an unknown spy mode)
                reply = {"ok": False, "status": 422, "detail": str(exc)}
            except Refused as exc:
                detail = f"{exc.attempted} refused while {exc.state}: {exc.reason}"
                reply = {"ok": False, "status": 409, "detail": detail}
            else:
                if await self._apply(result):
                    reply = {"ok": True, "agent": self.board.agent_message(agent, name)}
                else:
                    if name in RECORDING_COMMANDS:
                        # The flag moved before Asterisk answered; the console must not keep it.
                        await self.publish(self.board.recording_not_taken(agent, name).messages)
                    reply = {"ok": False, "status": 503, "detail": "Asterisk did not take the change"}
        key = bus.reply_key(command_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lpush(key, bus.encode(reply))
            pipe.expire(key, bus.REPLY_TTL_SECONDS)
            await pipe.execute()

    async def commands_loop(self) -> None:
        while True:
            try:
                item = await self.redis.brpop([bus.COMMANDS_LIST], timeout=1)
            except RedisError as exc:
                log.warning("Redis unavailable for seat commands", extra={"why": str(exc)})
                await asyncio.sleep(1)
                continue
            if item is not None:
                await self.handle_command(item[1])

    # ----- agents changed -----------------------------------------------------------------------
    async def reload_directory(self) -> None:
        """Regenerate pjsip.conf for the current agents, reload res_pjsip, adopt the new seat list."""
        entries = await asyncio.to_thread(self._load_seats)
        web_seats = await asyncio.to_thread(self._load_web_seats)
        changed = await asyncio.to_thread(write_config, self.settings, self.layout, web_seats)
        if "pjsip.conf" in changed:
            await self._send([ModuleReload(module="res_pjsip.so")])
            log.info("pjsip.conf regenerated for changed agents", extra={"web_seats": len(web_seats)})
        async with self._lock:
            if entries == list(self.board.entries.values()):
                return  # the minute's check found nothing new: no rebuild
            dropped, leaving = self.board.set_seats(entries)
            await self._send(leaving)
            if dropped:
                await self.redis.hdel(bus.AGENTS_HASH, *dropped)
                gone = [{"type": "agent_removed", "agent": a, "sent": time.time()} for a in dropped]
                await self.publish(gone)
        # New seats get their true state (and a first message) from Asterisk.
        self._need_rebuild = True

    async def config_loop(self) -> None:
        last_check = time.monotonic()
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(bus.CONFIG_CHANNEL)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    due = time.monotonic() - last_check > DIRECTORY_CHECK_SECONDS
                    if message is not None or due:
                        # Let the change's transaction finish before reading it.
                        await asyncio.sleep(0.3)
                        last_check = time.monotonic()
                        await self.reload_directory()
            except RedisError as exc:
                log.warning("Redis unavailable for agent changes", extra={"why": str(exc)})
                await asyncio.sleep(1)

    # ----- time ---------------------------------------------------------------------------------
    def _day_totals(self, since: datetime) -> tuple[dict[str, Any], dict[str, int]]:
        sl = {q.name: q.service_level for q in self.settings.queues}
        with self.db.unit_of_work() as session:
            return dict(daily_queue_counts(session, since, sl)), agent_calls_today(session, since)

    async def tick(self) -> None:
        now = _now()
        zone = self.settings.site.zone
        today = now.astimezone(zone).date()
        if today != self._day:
            counts, calls = await asyncio.to_thread(self._day_totals, local_day_start(now, zone))
            async with self._lock:
                await self.publish(self.board.new_day(counts, calls))
            self._day = today
        if self._need_republish:
            self._need_republish = False
            agents, queues = self.board.snapshot()
            await self.publish([*agents, *queues])
        if self._need_rebuild and self.ami.connected:
            await self.rebuild()
        async with self._lock:
            await self._apply(self.board.tick())

    def heartbeat(self) -> None:
        write_status(
            self.settings.state_dir,
            COMPONENT,
            ami_connected=self.ami.connected,
            seats=len(self.board.machines),
            published=self.published,
            commands=self.commands,
            rebuilds=self.rebuilds,
        )


async def run_seats(
    settings: Settings, stop: asyncio.Event, *, load_seats: SeatLoader, load_web_seats: WebSeatLoader
) -> None:
    db = Database(settings.database_url)
    redis = aioredis.from_url(settings.redis.url, decode_responses=True)
    service = SeatService(settings, db, redis, load_seats=load_seats, load_web_seats=load_web_seats)
    tasks: list[asyncio.Task[None]] = []
    try:
        with contextlib.suppress(RedisError):
            # Seats of a previous run that are no longer configured must not linger in the hash.
            await redis.delete(bus.AGENTS_HASH, bus.QUEUES_HASH)
        while not stop.is_set():
            try:
                await service.ami.start(timeout=3)
                break
            except AmiUnavailable as exc:
                log.warning("waiting for Asterisk's manager interface", extra={"why": str(exc)})
                service.heartbeat()
        tasks = [
            asyncio.create_task(service.events_loop(), name="seat-events"),
            asyncio.create_task(service.commands_loop(), name="seat-commands"),
            asyncio.create_task(service.config_loop(), name="seat-config"),
        ]
        while not stop.is_set():
            await service.tick()
            service.heartbeat()
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise RuntimeError(f"{task.get_name()} failed") from task.exception()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        for task in tasks:
            task.cancel()
        await service.ami.close()
        await redis.aclose()
        db.dispose()
        clear_status(settings.state_dir, COMPONENT)
