"""A FastAGI server on asyncio streams that no connection can stall.

Written here rather than taken from panoramisk because its handler spins for ever on a connection
that closes before the blank header line: one port probe would block every later call. Here each
connection is its own task, the headers must arrive within a time limit, and EOF, garbage and
half-open sockets end only the connection they happen on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from ivr_flows.ports import CallerHungUp
from telephony.agi_protocol import (
    MAX_HEADERS,
    AgiProtocolError,
    AgiReply,
    command_line,
    digit_from_result,
    parse_header_line,
    parse_reply,
)

log = logging.getLogger("telephony.fastagi")

LINE_LIMIT = 16 * 1024
# Commands Asterisk answers at once: their round trip measures us and the socket, not a prompt.
QUICK_COMMANDS = frozenset({"ANSWER", "SET", "GET", "CHANNEL", "VERBOSE", "NOOP"})


class RoundTrips:
    """Round-trip times of quick AGI commands (a bounded sample, for health and benchmarks)."""

    # Small enough that sorting it for every one-second heartbeat stays well under a millisecond.
    def __init__(self, keep: int = 20_000) -> None:
        self.samples: deque[float] = deque(maxlen=keep)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def summary(self) -> dict[str, float | int]:
        if not self.samples:
            return {"count": 0}
        ordered = sorted(self.samples)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        return {
            "count": len(ordered),
            "p50_ms": pick(0.5) * 1000,
            "p99_ms": pick(0.99) * 1000,
            "max_ms": ordered[-1] * 1000,
        }


class AgiConnection:
    """One FastAGI session with Asterisk; implements ivr_flows.ports.CallChannel."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: Mapping[str, str],
        round_trips: RoundTrips | None = None,
    ) -> None:
        self._round_trips = round_trips
        self._reader = reader
        self._writer = writer
        self._env = MappingProxyType(dict(env))
        self.hung_up = False
        self._lock = asyncio.Lock()
        self._in_flight = 0
        self._idle_since = time.monotonic()

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    def idle_seconds(self) -> float:
        """How long no command has been in flight: time our own code has spent, not Asterisk's."""
        return 0.0 if self._in_flight else time.monotonic() - self._idle_since

    @property
    def uniqueid(self) -> str:
        return self._env.get("agi_uniqueid", "")

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readline()
        except ConnectionError:  # a reset socket ends the call just as EOF does
            raw = b""
        if not raw:
            self.hung_up = True
            raise CallerHungUp(self.uniqueid)
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def send(self, *words: str) -> AgiReply:
        """Send one command and read its reply, noting an asynchronous HANGUP on the way."""
        if self.hung_up:
            raise CallerHungUp(self.uniqueid)
        async with self._lock:
            self._in_flight += 1
            started = time.perf_counter()
            try:
                reply = await self._exchange(words)
            finally:
                self._in_flight -= 1
                self._idle_since = time.monotonic()
            if self._round_trips is not None and words[0] in QUICK_COMMANDS:
                self._round_trips.add(time.perf_counter() - started)
            return reply

    async def _exchange(self, words: tuple[str, ...]) -> AgiReply:
        self._writer.write(command_line(*words))
        try:
            await self._writer.drain()
        except ConnectionError as exc:
            self.hung_up = True
            raise CallerHungUp(self.uniqueid) from exc
        while True:
            line = await self._read_line()
            if line == "HANGUP":
                # FastAGI tells us of a hang-up out of band; the reply to our command follows.
                self.hung_up = True
                continue
            if line.startswith("520-"):
                while not (await self._read_line()).startswith("520 "):
                    pass
                raise AgiProtocolError(f"Asterisk rejected the syntax of {words[0]}")
            reply = parse_reply(line)
            break
        if reply.code == 511:
            self.hung_up = True
            raise CallerHungUp(self.uniqueid)
        if reply.code != 200:
            raise AgiProtocolError(f"{words[0]} failed: {reply.raw}")
        if reply.result_text == "-1" and self.hung_up:
            raise CallerHungUp(self.uniqueid)
        return reply

    # ----- CallChannel -------------------------------------------------------------------------
    async def answer(self) -> None:
        await self.send("ANSWER")

    async def play(self, prompt_path: str, escape_digits: str = "") -> str:
        reply = await self.send("STREAM", "FILE", prompt_path, escape_digits)
        if reply.result == -1:
            # A missing or unreadable prompt must not drop the caller: the flow goes on.
            log.warning("prompt could not be played", extra={"call": self.uniqueid, "prompt": prompt_path})
            await self._check_alive()
        return digit_from_result(reply.result)

    async def read_digits(self, prompt_path: str, timeout_ms: int, max_digits: int) -> str | None:
        reply = await self.send("GET", "DATA", prompt_path, str(timeout_ms), str(max_digits))
        if reply.result_text == "-1":
            await self._check_alive()
            return None
        return reply.result_text or None

    async def record(self, path: str, fmt: str, max_seconds: int, silence_seconds: int) -> None:
        args = [path, fmt, "#", str(max_seconds * 1000), "BEEP"]
        if silence_seconds > 0:
            args.append(f"s={silence_seconds}")
        reply = await self.send("RECORD", "FILE", *args)
        if reply.result == -1:
            await self._check_alive()

    async def set_variable(self, name: str, value: str) -> None:
        await self.send("SET", "VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        reply = await self.send("GET", "VARIABLE", name)
        return reply.data if reply.result == 1 else None

    async def _check_alive(self) -> None:
        """After a -1 result, ask for the channel status: a dead channel raises CallerHungUp."""
        reply = await self.send("CHANNEL", "STATUS")
        if reply.result == -1:
            self.hung_up = True
            raise CallerHungUp(self.uniqueid)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 2)


CallHandler = Callable[[AgiConnection], Awaitable[None]]


async def read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if not raw:
            raise AgiProtocolError("connection closed before the AGI headers ended")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line == "":
            if not headers:
                raise AgiProtocolError("blank line before any AGI header")
            return headers
        key, value = parse_header_line(line)
        headers[key] = value
        if len(headers) > MAX_HEADERS:
            raise AgiProtocolError("too many AGI headers")


class FastAgiServer:
    def __init__(self, handler: CallHandler, *, host: str, port: int, header_timeout: float) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._header_timeout = header_timeout
        self._server: asyncio.Server | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.rejected_connections = 0
        self.round_trips = RoundTrips()

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, limit=LINE_LIMIT, reuse_address=True
        )
        log.info("FastAGI listening", extra={"host": self._host, "port": self.port})

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # Only close() cancels a connection. Python 3.11's streams would log the cancelled task
            # as an error and leave a socket still waiting for headers open, so end it here.
            writer.close()
        finally:
            self._calls.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            headers = await asyncio.wait_for(read_headers(reader), self._header_timeout)
        except (TimeoutError, AgiProtocolError, ValueError, ConnectionError) as exc:
            self.rejected_connections += 1
            log.warning(
                "FastAGI connection dropped before a call began",
                extra={"peer": str(peer), "why": str(exc) or type(exc).__name__},
            )
            writer.close()
            return
        conn = AgiConnection(reader, writer, headers, self.round_trips)
        try:
            await self._handler(conn)
        except CallerHungUp:
            log.info("caller hung up during the flow", extra={"call": conn.uniqueid})
        except asyncio.CancelledError:
            raise
        except Exception:
            # The dialplan sends a call whose flow did not finish to the main queue.
            log.exception("call handler failed; the dialplan falls back", extra={"call": conn.uniqueid})
        finally:
            await conn.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._calls):
            task.cancel()
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
