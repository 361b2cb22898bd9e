"""Real calls through the trunk: sipp callers with RTP audio and RFC 4733 DTMF, sipp agents.

Assertions come from AMI events and the platform's database, never from sipp's exit code.
"""

from __future__ import annotations

import wave
from pathlib import Path

from recording.models import Recording
from telephony.sipp.runner import CallerId
from tests.integration.harness import (
    LONELY_MAX_WAIT,
    LONELY_QUEUE,
    AmiRecorder,
    Platform,
    closed_rows_since,
    place_calls,
    poll,
    seat_agent,
)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return float(audio.getnframes() / audio.getframerate())


SPOKEN = "您好，中山路的路灯坏了，晚上很黑。"


def test_given_a_citizen_calls_when_the_default_flow_runs_then_an_agent_answers_from_the_main_queue(
    clean_platform: Platform, ami: AmiRecorder, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=3) as agent:
        caller = place_calls(
            platform,
            "carrier",
            tmp_path / "caller",
            text=SPOKEN,
            digits="1",
            talk_seconds=25,
            callers=[CallerId("13800138000", "张三")],
        )
        agent_calls = agent.wait_for(1)
    join = ami.wait_for("QueueCallerJoin", Queue="main")
    # The site speaks Chinese by default: the flow played the zh-CN greeting.
    played = [
        e["Command"] for e in ami.of("AGIExecStart", Uniqueid=join["Uniqueid"]) if "STREAM" in e["Command"]
    ]
    assert played and all("/zh-CN/" in command for command in played), played
    connect = ami.wait_for("AgentConnect", Queue="main")
    assert connect["Uniqueid"] == join["Uniqueid"]
    [row] = closed_rows_since(platform, first)
    assert row.uniqueid == join["Uniqueid"]
    assert row.disposition == "answered", row.end_reason
    assert row.trunk == "carrier"
    assert row.caller_number == "13800138000" and row.caller_name == "张三"
    # Key 1 is the self-service key, which is off on this site: the flow ignores it.
    assert row.ivr_path == "office_hours,greeting,to_agent"
    assert row.route == "queue" and row.queue == "main"
    assert "1001" in row.agent
    assert row.answered_at and row.queued_at and row.agent_connected_at and row.ended_at
    assert row.started_at <= row.answered_at <= row.queued_at <= row.agent_connected_at <= row.ended_at
    assert len(agent_calls) == 1 and agent_calls[0].answered
    assert caller.outcomes["remote_hangup"] == 1, caller.outcomes


def test_given_a_menu_flow_when_the_caller_keys_2_then_the_call_goes_to_the_second_queue(
    clean_platform: Platform, ami: AmiRecorder, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    with seat_agent(platform, "1002", tmp_path / "agent", hold_seconds=2) as agent:
        place_calls(platform, "menu", tmp_path / "caller", digits="2", digits_at=1.5, talk_seconds=20)
        agent.wait_for(1)
    ami.wait_for("QueueCallerJoin", Queue="second")
    [row] = closed_rows_since(platform, first)
    assert row.ivr_path.startswith("menu,to_second"), row.ivr_path
    assert row.queue == "second" and row.disposition == "answered"


def test_given_the_after_hours_branch_when_the_caller_speaks_then_the_message_is_kept_for_a_case(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    # The caller speaks after the beep and hangs up mid-message, as most callers end a message.
    prompts = platform.state_dir / "prompts" / "zh-CN"
    before_beep = sum(wav_seconds(prompts / f"{name}.wav") for name in ("after_hours", "voicemail_beep_hint"))
    place_calls(
        platform,
        "nightline",
        tmp_path / "caller",
        text=SPOKEN,
        talk_seconds=before_beep + 12,
        silence_first=before_beep + 1,
    )
    [row] = closed_rows_since(platform, first, timeout=45)
    assert row.disposition == "voicemail", (row.ivr_path, row.disposition)
    assert row.ivr_path == "after_hours,leave_message"
    with platform.db.unit_of_work() as session:
        kept = session.query(Recording).filter_by(call_uniqueid=row.uniqueid).one()
    audio = Path(f"{kept.path}.{kept.format}")
    assert audio.exists() and audio.stat().st_size > 8000  # more than half a second of 8 kHz PCM
    assert kept.kind == "voicemail"


def test_given_nobody_answers_within_max_wait_when_the_queue_gives_up_then_the_caller_leaves_a_message(
    clean_platform: Platform, ami: AmiRecorder, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    # The "lonely" queue has no agents and max_wait 4 s; its overflow flow is the shipped one.
    prompts = platform.state_dir / "prompts" / "zh-CN"
    before_beep = LONELY_MAX_WAIT + sum(
        wav_seconds(prompts / f"{name}.wav") for name in ("queue_busy", "voicemail_beep_hint")
    )
    place_calls(
        platform,
        "lonely",
        tmp_path / "caller",
        text=SPOKEN,
        talk_seconds=before_beep + 10,
        silence_first=before_beep + 1,
    )
    [row] = closed_rows_since(platform, first, timeout=45)
    assert row.queue == LONELY_QUEUE
    assert row.disposition == "voicemail", (row.ivr_path, row.disposition, row.end_reason)
    assert row.ivr_path == "to_lonely,sorry,leave_message"
    assert (
        row.end_reason
        == f"queue {LONELY_QUEUE}: nobody answered within max_wait; the queue's overflow flow ran"
    )
    with platform.db.unit_of_work() as session:
        kept = session.query(Recording).filter_by(call_uniqueid=row.uniqueid).one()
    assert kept.kind == "voicemail"
    assert Path(f"{kept.path}.{kept.format}").stat().st_size > 8000


def test_given_the_classic_agi_trunk_when_a_call_arrives_then_the_same_flow_runs_as_a_process(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
        place_calls(platform, "classic", tmp_path / "caller", talk_seconds=20)
        agent.wait_for(1)
    [row] = closed_rows_since(platform, first)
    assert row.ivr_path == "office_hours,greeting,to_agent"
    assert row.route == "queue" and row.disposition == "answered"


def test_given_no_agent_when_the_caller_gives_up_in_the_queue_then_the_call_is_abandoned(
    clean_platform: Platform, ami: AmiRecorder, tmp_path: Path
) -> None:
    platform = clean_platform
    first = platform.last_call_id()
    place_calls(platform, "carrier", tmp_path / "caller", talk_seconds=12)
    ami.wait_for("QueueCallerAbandon", Queue="main")
    [row] = closed_rows_since(platform, first)
    assert row.disposition == "abandoned" and row.queue == "main"
    poll("the queue empty again", lambda: "main has 0 calls" in platform.rx("queue show main"))
