"""Faults the issue names: whatever breaks in our code, a citizen's call still reaches people.

After every test the clean_platform fixture checks that no channel is left up and every call row
is closed.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from telephony.sipp.runner import CallerId
from tests.integration.harness import (
    AGI_PORT,
    CHANNEL_LIMIT,
    AmiRecorder,
    Platform,
    closed_rows_since,
    place_calls,
    poll,
    seat_agent,
)


@contextmanager
def in_background(fn: Any, *args: Any, **kwargs: Any) -> Iterator[Future[Any]]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(fn, *args, **kwargs)


def answered_via_fallback(platform: Platform, first: int) -> None:
    [row] = closed_rows_since(platform, first, timeout=40)
    assert row.disposition == "answered", (row.disposition, row.route, row.ivr_path)
    assert row.route == "fallback" and row.queue == "main"


def test_given_a_flow_step_that_raises_when_a_call_arrives_then_it_still_reaches_an_agent(
    clean_platform: Platform, tmp_path: Path
) -> None:
    first = clean_platform.last_call_id()
    with seat_agent(clean_platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
        place_calls(clean_platform, "faulty", tmp_path / "caller", talk_seconds=20)
        agent.wait_for(1)
    # The engine catches a failing Python step itself and chooses the main queue.
    [row] = closed_rows_since(clean_platform, first)
    assert row.disposition == "answered" and row.queue == "main"
    assert row.ivr_path == "greet,boom"


def test_given_a_flow_step_that_hangs_when_a_call_arrives_then_the_idle_limit_sends_it_to_the_queue(
    clean_platform: Platform, tmp_path: Path
) -> None:
    first = clean_platform.last_call_id()
    with seat_agent(clean_platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
        place_calls(clean_platform, "stuck", tmp_path / "caller", talk_seconds=20)
        agent.wait_for(1)
    answered_via_fallback(clean_platform, first)


def test_given_the_fastagi_server_killed_mid_call_when_the_socket_drops_then_the_call_is_queued(
    clean_platform: Platform, ami: AmiRecorder, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    old_pid = platform.component_pid("agi")
    with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
        with in_background(place_calls, platform, "carrier", tmp_path / "caller", talk_seconds=20) as call:
            ami.wait_for("AGIExecStart")  # the flow is running: the greeting is being played
            os.kill(old_pid, signal.SIGKILL)
            call.result(60)
        agent.wait_for(1)
    answered_via_fallback(platform, first)
    # The supervisor starts the IVR again, and the next call walks the flow normally.
    poll("a new FastAGI process", lambda: platform.component_pid("agi") != old_pid and platform.healthy(), 30)
    # Listening, not just started: its own status file (the killed one's lingers until replaced).
    poll(
        "the new FastAGI process serving",
        lambda: (platform.status("agi") or {}).get("pid") == platform.component_pid("agi"),
        30,
    )
    second = platform.last_call_id()
    with seat_agent(platform, "1001", tmp_path / "agent2", hold_seconds=2) as agent:
        place_calls(platform, "carrier", tmp_path / "caller2", talk_seconds=20)
        agent.wait_for(1)
    [row] = closed_rows_since(platform, second)
    assert row.route == "queue" and row.ivr_path == "office_hours,greeting,to_agent"


def test_given_a_frozen_fastagi_process_when_calls_wait_in_agi_then_it_is_killed_and_calls_queued(
    clean_platform: Platform, ami: AmiRecorder, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    pid = platform.component_pid("agi")
    try:
        with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
            with in_background(
                place_calls, platform, "carrier", tmp_path / "caller", talk_seconds=25
            ) as call:
                ami.wait_for("AGIExecStart")
                os.kill(pid, signal.SIGSTOP)  # alive but frozen: its own timers cannot fire
                call.result(60)
            agent.wait_for(1)
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    answered_via_fallback(platform, first)
    poll("a new FastAGI process", lambda: platform.component_pid("agi") != pid and platform.healthy(), 30)


def test_given_port_probes_that_never_send_headers_when_real_calls_run_then_the_calls_are_unaffected(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    probes = [socket.create_connection(("127.0.0.1", AGI_PORT), timeout=5) for _ in range(5)]
    probes[0].sendall(b"agi_network: yes\n")  # half a header block, then silence
    try:
        with (
            seat_agent(platform, "1001", tmp_path / "agent1", hold_seconds=2) as first_agent,
            seat_agent(platform, "1002", tmp_path / "agent2", hold_seconds=2) as second_agent,
        ):
            place_calls(platform, "carrier", tmp_path / "caller", talk_seconds=25, callers=2, rate=2)
            agents = (first_agent, second_agent)
            poll("both calls answered", lambda: sum(c.answered for a in agents for c in a.calls()) >= 2)
        rows = closed_rows_since(platform, first, count=2)
        assert all(r.route == "queue" and r.ivr_path == "office_hours,greeting,to_agent" for r in rows)
        agi = poll(
            "probes dropped", lambda: (s := platform.status("agi")) and s["rejected_connections"] >= 5 and s
        )
        assert agi["rejected_connections"] >= 5
    finally:
        for probe in probes:
            probe.close()


def test_given_asterisk_killed_with_a_call_waiting_when_it_comes_back_then_rows_close_and_calls_flow_again(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    old_pid = platform.instance.pid
    with in_background(place_calls, platform, "carrier", tmp_path / "caller", talk_seconds=15) as call:
        poll("the call waiting in the queue", lambda: "main has 1 call" in platform.rx("queue show main"), 30)
        platform.instance.kill()
        call.result(90)
    poll(
        "Asterisk started again",
        lambda: platform.instance.pid not in (None, old_pid) and platform.healthy(),
        60,
    )
    [row] = closed_rows_since(platform, first, timeout=30)
    assert row.disposition == "abnormal" and "connected" in row.end_reason
    second = platform.last_call_id()
    poll("the seats registered again", lambda: "seat1001" in platform.rx("pjsip show endpoints"))
    with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
        place_calls(platform, "carrier", tmp_path / "caller2", talk_seconds=20)
        agent.wait_for(1)
    [after] = closed_rows_since(platform, second)
    assert after.disposition == "answered"


def test_given_an_invite_from_an_unknown_source_when_it_arrives_then_it_is_refused_and_not_a_call(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    result = place_calls(platform, "carrier", tmp_path / "caller", talk_seconds=5, local_port=25099)
    assert result.outcomes.get("rejected_401", 0) + result.outcomes.get("rejected_403", 0) == 1, (
        result.outcomes
    )
    time.sleep(1)  # give a wrongly accepted call the chance to show up before we say it did not
    assert platform.call_rows_since(first) == []
    security = (platform.state_dir / "asterisk" / "it" / "log" / "security.log").read_text(errors="replace")
    assert "25099" in security


def test_given_a_caller_id_full_of_metacharacters_when_it_calls_then_it_is_data_and_the_path_is_unchanged(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    marker = Path("/tmp/hotline-pwned")
    marker.unlink(missing_ok=True)
    hostile = CallerId(f"$(touch {marker})", '${EXTEN}"; Goto(hotline-queues,second,1) `id`')
    with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
        place_calls(platform, "carrier", tmp_path / "caller", talk_seconds=20, callers=[hostile])
        agent.wait_for(1)
    [row] = closed_rows_since(platform, first)
    assert row.ivr_path == "office_hours,greeting,to_agent" and row.queue == "main"
    assert "touch" in row.caller_number or "touch" in row.caller_name
    assert not marker.exists()


def test_given_the_channel_limit_when_one_call_more_arrives_then_it_gets_the_overflow_treatment(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    place_calls(platform, "carrier", tmp_path / "caller", talk_seconds=12, callers=CHANNEL_LIMIT + 1, rate=20)
    rows = closed_rows_since(platform, first, count=CHANNEL_LIMIT + 1, timeout=40)
    dispositions = sorted(r.disposition for r in rows)
    assert dispositions.count("overflow") == 1, dispositions
    assert dispositions.count("abandoned") == CHANNEL_LIMIT, dispositions
