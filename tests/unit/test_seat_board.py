"""SeatBoard: AMI events and commands in, AMI actions and Redis messages out (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.settings import QueueSettings, RecordingSettings, Settings
from telephony.agent_state import Refused
from telephony.ami_actions import MixMonitorMute, QueueAdd, QueuePause, SpyOn
from telephony.seat_board import SeatBoard
from telephony.seat_directory import SeatEntry

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
AGENT = SeatEntry(agent="li.na", display_name="李娜", extension="2001", queues={"desk": 0})
DESK = SeatEntry(agent="1001", display_name="1001", extension="1001", queues={"desk": 0}, web=False)
BOSS = SeatEntry(agent="wang.jun", display_name="王军", extension="3001", queues={})
IFACE = "PJSIP/seat2001"
CALLER_CHANNEL = "PJSIP/desk-00000001"  # where the dialplan started the call's MixMonitor


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def board(clock: Clock) -> SeatBoard:
    settings = Settings(
        queues=(
            QueueSettings(name="main"),
            QueueSettings(name="desk", title="网页坐席", wrapup_until_done=True, service_level=15),
        )
    )
    return SeatBoard(settings, [AGENT, DESK, BOSS], clock=clock)


def added(queue: str = "desk", **extra: str) -> dict[str, str]:
    return {
        "Event": "QueueMemberAdded",
        "Queue": queue,
        "Interface": IFACE,
        "Penalty": "0",
        "Paused": "0",
        "Status": "1",
        "InCall": "0",
        **extra,
    }


def agent_events(caller: str = "1.7") -> dict[str, dict[str, str]]:
    common = {
        "Queue": "desk",
        "Interface": IFACE,
        "Uniqueid": caller,
        "CallerIDNum": "13912345678",
        "Channel": CALLER_CHANNEL,
    }
    return {
        name: {"Event": name, **common, "DestChannel": "PJSIP/seat2001-00000002", "HoldTime": "4"}
        for name in ("AgentCalled", "AgentConnect", "AgentComplete")
    }


def logged_in(board: SeatBoard) -> None:
    board.command("li.na", "login")
    board.on_event(added())


def test_given_a_login_when_run_then_queue_add_is_sent_and_the_seat_published(board: SeatBoard) -> None:
    result = board.command("li.na", "login")

    assert result.actions == (QueueAdd(queue="desk", interface=IFACE, penalty=0, member_name="li.na"),)
    agent = next(m for m in result.messages if m["type"] == "agent")
    assert (agent["agent"], agent["state"], agent["cause"]) == ("li.na", "available", "login")
    assert any(m["type"] == "queue" and m["queue"] == "desk" for m in result.messages)


def test_given_a_caller_waiting_when_the_agent_is_rung_and_answers_then_the_legs_name_the_caller(
    board: SeatBoard, clock: Clock
) -> None:
    logged_in(board)
    join = {"Event": "QueueCallerJoin", "Queue": "desk", "Uniqueid": "1.7", "CallerIDNum": "13912345678"}
    (waiting,) = board.on_event(join).messages
    assert [w["caller"] for w in waiting["waiting"]] == ["1.7"]
    assert waiting["longest_wait_since"] == NOW.isoformat()

    clock.now = NOW + timedelta(seconds=4)
    events = agent_events()
    ringing = board.on_event(events["AgentCalled"]).messages[0]
    assert ringing["state"] == "ringing"
    assert ringing["ring"] == {
        "queue": "desk",
        "channel": "PJSIP/seat2001-00000002",
        "caller": "1.7",
        "number": "13912345678",
        "queued_at": NOW.isoformat(),  # when the caller joined, not when the seat rang
    }
    answered = board.on_event(events["AgentConnect"]).messages
    agent = next(m for m in answered if m["type"] == "agent")
    assert agent["state"] == "on_call" and agent["call"]["caller"] == "1.7" and agent["calls_today"] == 1
    desk = [m for m in answered if m["type"] == "queue"][-1]
    assert (desk["answered_today"], desk["answered_in_sl_today"], desk["service_level"]) == (1, 1, 1.0)

    # The call ends: wrap-up until the agent is done (the desk queue's setting), as our own pause.
    done = board.on_event(events["AgentComplete"])
    assert done.actions == (QueuePause(interface=IFACE, paused=True, reason="wrapup"),)
    wrapping = next(m for m in done.messages if m["type"] == "agent")
    # The call is gone from the message but wrap-up still says which call it is about.
    assert (wrapping["state"], wrapping["call"], wrapping["last_call"]) == ("wrap_up", None, "1.7")
    assert board.command("li.na", "finish_wrap_up").messages[0]["state"] == "available"


def test_given_a_caller_who_hangs_up_waiting_when_abandoned_then_the_service_level_counts_it(
    board: SeatBoard,
) -> None:
    board.on_event({"Event": "QueueCallerJoin", "Queue": "desk", "Uniqueid": "1.8", "CallerIDNum": "1"})
    (gone,) = board.on_event({"Event": "QueueCallerAbandon", "Queue": "desk", "Uniqueid": "1.8"}).messages
    assert (gone["waiting"], gone["abandoned_today"], gone["service_level"]) == ([], 1, 0.0)


def test_given_a_caller_the_queue_gave_up_on_when_app_queue_says_abandon_then_it_is_not_counted() -> None:
    settings = Settings(queues=(QueueSettings(name="main"), QueueSettings(name="desk", max_wait=30)))
    board = SeatBoard(settings, [AGENT], clock=Clock())
    board.on_event({"Event": "QueueCallerJoin", "Queue": "desk", "Uniqueid": "1.9", "CallerIDNum": "1"})
    timed_out = {"Event": "QueueCallerAbandon", "Queue": "desk", "Uniqueid": "1.9", "HoldTime": "30"}
    (gone,) = board.on_event(timed_out).messages
    assert (gone["waiting"], gone["abandoned_today"]) == ([], 0)
    board.on_event({"Event": "QueueCallerJoin", "Queue": "desk", "Uniqueid": "2.0", "CallerIDNum": "1"})
    gave_up = {"Event": "QueueCallerAbandon", "Queue": "desk", "Uniqueid": "2.0", "HoldTime": "29"}
    assert board.on_event(gave_up).messages[0]["abandoned_today"] == 1


def test_given_an_event_that_contradicts_the_board_when_applied_then_a_resync_is_asked(
    board: SeatBoard,
) -> None:
    logged_in(board)
    result = board.on_event(agent_events()["AgentComplete"])  # a call that never rang here
    assert result.resync and result.actions == ()


def test_given_a_fixed_seat_when_logout_is_asked_then_it_is_refused(board: SeatBoard) -> None:
    with pytest.raises(Refused, match="fixed seat"):
        board.command("1001", "logout")
    with pytest.raises(KeyError):
        board.command("nobody", "login")


def test_given_an_agent_on_a_call_when_a_supervisor_whispers_then_chanspy_rings_the_supervisors_seat(
    board: SeatBoard,
) -> None:
    with pytest.raises(Refused, match="not on a call"):
        board.supervise("wang.jun", "li.na", "listen")
    logged_in(board)
    events = agent_events()
    board.on_event(events["AgentCalled"])
    board.on_event(events["AgentConnect"])

    (action,) = board.supervise("wang.jun", "li.na", "whisper").actions

    assert action == SpyOn(channel="PJSIP/seat3001", spied_channel="PJSIP/seat2001-00000002", mode="whisper")
    assert action.fields()["Data"] == "PJSIP/seat2001-00000002,qEw"
    with pytest.raises(ValueError):
        board.supervise("wang.jun", "li.na", "record")


def test_given_asterisk_came_back_without_a_pause_when_rebuilt_with_restore_then_the_seat_is_put_back(
    board: SeatBoard,
) -> None:
    logged_in(board)
    board.command("li.na", "pause", "meal")
    # Asterisk restarted: astdb gave back the member, but not its pause; another queue is missing.
    member = {"Event": "QueueMember", "Queue": "desk", "Location": IFACE, "Penalty": "0", "Paused": "0"}

    plain = board.rebuild([member], [])  # our own restart: Asterisk is the truth
    assert next(m for m in plain.messages if m.get("agent") == "li.na")["state"] == "available"

    board.command("li.na", "pause", "meal")
    restored = board.rebuild([member], [], restore=True)
    assert QueuePause(interface=IFACE, paused=True, reason="meal") in restored.actions
    mine = next(m for m in restored.messages if m.get("agent") == "li.na")
    assert (mine["state"], mine["pause_reason"]) == ("paused", "meal")


def test_given_a_rebuild_when_published_then_every_seat_is_in_it_changed_or_not(board: SeatBoard) -> None:
    result = board.rebuild([], [])
    assert {m["agent"] for m in result.messages if m["type"] == "agent"} == {"li.na", "1001", "wang.jun"}
    assert {m["queue"] for m in result.messages if m["type"] == "queue"} == {"main", "desk"}


# ----- recording pause: the agent mutes the caller's MixMonitor ----------------------------------


def on_a_call(board: SeatBoard) -> dict[str, dict[str, str]]:
    logged_in(board)
    events = agent_events()
    board.on_event(events["AgentCalled"])
    board.on_event(events["AgentConnect"])
    return events


def mine(result_messages: tuple[dict[str, object], ...]) -> dict[str, object]:
    return next(m for m in result_messages if m["type"] == "agent" and m["agent"] == "li.na")


@pytest.mark.parametrize("command", ["recording_pause", "recording_resume"])
def test_given_an_agent_not_on_a_call_when_recording_is_paused_then_it_is_refused(
    board: SeatBoard, command: str
) -> None:
    with pytest.raises(Refused, match="not on a call"):
        board.command("li.na", command)
    logged_in(board)
    board.on_event(agent_events()["AgentCalled"])  # ringing is not talking yet
    with pytest.raises(Refused, match="not on a call"):
        board.command("li.na", command)
    assert board.agent_message("li.na")["recording_paused"] is False


def test_given_a_queue_call_when_the_agent_pauses_then_the_callers_mixmonitor_is_muted_both_ways(
    board: SeatBoard,
) -> None:
    on_a_call(board)
    assert board.agent_message("li.na")["recording_paused"] is False

    paused = board.command("li.na", "recording_pause")

    # The caller's channel, not the seat's: the dialplan put the MixMonitor there.
    assert paused.actions == (MixMonitorMute(channel=CALLER_CHANNEL, muted=True),)
    assert paused.actions[0].fields()["Direction"] == "both"
    message = mine(paused.messages)
    assert (message["state"], message["recording_paused"], message["cause"]) == (
        "on_call",
        True,
        "recording_pause",
    )
    # Idempotent: a second click (another tab) sends the same mute, and still says paused.
    assert board.command("li.na", "recording_pause").actions == paused.actions

    resumed = board.command("li.na", "recording_resume")
    assert resumed.actions == (MixMonitorMute(channel=CALLER_CHANNEL, muted=False),)
    assert mine(resumed.messages)["recording_paused"] is False


def test_given_a_paused_recording_when_the_caller_hangs_up_then_the_flag_resets_and_the_pause_ends(
    board: SeatBoard,
) -> None:
    events = on_a_call(board)
    board.command("li.na", "recording_pause")

    done = board.on_event({**events["AgentComplete"], "Reason": "caller"})

    # The caller's channel is gone with its recording: nothing to unmute, the row is to close.
    assert done.actions == (QueuePause(interface=IFACE, paused=True, reason="wrapup"),)
    assert done.pauses_ended == ("1.7",)
    assert (mine(done.messages)["state"], mine(done.messages)["recording_paused"]) == ("wrap_up", False)
    # The next call starts recorded.
    board.command("li.na", "finish_wrap_up")
    board.on_event(agent_events("1.9")["AgentCalled"])
    answered = board.on_event(agent_events("1.9")["AgentConnect"])
    assert mine(answered.messages)["recording_paused"] is False


def test_given_a_paused_recording_when_the_agent_transfers_the_caller_then_the_recording_is_unmuted(
    board: SeatBoard,
) -> None:
    events = on_a_call(board)
    board.command("li.na", "recording_pause")

    done = board.on_event({**events["AgentComplete"], "Reason": "transfer"})

    # The caller goes on (to a queue, a colleague) with the same MixMonitor: recorded again.
    assert MixMonitorMute(channel=CALLER_CHANNEL, muted=False) in done.actions
    assert done.pauses_ended == ("1.7",)
    assert mine(done.messages)["recording_paused"] is False


def test_given_a_call_that_ended_unpaused_when_it_ends_then_no_pause_is_reported(board: SeatBoard) -> None:
    events = on_a_call(board)
    board.command("li.na", "recording_pause")
    board.command("li.na", "recording_resume")

    done = board.on_event({**events["AgentComplete"], "Reason": "transfer"})

    assert done.pauses_ended == ()
    assert not any(isinstance(a, MixMonitorMute) for a in done.actions)


def test_given_a_call_no_queue_gave_the_seat_when_paused_then_it_is_refused(board: SeatBoard) -> None:
    logged_in(board)
    # A caller transferred straight to the seat: the device is busy, no Agent* event named a caller.
    board.on_event({"Event": "QueueMemberStatus", "Queue": "desk", "Interface": IFACE, "Status": "2"})
    assert board.machines["li.na"].state.value == "on_call"

    with pytest.raises(Refused, match="not on a queue call"):
        board.command("li.na", "recording_pause")


def test_given_a_site_that_records_nothing_when_paused_then_it_is_refused(clock: Clock) -> None:
    queues = (QueueSettings(name="main"), QueueSettings(name="desk"))
    settings = Settings(queues=queues, recording=RecordingSettings(enabled=False))
    board = SeatBoard(settings, [AGENT], clock=clock)
    on_a_call(board)

    with pytest.raises(Refused, match="not recorded"):
        board.command("li.na", "recording_pause")


def test_given_asterisk_refused_the_mute_when_told_then_the_console_is_not_left_saying_paused(
    board: SeatBoard,
) -> None:
    on_a_call(board)
    board.command("li.na", "recording_pause")

    undone = board.recording_not_taken("li.na", "recording_pause")

    assert mine(undone.messages)["recording_paused"] is False
    assert undone.actions == ()
    # A resume Asterisk refused leaves the recording muted: the console keeps saying so.
    board.command("li.na", "recording_pause")
    board.command("li.na", "recording_resume")
    assert mine(board.recording_not_taken("li.na", "recording_resume").messages)["recording_paused"] is True


def test_given_a_call_found_by_a_rebuild_when_paused_then_the_bridged_callers_channel_is_muted(
    board: SeatBoard,
) -> None:
    member = {
        "Event": "QueueMember",
        "Queue": "desk",
        "Location": IFACE,
        "Penalty": "0",
        "Paused": "0",
        "InCall": "1",
        "Status": "2",
    }
    channels = [
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/seat2001-0000000b",
            "Uniqueid": "1.20",
            "BridgeId": "b1",
            "ChannelState": "6",
            "ConnectedLineNum": "13912345678",
        },
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/desk-0000000a",
            "Uniqueid": "1.19",
            "BridgeId": "b1",
            "ChannelState": "6",
        },
    ]
    rebuilt = board.rebuild([member], channels)
    assert mine(rebuilt.messages)["state"] == "on_call"

    (action,) = board.command("li.na", "recording_pause").actions

    assert action == MixMonitorMute(channel="PJSIP/desk-0000000a", muted=True)
    assert board.agent_message("li.na")["call"]["caller"] == "1.19"
