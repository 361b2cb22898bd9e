"""Seat push latency: from an AMI event reaching the seats component to 200 wallboards showing it.

    .venv/bin/python -m benchmarks.seat_push [--clients 200] [--events 500] [--rate 20] [--repeat 3]

Everything real but Asterisk, on loopback (docs/seat-layer.md), each piece in its own process:
  seats    the real ``SeatService`` (its AMI link never started): each AMI-shaped event goes in
           through the AMI client's callback, the service's own events loop feeds the ``SeatBoard``
           and publishes (HSET + PUBLISH) to a real redis-server (tests/servers.py)
  web      the web component (``hotline.cli component web``: uvicorn) on SQLite: one pub/sub
           subscription fanned out to every ``/ws/wallboard`` socket (numbers masked); a gc
           callback notes its garbage collections
  clients  N supervisor wallboards (session cookie + Origin) in one asyncio process: each gets its
           snapshot first, then notes ``time.time()`` as each message arrives
Events are paced at ``--rate``: a caller joins the main queue, an agent pauses (meal), the oldest
caller leaves, the agent unpauses, and again (ten agents in turn). An event's latency for one
client runs from ``time.time()`` just before the event is handed to the service to the arrival of
the last message it caused (a pause causes an agent and a queue message); messages are matched by
their own ``sent`` field. The floor, interleaved with every run: a raw PUBLISH of the same mean
size, at the same pace, to one redis.asyncio subscriber listening the way the web process does.
Results go to benchmarks/results/seat_push.json and stdout; the exit status is 1 when p99 misses
the aim (100 ms) or a message was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import math
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from agents_ui.accounts import service as accounts
from agents_ui.accounts import sessions
from agents_ui.accounts.permissions import COOKIE
from benchmarks.ivr_load import cpu_seconds, machine, rss_mb
from hotline.db import Database
from hotline.migrate import upgrade
from hotline.settings import Settings, load_settings
from telephony import seat_bus as bus
from telephony.seat_board import Message, Result, SeatBoard
from telephony.seat_directory import SeatEntry
from telephony.seat_service import SeatService
from tests.servers import redis_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FLOOR_CHANNEL = "hotline:bench-floor"
AGENTS = 10
WAITING = 3  # callers already waiting when the measured events start
START_TIMEOUT = 60.0
GRACE_SECONDS = 2.0  # after the last event, for late messages before anything counts as lost
AIM_P99_MS = 100.0


# ----- the platform pieces ------------------------------------------------------------------------
def write_settings(work: Path, redis_url: str, port: int) -> Path:
    state = work / "state"
    path = work / "hotline.toml"
    path.write_text(
        f"""
[site]
state_dir = "{state}"

[database]
url = "sqlite:///{state / "hotline.db"}"

[redis]
url = "{redis_url}"
managed = false

[web]
host = "127.0.0.1"
port = {port}
""",
        encoding="utf-8",
    )
    return path


def supervisor_session(settings: Settings) -> str:
    """Migrate the database, add a supervisor, and open a session: the cookie's value."""
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.unit_of_work() as session:
            user = accounts.create_user(
                session,
                username="bench.supervisor",
                password="a long benchmark password",
                roles=["supervisor"],
                display_name="Bench Supervisor",
            )
            return sessions.start(session, user=user, source_ip="bench")
    finally:
        db.dispose()


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# The web component exactly as the supervisor runs it (hotline.cli component web), plus a gc callback
# that notes every full collection and any other one of 5 ms or more (wall time, generation, seconds).
WEB_BOOT = """
import gc, sys, time
log = open(sys.argv[1], "w", buffering=1)
began = [0.0, 0.0]
def pauses(phase, info):
    if phase == "start":
        began[:] = [time.time(), time.perf_counter()]
        return
    took = time.perf_counter() - began[1]
    if info["generation"] == 2 or took >= 0.005:
        log.write(f"{began[0]:.6f} {info['generation']} {took:.6f}\\n")
gc.callbacks.append(pauses)
from hotline.cli import main
sys.exit(main(["component", "web"]))
"""


def start_web(config: Path, log: Path, gc_log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOTLINE_CONFIG": str(config), "HOTLINE_LOG_LEVEL": "WARNING"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", WEB_BOOT, str(gc_log)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for_web(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web component exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{base}/healthz", timeout=2.0)  # any status: the process answers
            return
        time.sleep(0.1)
    raise RuntimeError(f"the web component did not answer /healthz in {START_TIMEOUT:.0f}s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# ----- the events -------------------------------------------------------------------------------
def seat_entries() -> list[SeatEntry]:
    return [
        SeatEntry(
            agent=f"agent{k:02d}", display_name=f"坐席{k:02d}", extension=f"{1000 + k}", queues={"main": 0}
        )
        for k in range(1, AGENTS + 1)
    ]


def caller_join(n: int) -> dict[str, Any]:
    return {
        "Event": "QueueCallerJoin",
        "Queue": "main",
        "Uniqueid": f"1763712000.{n}",
        "Channel": f"PJSIP/carrier-{n:08x}",
        "CallerIDNum": f"138{n:08d}",
        "Position": "1",
        "Count": "1",
    }


def caller_leave(n: int) -> dict[str, Any]:
    return {"Event": "QueueCallerLeave", "Queue": "main", "Uniqueid": f"1763712000.{n}", "Count": "0"}


def member_event(name: str, entry: SeatEntry, **fields: str) -> dict[str, Any]:
    return {
        "Event": name,
        "Queue": "main",
        "Interface": entry.interface,
        "MemberName": entry.agent,
        "StateInterface": entry.interface,
        **fields,
    }


def warm_up_events(entries: Sequence[SeatEntry]) -> list[dict[str, Any]]:
    """Every agent logs in (available), and a few callers are already waiting."""
    added = [
        member_event("QueueMemberAdded", e, Penalty="0", Paused="0", PausedReason="", Status="1", InCall="0")
        for e in entries
    ]
    return added + [caller_join(n) for n in range(WAITING)]


def measured_events(entries: Sequence[SeatEntry], count: int) -> list[tuple[str, dict[str, Any]]]:
    """(kind, AMI event): join, pause, leave, unpause, ... the waiting list stays WAITING long."""
    waiting = deque(range(WAITING))
    next_caller = WAITING
    events: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        entry = entries[(i // 4) % len(entries)]
        step = i % 4
        if step == 0:
            events.append(("caller_join", caller_join(next_caller)))
            waiting.append(next_caller)
            next_caller += 1
        elif step == 1:
            events.append(("pause", member_event("QueueMemberPause", entry, Paused="1", PausedReason="meal")))
        elif step == 2:
            events.append(("caller_leave", caller_leave(waiting.popleft())))
        else:
            events.append(("unpause", member_event("QueueMemberPause", entry, Paused="0", PausedReason="")))
    return events


def tag(message: Message) -> str:
    """Which published message this is, from its own fields (``sent`` is the publisher's time.time())."""
    return f"{message.get('type')}|{message.get('agent') or message.get('queue')}|{message.get('sent')!r}"


# ----- the seats process ------------------------------------------------------------------------
class ObservedBoard(SeatBoard):
    """The real board; it remembers which measured event it is handling."""

    current: int | None = None

    def on_event(self, event: Any) -> Result:
        seq = event.get("BenchSeq")
        self.current = int(seq) if seq is not None else None
        return super().on_event(event)


class ObservedSeatService(SeatService):
    """The real seat service; its publish is observed: which messages, when they were out."""

    def __init__(self, settings: Settings, db: Database, redis: aioredis.Redis, entries: list[SeatEntry]):
        super().__init__(settings, db, redis, load_seats=lambda: entries, load_web_seats=list)
        self.board = ObservedBoard(settings, entries, clock=lambda: datetime.now(UTC))
        self.observed: dict[int, dict[str, Any]] = {}

    async def publish(self, messages: Iterable[Message]) -> None:
        batch = list(messages)
        handed = time.time()
        await super().publish(batch)
        seq = getattr(self.board, "current", None)
        if seq is None or not batch:
            return
        record = self.observed.setdefault(seq, {"tags": [], "bytes": [], "handed": handed})
        record["tags"] += [tag(m) for m in batch]
        record["bytes"] += [len(bus.encode(m).encode()) for m in batch]


async def settle(service: SeatService, timeout: float = 30.0) -> None:
    """Until the service has handled every event handed to it (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if service._events.empty() and not service._lock.locked():
            return
    raise RuntimeError("the seat service did not finish its events")


async def pace(start: float, i: int, rate: float) -> None:
    await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))


async def _seats_driver(
    config: str, events: int, rate: float, ready: ProcessEvent, go: ProcessEvent, out: str
) -> None:
    settings = load_settings(config, environ={})
    entries = seat_entries()
    redis = aioredis.from_url(settings.redis.url, decode_responses=True)
    db = Database(settings.database_url)
    service = ObservedSeatService(settings, db, redis, entries)
    # The service's own events loop, as in run_seats; events arrive through the AMI client's
    # callback (the AMI link itself is never started: there is no Asterisk here).
    loop = asyncio.create_task(service.events_loop(), name="seat-events")
    try:
        for event in warm_up_events(entries):
            service._queue_event(event)
        await settle(service)
        plan = measured_events(entries, events)
        ready.set()
        if not await asyncio.to_thread(go.wait, START_TIMEOUT):
            return
        cpu = time.process_time()
        t0s: list[float] = []
        start = time.perf_counter() + 0.2
        for i, (_kind, event) in enumerate(plan):
            event["BenchSeq"] = i  # ignored by the board; tells the observer which event this is
            await pace(start, i, rate)
            t0s.append(time.time())
            service._queue_event(event)
        await settle(service)
        report = {
            "events": [
                {"seq": i, "kind": kind, "t0": t0s[i], **service.observed.get(i, {"tags": [], "bytes": []})}
                for i, (kind, _event) in enumerate(plan)
            ],
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            "published": service.published,
            "republish_needed": service._need_republish,
            "rebuild_needed": service._need_rebuild,
        }
        await asyncio.to_thread(Path(out).write_text, json.dumps(report), encoding="utf-8")
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await redis.aclose()
        db.dispose()


def seats_driver(
    config: str, events: int, rate: float, ready: ProcessEvent, go: ProcessEvent, out: str
) -> None:
    asyncio.run(_seats_driver(config, events, rate, ready, go, out))


async def _floor_driver(
    redis_url: str, events: int, rate: float, size: int, ready: ProcessEvent, go: ProcessEvent, out: str
) -> None:
    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        await redis.ping()
        ready.set()
        if not await asyncio.to_thread(go.wait, START_TIMEOUT):
            return
        t0s: list[float] = []
        start = time.perf_counter() + 0.2
        for i in range(events):
            head = json.dumps({"seq": i, "pad": ""}, separators=(",", ":"))
            payload = head.replace('"pad":""', '"pad":"' + "x" * max(0, size - len(head)) + '"')
            await pace(start, i, rate)
            t0s.append(time.time())
            await redis.publish(FLOOR_CHANNEL, payload)
        report = json.dumps({"t0": t0s, "bytes": len(payload.encode())})
        await asyncio.to_thread(Path(out).write_text, report, encoding="utf-8")
    finally:
        await redis.aclose()


def floor_driver(
    redis_url: str, events: int, rate: float, size: int, ready: ProcessEvent, go: ProcessEvent, out: str
) -> None:
    asyncio.run(_floor_driver(redis_url, events, rate, size, ready, go, out))


# ----- the wallboards ---------------------------------------------------------------------------
class Wallboard:
    """One supervisor's /ws/wallboard socket: the snapshot, then (arrival time, raw message)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str]] = []
        self.snapshot: dict[str, Any] = {}
        self.close_code: int | None = None
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, url: str, origin: str, cookie: str) -> None:
        # Browsers offer permessage-deflate too (the client's default) and send no protocol pings.
        self._socket = await connect(
            url,
            origin=Origin(origin),
            additional_headers={"Cookie": cookie},
            ping_interval=None,
            open_timeout=30,
        )
        self.snapshot = json.loads(await asyncio.wait_for(self._socket.recv(decode=True), 30))
        if self.snapshot.get("type") != "snapshot":
            raise RuntimeError(f"first message is not a snapshot: {str(self.snapshot)[:200]}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._socket is not None
        received = self.received
        with contextlib.suppress(Exception):
            async for raw in self._socket:
                received.append((time.time(), str(raw)))
        self.close_code = self._socket.close_code

    async def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._socket.close(), 10)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 10)


async def open_wallboards(boards: Sequence[Wallboard], url: str, origin: str, cookie: str) -> None:
    for first in range(0, len(boards), 20):  # a few handshakes at a time: they hit the database
        await asyncio.gather(*(b.open(url, origin, cookie) for b in boards[first : first + 20]))


# ----- figures ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_ms(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ms = [v * 1000 for v in values]
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def full_collections(gc_log: Path, start: float, end: float) -> list[tuple[float, float]]:
    """(began, seconds) of the web process's full garbage collections that began inside [start, end]."""
    found: list[tuple[float, float]] = []
    with contextlib.suppress(OSError):
        for line in gc_log.read_text().splitlines():
            at, generation, took = line.split()
            if generation == "2" and start <= float(at) <= end:
                found.append((float(at), float(took)))
    return found


Raw = dict[str, list[float]]


def push_figures(
    driver: dict[str, Any], boards: Sequence[Wallboard], pauses: Sequence[tuple[float, float]]
) -> tuple[dict[str, Any], Raw]:
    """Figures over every (event, client) pair; ``pauses`` are the web process's full collections."""
    events = driver["events"]
    owner = {t: e["seq"] for e in events for t in e["tags"]}
    arrivals: dict[str, list[float]] = {t: [] for t in owner}  # every client's arrival of each message
    latencies: list[float] = []
    clear: list[float] = []  # pairs whose [t0, arrival] overlaps no full collection in the web process
    lost_messages = lost_events = duplicates = 0
    for board in boards:
        first: dict[str, float] = {}
        for at, text in board.received:
            key = tag(json.loads(text))
            if key not in owner:
                continue  # a ping, or a change from before the measured events
            if key in first:
                duplicates += 1
                continue
            first[key] = at
            arrivals[key].append(at)
        for event in events:
            got = [first[t] for t in event["tags"] if t in first]
            missing = len(event["tags"]) - len(got)
            if missing or not event["tags"]:
                lost_messages += missing
                lost_events += 1
                continue
            t0, done = event["t0"], max(got)
            latencies.append(done - t0)
            if not any(at < done and at + took > t0 for at, took in pauses):
                clear.append(done - t0)
    handed = {t: e["handed"] for e in events for t in e["tags"]}
    raw: Raw = {
        "latency": latencies,
        "clear_of_gc": clear,
        "seats": [e["handed"] - e["t0"] for e in events if e["tags"]],
        "to_first": [min(a) - handed[t] for t, a in arrivals.items() if a],
        "spread": [max(a) - min(a) for a in arrivals.values() if a],
    }
    sizes = [b for e in events for b in e["bytes"]]
    figures = {
        "latency": summary_ms(raw["latency"]),
        "latency_clear_of_web_full_gc": summary_ms(clear),
        "web_full_gc": {
            "count": len(pauses),
            "max_ms": round(1000 * max((took for _, took in pauses), default=0.0), 1),
            "total_ms": round(1000 * sum(took for _, took in pauses), 1),
        },
        "lost_messages": lost_messages,
        "lost_event_client_pairs": lost_events,
        "duplicates": duplicates,
        "clients_cut_off": sum(1 for b in boards if b.close_code not in (None, 1000)),
        "messages": len(owner),
        "message_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else 0,
        "events_per_second": round(len(events) / driver["seconds"], 2),
        "seats_published": driver["published"],
        "seats_needed_rebuild_or_republish": bool(driver["rebuild_needed"] or driver["republish_needed"]),
        "seats_cpu_pct": round(100 * driver["cpu_seconds"] / driver["seconds"], 1),
    }
    return figures, raw


def breakdown(raw: Raw) -> dict[str, Any]:
    return {
        "seats_event_to_redis": summary_ms(raw["seats"]),
        "redis_and_web_to_first_client": summary_ms(raw["to_first"]),
        "fanout_first_to_last_client": summary_ms(raw["spread"]),
    }


# ----- the two phases ---------------------------------------------------------------------------
async def wait_ready(ready: ProcessEvent, process: SpawnProcess, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not await asyncio.to_thread(ready.wait, 0.2):
        if not process.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not get ready (exit code {process.exitcode})")


def end_process(process: SpawnProcess) -> None:
    if process.pid is None:
        return  # never started
    process.join(5)
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)


@dataclass
class Platform:
    """What the phases need to know about the running pieces."""

    config: Path
    redis_url: str
    redis_pid: int
    web: subprocess.Popen[bytes]
    gc_log: Path
    cookie: str
    work: Path


async def push_phase(platform: Platform, args: argparse.Namespace, run: int) -> tuple[dict[str, Any], Raw]:
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    out = platform.work / f"seats-driver-{run}.json"
    driver = ctx.Process(
        target=seats_driver,
        args=(str(platform.config), args.events, args.rate, ready, go, str(out)),
        name="seats",
    )
    driver.start()
    boards: list[Wallboard] = []
    try:
        await wait_ready(ready, driver, "the seats driver")
        base = f"127.0.0.1:{args.port}"
        boards = [Wallboard() for _ in range(args.clients)]
        await open_wallboards(boards, f"ws://{base}/ws/wallboard", f"http://{base}", platform.cookie)
        shapes = {(len(b.snapshot.get("agents", [])), len(b.snapshot.get("queues", []))) for b in boards}
        if shapes != {(AGENTS, 1)}:
            raise RuntimeError(f"unexpected snapshots (agents, queues): {shapes}")
        print(
            f"  run {run}: {len(boards)} wallboards open, {args.events} events at {args.rate}/s", flush=True
        )
        # The wallboards stand in for browsers on other machines: no pauses of this process's own
        # garbage collector in their arrival times (the web process keeps its normal collector).
        gc.collect()
        gc.disable()
        cpu = {
            "web": cpu_seconds(platform.web.pid)[0],
            "redis": cpu_seconds(platform.redis_pid)[0],
            "clients": time.process_time(),
        }
        busy, total = machine_cpu()
        started, wall = time.monotonic(), time.time()
        go.set()
        await asyncio.to_thread(driver.join, args.events / args.rate + START_TIMEOUT)
        await asyncio.sleep(GRACE_SECONDS)
        window = time.monotonic() - started
        spent = {
            "web": cpu_seconds(platform.web.pid)[0] - cpu["web"],
            "redis": cpu_seconds(platform.redis_pid)[0] - cpu["redis"],
            "clients": time.process_time() - cpu["clients"],
        }
        busy_after, total_after = machine_cpu()
    finally:
        gc.enable()
        await asyncio.gather(*(b.close() for b in boards))
        end_process(driver)
    if driver.exitcode != 0 or not out.exists():
        raise RuntimeError(f"the seats driver failed (exit code {driver.exitcode})")
    report = json.loads(out.read_text(encoding="utf-8"))
    pauses = full_collections(platform.gc_log, wall, wall + window)
    figures, raw = push_figures(report, boards, pauses)
    driver_cpu = float(report["cpu_seconds"])
    cores = os.cpu_count() or 1
    figures.update(
        {f"{name}_cpu_pct": round(100 * seconds / window, 1) for name, seconds in spent.items()},
        machine_busy_pct_of_all_cores=round(100 * (busy_after - busy) / max(1, total_after - total), 1),
        cores=cores,
        # Everything else on the machine over the window (other jobs on a shared host), % of one core.
        others_cpu_pct=round(
            cores * 100 * (busy_after - busy) / max(1, total_after - total)
            - sum(100 * seconds / window for seconds in spent.values())
            - 100 * driver_cpu / window,
            1,
        ),
        window_seconds=round(window, 1),
        web_rss_mb=round(rss_mb(platform.web.pid)),
    )
    return figures, raw


async def floor_phase(
    platform: Platform, size: int, args: argparse.Namespace, run: int
) -> tuple[dict[str, Any], Raw]:
    subscriber = aioredis.from_url(platform.redis_url, decode_responses=True)
    pubsub = subscriber.pubsub()
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    out = platform.work / f"floor-driver-{run}.json"
    driver = ctx.Process(
        target=floor_driver,
        args=(platform.redis_url, args.events, args.rate, size, ready, go, str(out)),
        name="floor",
    )
    received: list[tuple[float, str]] = []
    try:
        await pubsub.subscribe(FLOOR_CHANNEL)
        driver.start()
        await wait_ready(ready, driver, "the floor driver")
        go.set()
        done = asyncio.create_task(asyncio.to_thread(driver.join, args.events / args.rate + START_TIMEOUT))
        grace_until: float | None = None
        while grace_until is None or time.monotonic() < grace_until:
            # The web process's way of listening (agents_ui.seat_link.SeatLink._listen).
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is not None and item.get("type") == "message":
                received.append((time.time(), item["data"]))
            if grace_until is None and done.done():
                grace_until = time.monotonic() + GRACE_SECONDS
    finally:
        end_process(driver)
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        await subscriber.aclose()
    if driver.exitcode != 0 or not out.exists():
        raise RuntimeError(f"the floor driver failed (exit code {driver.exitcode})")
    sent = json.loads(out.read_text(encoding="utf-8"))
    arrived: dict[int, float] = {}
    for at, text in received:
        arrived.setdefault(int(json.loads(text)["seq"]), at)
    latencies = [arrived[i] - t0 for i, t0 in enumerate(sent["t0"]) if i in arrived]
    figures = {
        "latency": summary_ms(latencies),
        "lost_messages": len(sent["t0"]) - len(latencies),
        "message_bytes": sent["bytes"],
    }
    return figures, {"latency": latencies}


def versions(redis_url: str) -> tuple[dict[str, str], int]:
    import redis as sync_redis

    found = {name: importlib.metadata.version(name) for name in ("uvicorn", "websockets", "redis", "fastapi")}
    client = sync_redis.Redis.from_url(redis_url)
    try:
        info = client.info("server")
    finally:
        client.close()
    found["redis-server"] = str(info["redis_version"])
    return found, int(info["process_id"])


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    push_runs: list[dict[str, Any]] = []
    floor_runs: list[dict[str, Any]] = []
    push_raw: Raw = {"latency": [], "clear_of_gc": [], "seats": [], "to_first": [], "spread": []}
    floor_raw: list[float] = []
    with redis_server() as server:
        config = write_settings(work, server.url, args.port)
        settings = load_settings(config, environ={})
        cookie = f"{COOKIE}={supervisor_session(settings)}"
        found, redis_pid = versions(server.url)
        log, gc_log = work / "web.log", work / "web-gc.log"
        web = start_web(config, log, gc_log)
        platform = Platform(config, server.url, redis_pid, web, gc_log, cookie, work)
        try:
            wait_for_web(f"http://127.0.0.1:{args.port}", web, log)
            load_before = os.getloadavg()
            # Interleaved (push, floor, push, floor, ...) so drift on a shared machine hits both alike.
            for run in range(1, args.repeat + 1):
                figures, raw = await push_phase(platform, args, run)
                push_runs.append(figures)
                for key, values in raw.items():
                    push_raw[key] += values
                print(
                    f"    push:  {json.dumps(figures['latency'])}, lost {figures['lost_messages']}",
                    flush=True,
                )
                floor, raw = await floor_phase(platform, figures["message_bytes_mean"], args, run)
                floor_runs.append(floor)
                floor_raw += raw["latency"]
                print(f"    floor: {json.dumps(floor['latency'])}, lost {floor['lost_messages']}", flush=True)
            load_after = os.getloadavg()
        finally:
            stop_process(web)
    p99 = summary_ms(push_raw["latency"]).get("p99_ms")
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "versions": found,
        "parameters": {
            "clients": args.clients,
            "events": args.events,
            "rate_per_second": args.rate,
            "repeat": args.repeat,
            "agents": AGENTS,
            "waiting_callers": WAITING,
        },
        "aim": {"p99_ms_below": AIM_P99_MS, "p99_ms": p99, "met": p99 is not None and p99 < AIM_P99_MS},
        "push": {
            "latency": summary_ms(push_raw["latency"]),
            "latency_clear_of_web_full_gc": summary_ms(push_raw["clear_of_gc"]),
            **breakdown(push_raw),
            "lost_messages": sum(r["lost_messages"] for r in push_runs),
            "clients_cut_off": sum(r["clients_cut_off"] for r in push_runs),
            "runs": push_runs,
        },
        "floor": {
            "latency": summary_ms(floor_raw),
            "lost_messages": sum(r["lost_messages"] for r in floor_runs),
            "runs": floor_runs,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200, help="wallboard websockets")
    parser.add_argument("--events", type=int, default=500, help="AMI events fed to the seat service per run")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--repeat", type=int, default=3, help="runs (figures are over every run's pairs)")
    parser.add_argument("--port", type=int, default=38100, help="the web component's port (loopback)")
    parser.add_argument("--output", type=Path, default=RESULTS / "seat_push.json")
    args = parser.parse_args()
    if not port_free(args.port):
        print(f"seat_push: port {args.port} is in use; pick another with --port", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hotline-seat-bench-"))
    print(f"seat push benchmark (work files in {work}) ...", flush=True)
    try:
        report = asyncio.run(measure(args, work))
    except BaseException:
        print(f"seat_push: failed; the web component's log is in {work / 'web.log'}", file=sys.stderr)
        raise
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    push, floor = report["push"], report["floor"]
    print(json.dumps({"push": push["latency"], "floor": floor["latency"], "aim": report["aim"]}))
    ok = report["aim"]["met"] and push["lost_messages"] == 0 and floor["lost_messages"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
