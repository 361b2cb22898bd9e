"""telephony.fastagi: the FastAGI server against a small fake Asterisk speaking over real sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ivr_flows.ports import CallerHungUp
from telephony.agi_protocol import AgiProtocolError
from telephony.fastagi import AgiConnection, FastAgiServer

HEADER_TIMEOUT = 0.3
WAIT = 2.0

CALL_HEADERS = {
    "agi_network": "yes",
    "agi_network_script": "hotline",
    "agi_request": "agi://127.0.0.1:4573/hotline",
    "agi_channel": "PJSIP/carrier-00000001",
    "agi_language": "zh",
    "agi_type": "PJSIP",
    "agi_uniqueid": "1732178400.1",
    "agi_version": "22.1.0",
    "agi_callerid": "13812345678",
    "agi_calleridname": "unknown",
    "agi_context": "hotline-ivr",
    "agi_extension": "12345",
    "agi_priority": "3",
    "agi_arg_1": "default_12345",
}


class FakeAsterisk:
    """The Asterisk end of one FastAGI connection: sends headers, reads commands, writes replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands: list[str] = []

    @classmethod
    async def connect(cls, port: int) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def start_call(self, **extra: str) -> None:
        headers = {**CALL_HEADERS, **extra}
        await self.send_raw("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")

    async def command(self) -> str:
        """The next command line the server sent."""
        raw = await asyncio.wait_for(self.reader.readline(), WAIT)
        assert raw, f"the server closed the connection; commands so far: {self.commands}"
        line = raw.decode().rstrip("\n")
        self.commands.append(line)
        return line

    async def reply(self, *lines: str) -> None:
        await self.send_raw("".join(f"{line}\n" for line in lines).encode())

    async def converse(self, *replies: str) -> None:
        """Answer each command in turn with the given reply line."""
        for reply in replies:
            await self.command()
            await self.reply(reply)

    async def closed_by_server(self, timeout: float = WAIT) -> bool:
        """True once the server closes its end (EOF); False if it is still open after timeout."""
        try:
            rest = await asyncio.wait_for(self.reader.read(), timeout)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        assert rest == b"", f"unexpected bytes before EOF: {rest!r}"
        return True

    def close(self) -> None:
        self.writer.close()

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN, as a crashed peer or a dropped NAT entry does."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.close()


Handler = Callable[[AgiConnection], Awaitable[None]]


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[[Handler], Awaitable[FastAgiServer]]]:
    servers: list[FastAgiServer] = []

    async def start(handler: Handler) -> FastAgiServer:
        server = FastAgiServer(handler, host="127.0.0.1", port=0, header_timeout=HEADER_TIMEOUT)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


class Outcome:
    """What a handler saw: its result, or the exception that ended it."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.values: list[object] = []
        self.error: BaseException | None = None

    def wrap(self, body: Handler) -> Handler:
        async def handler(conn: AgiConnection) -> None:
            try:
                await body(conn)
            except BaseException as exc:
                self.error = exc
                raise
            finally:
                self.done.set()

        return handler

    async def wait(self) -> None:
        await asyncio.wait_for(self.done.wait(), WAIT)


# ----- a call from start to finish ---------------------------------------------------------------


async def test_given_a_call_when_the_handler_runs_a_flow_then_asterisk_receives_the_exact_commands(
    start_server,
):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        outcome.values.append(dict(conn.env))
        await conn.answer()
        outcome.values.append(await conn.play("/x/welcome", "12"))
        outcome.values.append(await conn.read_digits("/x/menu", 5000, 4))
        outcome.values.append(await conn.get_variable("HOTLINE_FLOW"))
        await conn.set_variable("HOTLINE_IVR_PATH", "welcome,menu")
        await conn.set_variable("HOTLINE_FLOW_DONE", "1")

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse(
        "200 result=0",
        "200 result=50 endpos=3200",
        "200 result=12*",
        "200 result=1 (default_12345)",
        "200 result=1",
        "200 result=1",
    )
    await outcome.wait()

    assert asterisk.commands == [
        "ANSWER",
        "STREAM FILE /x/welcome 12",
        "GET DATA /x/menu 5000 4",
        "GET VARIABLE HOTLINE_FLOW",
        'SET VARIABLE HOTLINE_IVR_PATH "welcome,menu"',
        "SET VARIABLE HOTLINE_FLOW_DONE 1",
    ]
    env, key, digits, flow_name = outcome.values
    assert env == CALL_HEADERS
    assert (key, digits, flow_name) == ("2", "12*", "default_12345")
    assert outcome.error is None
    assert await asterisk.closed_by_server()
    await eventually(lambda: server.active_calls == 0)


async def test_given_escape_digits_with_a_hash_when_playing_then_they_are_quoted(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        outcome.values.append(await conn.play("/x/welcome", "#"))
        outcome.values.append(await conn.play("/x/goodbye"))

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result=35 endpos=100", "200 result=0 endpos=8000")
    await outcome.wait()

    assert asterisk.commands == ['STREAM FILE /x/welcome "#"', 'STREAM FILE /x/goodbye ""']
    assert outcome.values == ["#", ""]


async def test_given_a_caller_who_keys_nothing_when_reading_digits_then_the_result_is_none(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        outcome.values.append(await conn.read_digits("/x/menu", 3000, 1))
        outcome.values.append(await conn.get_variable("UNSET"))

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result= (timeout)", "200 result=0")
    await outcome.wait()

    assert outcome.values == [None, None]


async def test_given_a_voicemail_when_recording_then_the_record_command_has_beep_and_silence(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.record("/var/voicemail/1732178400.1", "wav", 60, 3)

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result=0 (silence) endpos=24000")
    await outcome.wait()

    assert asterisk.commands == ['RECORD FILE /var/voicemail/1732178400.1 wav "#" 60000 BEEP "s=3"']
    assert outcome.error is None


async def test_given_a_missing_prompt_when_playing_then_the_flow_goes_on_after_a_status_check(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        outcome.values.append(await conn.play("/x/not-there"))
        await conn.set_variable("HOTLINE_FLOW_DONE", "1")

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result=-1 endpos=0", "200 result=6", "200 result=1")
    await outcome.wait()

    assert asterisk.commands == [
        'STREAM FILE /x/not-there ""',
        "CHANNEL STATUS",
        "SET VARIABLE HOTLINE_FLOW_DONE 1",
    ]
    assert outcome.values == [""]
    assert outcome.error is None


async def test_given_a_value_with_a_line_break_when_setting_a_variable_then_nothing_is_sent(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.set_variable("HOTLINE_IVR_PATH", "x\nEXEC Dial PJSIP/premium")

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await outcome.wait()

    assert isinstance(outcome.error, ValueError)
    assert await asterisk.closed_by_server()
    assert asterisk.commands == []


# ----- connections that are not calls ------------------------------------------------------------


async def test_given_a_silent_port_probe_when_a_real_call_arrives_then_the_call_is_served_meanwhile(
    start_server,
):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()

    server = await start_server(outcome.wrap(flow))
    probe = await FakeAsterisk.connect(server.port)
    asterisk = await FakeAsterisk.connect(server.port)
    opened = time.monotonic()

    await asterisk.start_call()
    await asterisk.converse("200 result=0")
    await outcome.wait()

    assert time.monotonic() - opened < HEADER_TIMEOUT, "the call had to wait for the probe"
    assert not await probe.closed_by_server(timeout=0)
    assert await probe.closed_by_server()
    assert time.monotonic() - opened >= HEADER_TIMEOUT
    assert server.rejected_connections == 1
    await eventually(lambda: server.active_calls == 0)


async def test_given_headers_that_stop_without_the_blank_line_when_waiting_then_the_connection_is_dropped(
    start_server,
):
    outcome = Outcome()
    server = await start_server(outcome.wrap(lambda conn: asyncio.sleep(0)))
    half = await FakeAsterisk.connect(server.port)

    await half.send_raw(b"agi_network: yes\nagi_uniqueid: 1.1\n")

    assert await half.closed_by_server()
    assert server.rejected_connections == 1
    assert not outcome.done.is_set()


async def test_given_a_connection_that_closes_mid_headers_when_the_next_call_comes_then_it_is_served(
    start_server,
):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()

    server = await start_server(outcome.wrap(flow))
    quitter = await FakeAsterisk.connect(server.port)
    await quitter.send_raw(b"agi_network: yes\nagi_uniqueid: 1.1\n")
    quitter.close()
    await eventually(lambda: server.rejected_connections == 1)
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result=0")
    await outcome.wait()

    assert asterisk.commands == ["ANSWER"]
    assert server.rejected_connections == 1


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http"),
        pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n", id="tls"),
        pytest.param(b"\n", id="blank-line-first"),
        pytest.param(b"agi_uniqueid: 1\nHANGUP\n\n", id="garbage-after-a-header"),
        pytest.param(b"agi_x: " + b"y" * 20_000 + b"\n\n", id="overlong-line"),
        pytest.param(b"".join(b"agi_h%d: v\n" % i for i in range(200)) + b"\n", id="too-many-headers"),
    ],
)
async def test_given_garbage_instead_of_headers_when_read_then_the_connection_is_dropped_at_once(
    start_server, garbage
):
    outcome = Outcome()
    server = await start_server(outcome.wrap(lambda conn: asyncio.sleep(0)))
    intruder = await FakeAsterisk.connect(server.port)
    opened = time.monotonic()

    await intruder.send_raw(garbage)

    assert await intruder.closed_by_server()
    assert time.monotonic() - opened < HEADER_TIMEOUT
    assert server.rejected_connections == 1
    assert not outcome.done.is_set()


# ----- hang-ups ----------------------------------------------------------------------------------


async def test_given_hangup_before_the_reply_when_playing_then_the_handler_sees_caller_hung_up(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()
        await conn.play("/x/welcome")
        outcome.values.append("went on")

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result=0")
    await asterisk.command()
    await asterisk.reply("HANGUP", "200 result=-1 endpos=0")
    await outcome.wait()

    assert isinstance(outcome.error, CallerHungUp)
    assert outcome.values == []
    assert await asterisk.closed_by_server()


async def test_given_hangup_with_a_normal_reply_when_the_flow_goes_on_then_nothing_more_is_sent(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.set_variable("HOTLINE_IVR_PATH", "welcome")
        outcome.values.append(conn.hung_up)
        await conn.play("/x/menu")

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.command()
    await asterisk.reply("HANGUP", "200 result=1")
    await outcome.wait()

    assert outcome.values == [True]
    assert isinstance(outcome.error, CallerHungUp)
    assert await asterisk.closed_by_server()
    assert asterisk.commands == ["SET VARIABLE HOTLINE_IVR_PATH welcome"]


async def test_given_a_511_reply_when_sending_then_the_handler_sees_caller_hung_up(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("511 Command Not Permitted on a dead channel or intercept routine")
    await outcome.wait()

    assert isinstance(outcome.error, CallerHungUp)
    assert str(outcome.error) == CALL_HEADERS["agi_uniqueid"]


async def test_given_a_dead_channel_after_a_failed_prompt_when_checking_then_the_caller_hung_up(start_server):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.play("/x/welcome")

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result=-1 endpos=0", "200 result=-1")
    await outcome.wait()

    assert isinstance(outcome.error, CallerHungUp)
    assert asterisk.commands[-1] == "CHANNEL STATUS"


async def test_given_the_socket_closes_mid_command_when_waiting_for_the_reply_then_caller_hung_up(
    start_server,
):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.command()
    asterisk.close()
    await outcome.wait()

    assert isinstance(outcome.error, CallerHungUp)
    await eventually(lambda: server.active_calls == 0)


async def test_given_the_socket_is_reset_mid_command_when_waiting_for_the_reply_then_caller_hung_up(
    start_server,
):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.command()
    asterisk.reset()
    await outcome.wait()

    assert isinstance(outcome.error, CallerHungUp)
    await eventually(lambda: server.active_calls == 0)


async def test_given_the_socket_was_reset_when_the_next_command_is_sent_then_caller_hung_up(start_server):
    outcome = Outcome()
    reset_seen = asyncio.Event()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()
        await reset_seen.wait()
        for _ in range(3):  # the first write may still be accepted by the kernel
            await conn.set_variable("HOTLINE_IVR_PATH", "welcome")

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.converse("200 result=0")
    asterisk.reset()
    reset_seen.set()
    await outcome.wait()

    assert isinstance(outcome.error, CallerHungUp)


# ----- failures in our own code ------------------------------------------------------------------


async def test_given_a_handler_that_raises_when_the_call_ends_then_the_socket_closes_and_the_server_serves_on(
    start_server,
):
    calls: list[str] = []

    async def flow(conn: AgiConnection) -> None:
        calls.append(conn.uniqueid)
        if len(calls) == 1:
            raise RuntimeError("a bug in a flow step")
        await conn.answer()

    server = await start_server(flow)
    first = await FakeAsterisk.connect(server.port)
    await first.start_call(agi_uniqueid="1.1")
    assert await first.closed_by_server()
    second = await FakeAsterisk.connect(server.port)

    await second.start_call(agi_uniqueid="1.2")
    await second.converse("200 result=0")

    assert await second.closed_by_server()
    assert calls == ["1.1", "1.2"]
    assert second.commands == ["ANSWER"]


@pytest.mark.parametrize(
    "replies",
    [
        pytest.param(("510 Invalid or unknown command",), id="510"),
        pytest.param(
            (
                "520-Invalid command syntax.  Proper usage follows:",
                "Usage: ANSWER",
                "520 End of proper usage.",
            ),
            id="520",
        ),
    ],
)
async def test_given_asterisk_rejects_a_command_when_sending_then_the_handler_gets_a_protocol_error(
    start_server, replies
):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)

    await asterisk.start_call()
    await asterisk.command()
    await asterisk.reply(*replies)
    await outcome.wait()

    assert isinstance(outcome.error, AgiProtocolError)
    assert await asterisk.closed_by_server()


async def test_given_live_calls_when_the_server_closes_then_they_are_cancelled_and_their_sockets_closed(
    start_server,
):
    outcome = Outcome()

    async def flow(conn: AgiConnection) -> None:
        await conn.answer()

    server = await start_server(outcome.wrap(flow))
    asterisk = await FakeAsterisk.connect(server.port)
    probe = await FakeAsterisk.connect(server.port)
    await asterisk.start_call()
    await asterisk.command()  # never answered: the call sits inside the handler
    await eventually(lambda: server.active_calls == 2)

    await asyncio.wait_for(server.close(), WAIT)

    assert isinstance(outcome.error, asyncio.CancelledError)
    assert server.active_calls == 0
    assert await asterisk.closed_by_server()
    assert await probe.closed_by_server()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)
