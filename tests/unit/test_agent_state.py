"""telephony.agent_state and telephony.agent_events: seat states, their AMI actions, and the rebuild.

Events have the fields Asterisk 22 sends (the QueueStatus reply names the member Name/Location,
the live events MemberName/Interface). Time comes from a hand-moved clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telephony.agent_events import apply_event, rebuild
from telephony.agent_state import (
    WRAP_UP_CODE,
    AgentFacts,
    AgentMachine,
    AgentState,
    OutOfStep,
    PauseReason,
    Refused,
    Seat,
    derive_state,
    user_reason,
)
from telephony.ami_actions import AmiAction, Hangup, QueueAdd, QueuePause, QueueRemove

IFACE = "PJSIP/seat1001"
SEAT = Seat(agent="1001", interface=IFACE, member_name="张三", state_interface=IFACE)
WRAPUP = {"main": 15, "complaints": 30}
T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def machine(clock: Clock | None = None, **kwargs: Any) -> AgentMachine:
    return AgentMachine(SEAT, clock=clock or Clock(), wrapup_seconds=kwargs.pop("wrapup", WRAPUP), **kwargs)


def member_event(name: str, queue: str = "main", **fields: Any) -> dict[str, Any]:
    """A QueueMember* event as app_queue raises it."""
    base: dict[str, Any] = {
        "Event": name,
        "Queue": queue,
        "MemberName": "张三",
        "Interface": IFACE,
        "StateInterface": IFACE,
        "Membership": "dynamic",
        "Penalty": "0",
        "CallsTaken": "0",
        "LastCall": "0",
        "LastPause": "0",
        "LoginTime": "1740988800",
        "InCall": "0",
        "Status": "1",
        "Paused": "0",
        "PausedReason": "",
        "Ringinuse": "0",
        "Wrapuptime": "0",
    }
    return {**base, **fields}


def agent_event(name: str, queue: str = "main", **fields: Any) -> dict[str, Any]:
    """An Agent* event: the caller's channel, then the seat's as Dest*, then queue and member."""
    base: dict[str, Any] = {
        "Event": name,
        "Channel": "PJSIP/carrier-00000001",
        "Uniqueid": "1740988800.1",
        "Linkedid": "1740988800.1",
        "DestChannel": "PJSIP/seat1001-00000002",
        "DestUniqueid": "1740988800.2",
        "Queue": queue,
        "MemberName": "张三",
        "Interface": IFACE,
    }
    return {**base, **fields}


def logged_in(
    clock: Clock | None = None, queues: dict[str, int] | None = None, **kwargs: Any
) -> AgentMachine:
    m = machine(clock, **kwargs)
    m.login(queues or {"main": 0, "complaints": 5})
    return m


def ringing(clock: Clock | None = None, **kwargs: Any) -> AgentMachine:
    m = logged_in(clock, **kwargs)
    apply_event(m, agent_event("AgentCalled"))
    return m


def on_call(clock: Clock | None = None, **kwargs: Any) -> AgentMachine:
    m = ringing(clock, **kwargs)
    apply_event(m, agent_event("AgentConnect", HoldTime="3", RingTime="2"))
    return m


def in_wrap_up(clock: Clock | None = None, **kwargs: Any) -> AgentMachine:
    m = on_call(clock, **kwargs)
    apply_event(m, agent_event("AgentComplete", HoldTime="3", TalkTime="60", Reason="caller"))
    return m


def paused(clock: Clock | None = None, reason: str = "meal") -> AgentMachine:
    m = logged_in(clock)
    m.pause(reason)
    return m


# ----- commands: the state they lead to and the exact AMI actions ---------------------------------


def test_given_a_logged_out_seat_when_it_logs_in_then_it_is_added_to_each_queue_with_its_penalty():
    clock = Clock()
    m = machine(clock)

    outcome = m.login({"main": 0, "complaints": 5})

    assert m.state is AgentState.AVAILABLE
    assert outcome.actions == (
        QueueAdd(queue="complaints", interface=IFACE, penalty=5, member_name="张三", state_interface=IFACE),
        QueueAdd(queue="main", interface=IFACE, penalty=0, member_name="张三", state_interface=IFACE),
    )
    assert outcome.actions[1].fields() == {
        "Action": "QueueAdd",
        "Queue": "main",
        "Interface": IFACE,
        "Penalty": "0",
        "Paused": "false",
        "MemberName": "张三",
        "StateInterface": IFACE,
    }
    assert outcome.change is not None
    assert (outcome.change.agent, outcome.change.old, outcome.change.new) == (
        "1001",
        AgentState.LOGGED_OUT,
        AgentState.AVAILABLE,
    )
    assert (outcome.change.cause, outcome.change.at) == ("login", T0)


def test_given_an_available_seat_when_it_pauses_then_it_is_paused_everywhere_with_the_reason_code():
    clock = Clock()
    m = logged_in(clock)
    clock.advance(60)

    outcome = m.pause("meal")

    assert m.state is AgentState.PAUSED
    assert user_reason(m.facts) == "meal"
    assert m.facts.since == clock.now
    assert outcome.actions == (QueuePause(interface=IFACE, paused=True, reason="meal"),)
    assert outcome.actions[0].fields() == {
        "Action": "QueuePause",
        "Interface": IFACE,
        "Paused": "true",
        "Reason": "meal",
    }
    assert outcome.change is not None and outcome.change.pause_reason == "meal"


def test_given_a_paused_seat_when_it_pauses_for_another_reason_then_the_reason_changes():
    m = paused(reason="meal")

    outcome = m.pause("training")

    assert (m.state, user_reason(m.facts)) == (AgentState.PAUSED, "training")
    assert outcome.actions == (QueuePause(interface=IFACE, paused=True, reason="training"),)
    assert outcome.change is not None and outcome.change.old is AgentState.PAUSED


def test_given_a_paused_seat_when_it_unpauses_then_it_is_available_and_unpaused_everywhere():
    m = paused()

    outcome = m.unpause()

    assert m.state is AgentState.AVAILABLE
    assert outcome.actions == (QueuePause(interface=IFACE, paused=False),)
    assert outcome.actions[0].fields() == {"Action": "QueuePause", "Interface": IFACE, "Paused": "false"}


def test_given_an_available_seat_when_it_logs_out_then_it_is_removed_from_every_queue():
    m = logged_in()

    outcome = m.logout()

    assert m.state is AgentState.LOGGED_OUT
    assert outcome.actions == (
        QueueRemove(queue="complaints", interface=IFACE),
        QueueRemove(queue="main", interface=IFACE),
    )


@pytest.mark.parametrize("make", [paused, in_wrap_up])
def test_given_a_paused_or_wrapping_up_seat_when_it_logs_out_then_it_leaves_every_queue(make):
    m = make()

    outcome = m.logout()

    assert m.state is AgentState.LOGGED_OUT
    assert [type(a) for a in outcome.actions] == [QueueRemove, QueueRemove]


def test_given_a_ringing_seat_when_it_logs_out_then_the_ring_is_hung_up_and_it_leaves_all_queues():
    m = ringing()

    outcome = m.logout()

    assert m.state is AgentState.LOGGED_OUT
    assert outcome.actions == (
        QueueRemove(queue="complaints", interface=IFACE),
        QueueRemove(queue="main", interface=IFACE),
        Hangup(channel="PJSIP/seat1001-00000002"),
    )
    # The abandoned ring's own events arrive afterwards and change nothing.
    assert apply_event(m, agent_event("AgentRingNoAnswer", RingTime="4")).change is None
    assert apply_event(m, member_event("QueueMemberRemoved")).change is None
    assert m.state is AgentState.LOGGED_OUT


# ----- events from Asterisk ------------------------------------------------------------------------


def test_given_an_available_seat_when_asterisk_rings_it_then_it_is_ringing_with_the_agent_channel():
    m = logged_in()

    outcome = apply_event(m, agent_event("AgentCalled"))

    assert m.state is AgentState.RINGING
    assert m.facts.ring is not None and m.facts.ring.channel == "PJSIP/seat1001-00000002"
    assert outcome.actions == ()
    assert outcome.change is not None and outcome.change.cause == "AgentCalled"


def test_given_a_ringing_seat_when_nobody_answers_then_it_is_available_again():
    m = ringing()

    outcome = apply_event(m, agent_event("AgentRingNoAnswer", RingTime="15"))

    assert m.state is AgentState.AVAILABLE
    assert outcome.change is not None and outcome.change.old is AgentState.RINGING


def test_given_a_ringing_seat_when_another_seat_answers_then_its_device_going_idle_ends_the_ring():
    m = ringing()

    apply_event(m, member_event("QueueMemberStatus", Status="6"))
    assert m.state is AgentState.RINGING
    apply_event(m, member_event("QueueMemberStatus", Status="1"))

    assert m.state is AgentState.AVAILABLE


def test_given_an_available_seat_when_a_transferred_call_makes_its_device_busy_then_it_is_on_call():
    m = logged_in()

    busy = apply_event(m, member_event("QueueMemberStatus", Status="2"))  # InCall 0: no queue's call
    assert m.state is AgentState.ON_CALL
    assert m.facts.call is not None and m.facts.call.direct
    assert busy.change is not None and busy.change.new is AgentState.ON_CALL
    apply_event(m, member_event("QueueMemberStatus", Status="8"))  # on hold: still on that call
    assert m.state is AgentState.ON_CALL
    idle = apply_event(m, member_event("QueueMemberStatus", Status="1"))

    assert m.state is AgentState.AVAILABLE  # no wrap-up: no queue call ended
    assert idle.actions == ()


def test_given_a_queue_call_when_the_device_goes_idle_before_agent_complete_then_it_still_wraps_up():
    m = on_call()

    apply_event(m, member_event("QueueMemberStatus", Status="1"))
    assert m.state is AgentState.ON_CALL  # a queue call ends with AgentComplete, not the device
    apply_event(m, agent_event("AgentComplete", Reason="agent"))

    assert m.state is AgentState.WRAP_UP


def test_given_a_seat_in_wrap_up_when_a_transferred_call_comes_and_goes_then_the_wrap_up_is_still_there():
    clock = Clock()
    m = in_wrap_up(clock)
    until = m.facts.wrapup_until

    apply_event(m, member_event("QueueMemberStatus", Status="2", Paused="1", PausedReason=WRAP_UP_CODE))
    assert m.state is AgentState.ON_CALL
    apply_event(m, member_event("QueueMemberStatus", Status="1", Paused="1", PausedReason=WRAP_UP_CODE))

    assert (m.state, m.facts.wrapup_until) == (AgentState.WRAP_UP, until)


def test_given_a_seat_on_a_transferred_call_when_it_logs_in_to_a_queue_then_it_is_on_call():
    m = machine()

    apply_event(m, member_event("QueueMemberAdded", Status="2"))

    assert m.state is AgentState.ON_CALL and m.facts.call is not None and m.facts.call.direct


def test_given_a_ringing_seat_when_it_answers_then_it_is_on_call():
    m = ringing()

    outcome = apply_event(m, agent_event("AgentConnect", HoldTime="3", RingTime="2"))

    assert m.state is AgentState.ON_CALL
    assert outcome.actions == ()


def test_given_a_seat_on_call_when_the_call_ends_then_it_wraps_up_for_the_queues_time():
    clock = Clock()
    m = on_call(clock)
    clock.advance(90)

    outcome = apply_event(m, agent_event("AgentComplete", queue="complaints", TalkTime="90", Reason="agent"))

    assert m.state is AgentState.WRAP_UP
    assert m.facts.wrapup_until == clock.now + timedelta(seconds=30)
    assert outcome.actions == (QueuePause(interface=IFACE, paused=True, reason=WRAP_UP_CODE),)
    assert outcome.change is not None and outcome.change.pause_reason is None


def test_given_a_seat_wrapping_up_when_the_timer_runs_out_then_tick_makes_it_available():
    clock = Clock()
    m = in_wrap_up(clock)

    assert m.tick(clock.now + timedelta(seconds=14)) == m.tick(clock.now)
    assert m.state is AgentState.WRAP_UP
    outcome = m.tick(clock.now + timedelta(seconds=15))

    assert m.state is AgentState.AVAILABLE
    assert outcome.actions == (QueuePause(interface=IFACE, paused=False),)
    assert outcome.change is not None
    assert (outcome.change.cause, outcome.change.at) == ("wrap-up timer", clock.now + timedelta(seconds=15))


def test_given_a_seat_wrapping_up_when_the_agent_is_done_early_then_it_is_available_at_once():
    m = in_wrap_up()

    outcome = m.finish_wrap_up()

    assert m.state is AgentState.AVAILABLE
    assert outcome.actions == (QueuePause(interface=IFACE, paused=False),)
    assert m.facts.since is not None
    assert m.tick(m.facts.since + timedelta(hours=1)).change is None


def test_given_a_queue_without_wrap_up_when_the_call_ends_then_the_seat_is_available_at_once():
    m = on_call(wrapup={"main": 0, "complaints": 0})

    outcome = apply_event(m, agent_event("AgentComplete", TalkTime="60", Reason="caller"))

    assert (m.state, outcome.actions) == (AgentState.AVAILABLE, ())


def test_given_a_wrap_up_until_done_when_time_passes_then_only_the_agent_ends_it():
    clock = Clock()
    m = in_wrap_up(clock, wrapup={"main": None})

    assert m.facts.wrapup_until is None
    assert m.tick(clock.advance(86400)).change is None
    assert m.state is AgentState.WRAP_UP
    m.finish_wrap_up()
    assert m.state is AgentState.AVAILABLE


def test_given_an_answered_ring_when_the_agent_hangs_up_before_the_bridge_then_it_wraps_up():
    m = ringing()

    apply_event(m, agent_event("AgentDump"))

    assert m.state is AgentState.WRAP_UP


def test_given_a_seat_on_call_when_it_asks_for_a_pause_then_it_is_paused_when_the_call_ends():
    m = on_call()

    outcome = m.pause("meal")

    assert m.state is AgentState.ON_CALL
    assert outcome.actions == (QueuePause(interface=IFACE, paused=True, reason="meal"),)
    assert outcome.change is not None and outcome.change.pause_reason == "meal"
    ended = apply_event(m, agent_event("AgentComplete", TalkTime="60", Reason="caller"))
    assert (m.state, user_reason(m.facts), ended.actions) == (AgentState.PAUSED, "meal", ())


def test_given_a_pause_asked_for_during_a_call_when_withdrawn_then_the_call_ends_in_wrap_up():
    m = on_call()
    m.pause("meal")

    m.unpause()
    apply_event(m, agent_event("AgentComplete", TalkTime="60", Reason="caller"))

    assert m.state is AgentState.WRAP_UP


def test_given_a_ring_that_started_before_our_pause_landed_when_answered_then_the_call_goes_ahead():
    m = logged_in()
    m.pause("meal")

    apply_event(m, agent_event("AgentCalled"))
    apply_event(m, agent_event("AgentConnect"))
    assert m.state is AgentState.ON_CALL
    apply_event(m, agent_event("AgentComplete"))

    assert (m.state, user_reason(m.facts)) == (AgentState.PAUSED, "meal")


def test_given_a_seat_when_its_own_commands_echo_back_from_asterisk_then_nothing_changes():
    m = machine()
    m.login({"main": 0})
    assert apply_event(m, member_event("QueueMemberAdded")).change is None
    m.pause("meal")
    echo = member_event("QueueMemberPause", Paused="1", PausedReason="meal")
    assert apply_event(m, echo).change is None
    assert (m.state, user_reason(m.facts)) == (AgentState.PAUSED, "meal")


def test_given_a_logged_out_seat_when_asterisk_adds_it_paused_then_it_is_paused_with_that_reason():
    m = machine()

    apply_event(m, member_event("QueueMemberAdded", Penalty="3", Paused="1", PausedReason="training"))

    assert (m.state, user_reason(m.facts), dict(m.facts.queues)) == (
        AgentState.PAUSED,
        "training",
        {"main": 3},
    )


def test_given_a_seat_in_two_queues_when_asterisk_removes_it_from_both_then_it_is_logged_out():
    m = logged_in()

    apply_event(m, member_event("QueueMemberRemoved", queue="main"))
    assert m.state is AgentState.AVAILABLE
    apply_event(m, member_event("QueueMemberRemoved", queue="complaints"))

    assert m.state is AgentState.LOGGED_OUT


def test_given_an_available_seat_when_someone_pauses_it_in_asterisk_then_it_is_paused_and_back():
    m = logged_in()

    apply_event(m, member_event("QueueMemberPause", Paused="1", PausedReason="meeting"))
    assert (m.state, user_reason(m.facts)) == (AgentState.PAUSED, "meeting")
    apply_event(m, member_event("QueueMemberPause", Paused="0", PausedReason=""))

    assert m.state is AgentState.AVAILABLE


@pytest.mark.parametrize("status", ["4", "5"])
def test_given_a_seat_whose_softphone_unregisters_when_reported_then_it_is_unreachable_not_logged_out(status):
    clock = Clock()
    m = paused(clock)

    outcome = apply_event(
        m, member_event("QueueMemberStatus", Status=status, Paused="1", PausedReason="meal")
    )

    assert (m.state, user_reason(m.facts), m.facts.reachable) == (AgentState.PAUSED, "meal", False)
    assert outcome.change is not None
    assert (outcome.change.old, outcome.change.new, outcome.change.reachable) == (
        AgentState.PAUSED,
        AgentState.PAUSED,
        False,
    )
    back = apply_event(m, member_event("QueueMemberStatus", Status="1", Paused="1", PausedReason="meal"))
    assert back.change is not None and back.change.reachable is True
    assert m.state is AgentState.PAUSED


def test_given_an_event_about_another_seat_when_applied_then_it_is_ignored():
    m = logged_in()

    assert apply_event(m, agent_event("AgentCalled", Interface="PJSIP/seat1002")) == apply_event(m, {})
    assert m.state is AgentState.AVAILABLE


# ----- what is refused, and why --------------------------------------------------------------------

REFUSALS: list[tuple[Callable[..., AgentMachine], Callable[[AgentMachine], object], str]] = [
    (machine, lambda m: m.pause("meal"), "not logged in"),
    (machine, lambda m: m.unpause(), "not paused"),
    (machine, lambda m: m.logout(), "not logged in"),
    (machine, lambda m: m.finish_wrap_up(), "not in wrap-up"),
    (machine, lambda m: m.login({}), "no queue given"),
    (logged_in, lambda m: m.login({"main": 0}), "already logged in"),
    (logged_in, lambda m: m.unpause(), "not paused"),
    (logged_in, lambda m: m.finish_wrap_up(), "not in wrap-up"),
    (logged_in, lambda m: m.pause("nap"), "unknown pause reason 'nap'"),
    (logged_in, lambda m: m.pause(WRAP_UP_CODE), "unknown pause reason 'wrapup'"),
    (paused, lambda m: m.pause("meal"), "already paused (meal)"),
    (paused, lambda m: m.finish_wrap_up(), "not in wrap-up"),
    (paused, lambda m: m.login({"main": 0}), "already logged in"),
    (ringing, lambda m: m.finish_wrap_up(), "not in wrap-up"),
    (ringing, lambda m: m.unpause(), "not paused"),
    (on_call, lambda m: m.logout(), "on a call: hang up first"),
    (on_call, lambda m: m.finish_wrap_up(), "not in wrap-up"),
    (on_call, lambda m: m.unpause(), "not paused"),
    (in_wrap_up, lambda m: m.unpause(), "in wrap-up: finish the wrap-up instead"),
    (in_wrap_up, lambda m: m.login({"main": 0}), "already logged in"),
]


@pytest.mark.parametrize(("make", "command", "reason"), REFUSALS)
def test_given_a_state_when_an_illegal_command_comes_then_it_is_refused_with_its_reason(
    make, command, reason
):
    m = make()
    before = m.facts

    with pytest.raises(Refused) as refused:
        command(m)

    assert refused.value.reason == reason
    assert refused.value.state is derive_state(before)
    assert m.facts == before


OUT_OF_STEP = [
    (paused, agent_event("AgentConnect"), "answered a call that never rang this seat (paused)"),
    (logged_in, agent_event("AgentConnect"), "answered a call that never rang this seat (available)"),
    (logged_in, agent_event("AgentComplete"), "no call on this seat"),
    (on_call, agent_event("AgentCalled"), "rung while on a call (ringinuse is off)"),
]


@pytest.mark.parametrize(("make", "event", "reason"), OUT_OF_STEP)
def test_given_a_state_when_asterisk_reports_the_impossible_then_it_is_out_of_step(make, event, reason):
    m = make()
    before = m.facts

    with pytest.raises(OutOfStep) as refused:
        apply_event(m, event)

    assert refused.value.reason == reason
    assert m.facts == before


def test_given_a_pause_reason_code_with_a_separator_or_the_reserved_code_then_it_is_refused():
    with pytest.raises(ValueError, match="Reason"):
        PauseReason("meal;x", "就餐", "Meal")
    with pytest.raises(ValueError, match="reserved"):
        PauseReason(WRAP_UP_CODE, "话后处理", "Wrap-up")


def test_given_a_custom_reason_list_when_pausing_then_only_its_codes_are_accepted():
    m = machine(pause_reasons=(PauseReason("外出", "外出办事", "Out on duty"),))
    m.login({"main": 0})

    m.pause("外出")

    assert user_reason(m.facts) == "外出"
    with pytest.raises(Refused, match="unknown pause reason"):
        m.pause("meal")


# ----- rebuild from QueueStatus and CoreShowChannels -----------------------------------------------


def status_member(queue: str = "main", **fields: Any) -> dict[str, Any]:
    """A QueueMember event from the QueueStatus reply: Name and Location, not MemberName/Interface."""
    base: dict[str, Any] = {
        "Event": "QueueMember",
        "Queue": queue,
        "Name": "张三",
        "Location": IFACE,
        "StateInterface": IFACE,
        "Membership": "dynamic",
        "Penalty": "0",
        "CallsTaken": "4",
        "LastCall": "0",
        "LastPause": "0",
        "LoginTime": "1740988800",
        "InCall": "0",
        "Status": "1",
        "Paused": "0",
        "PausedReason": "",
        "Wrapuptime": "0",
    }
    return {**base, **fields}


def params(queue: str = "main") -> dict[str, Any]:
    return {"Event": "QueueParams", "Queue": queue, "Max": "0", "Strategy": "rrmemory", "Calls": "0"}


def channel(name: str, state: str = "6", bridge: str = "") -> dict[str, Any]:
    return {
        "Event": "CoreShowChannel",
        "Channel": name,
        "ChannelState": state,
        "ChannelStateDesc": {"6": "Up", "5": "Ringing"}.get(state, "Down"),
        "BridgeId": bridge,
        "Uniqueid": "1.2",
        "Linkedid": "1.1",
    }


def epoch(at: datetime) -> str:
    return str(int(at.timestamp()))


def rebuilt(members, channels=(), *, now=T0, previous=None, wrapup=WRAPUP):
    status = [params(), params("complaints"), *members, {"Event": "QueueStatusComplete"}]
    previous_map = {IFACE: previous} if previous is not None else None
    result = rebuild([SEAT], status, channels, now=now, wrapup=wrapup, previous=previous_map)
    return result.facts[IFACE], list(result.actions)


def test_given_our_record_says_on_call_when_asterisk_shows_no_call_long_after_then_it_is_available():
    previous = on_call().facts
    ended = T0 - timedelta(minutes=5)

    facts, actions = rebuilt([status_member(LastCall=epoch(ended))], previous=previous)

    assert (derive_state(facts), actions) == (AgentState.AVAILABLE, [])


def test_given_our_record_says_on_call_when_the_call_ended_moments_ago_then_it_wraps_up_the_rest():
    previous = on_call().facts
    ended = T0 - timedelta(seconds=5)

    facts, actions = rebuilt([status_member(LastCall=epoch(ended))], previous=previous)

    assert derive_state(facts) is AgentState.WRAP_UP
    assert facts.wrapup_until == ended + timedelta(seconds=15)
    assert actions == [QueuePause(interface=IFACE, paused=True, reason=WRAP_UP_CODE)]


def test_given_our_record_says_available_when_asterisk_has_no_membership_then_it_is_logged_out():
    previous = logged_in().facts

    facts, actions = rebuilt([status_member(Location="PJSIP/seat1002", Name="李四")], previous=previous)

    assert (derive_state(facts), actions) == (AgentState.LOGGED_OUT, [])


def test_given_asterisk_shows_a_pause_with_a_reason_when_rebuilt_then_the_seat_is_paused_for_it():
    since = T0 - timedelta(minutes=20)
    members = [
        status_member(Paused="1", PausedReason="meal", LastPause=epoch(since)),
        status_member("complaints", Penalty="5", Paused="1", PausedReason="meal", LastPause=epoch(since)),
    ]

    facts, actions = rebuilt(members, previous=logged_in().facts)

    assert (derive_state(facts), user_reason(facts), facts.since) == (AgentState.PAUSED, "meal", since)
    assert dict(facts.queues) == {"main": 0, "complaints": 5}
    assert actions == []


def test_given_a_seat_paused_in_one_queue_only_when_rebuilt_then_it_is_paused_in_all_of_them():
    members = [status_member(Paused="1", PausedReason="training"), status_member("complaints")]

    facts, actions = rebuilt(members)

    assert (derive_state(facts), user_reason(facts)) == (AgentState.PAUSED, "training")
    assert actions == [QueuePause(interface=IFACE, paused=True, reason="training")]


def test_given_a_wrap_up_pause_still_running_when_rebuilt_then_the_seat_wraps_up_until_its_end():
    ended = T0 - timedelta(seconds=10)
    members = [status_member(Paused="1", PausedReason=WRAP_UP_CODE, LastCall=epoch(ended))]

    facts, actions = rebuilt(members)

    assert (derive_state(facts), facts.wrapup_until, actions) == (
        AgentState.WRAP_UP,
        ended + timedelta(seconds=15),
        [],
    )


def test_given_a_wrap_up_pause_whose_time_is_up_when_rebuilt_then_the_seat_is_unpaused():
    ended = T0 - timedelta(minutes=10)
    members = [status_member(Paused="1", PausedReason=WRAP_UP_CODE, LastCall=epoch(ended))]

    facts, actions = rebuilt(members)  # the API restarted: no record of ours

    assert derive_state(facts) is AgentState.AVAILABLE
    assert actions == [QueuePause(interface=IFACE, paused=False)]


def test_given_our_wrap_up_record_has_run_out_when_rebuilt_then_the_seat_is_unpaused():
    clock = Clock()
    previous = in_wrap_up(clock).facts  # from the main queue: 15 s
    members = [status_member(Paused="1", PausedReason=WRAP_UP_CODE, LastCall=epoch(T0))]

    facts, actions = rebuilt(members, previous=previous, now=T0 + timedelta(seconds=16))

    assert derive_state(facts) is AgentState.AVAILABLE
    assert actions == [QueuePause(interface=IFACE, paused=False)]


def test_given_our_wrap_up_record_from_the_longer_queue_when_rebuilt_then_its_end_is_kept():
    clock = Clock()
    m = on_call(clock)
    apply_event(m, agent_event("AgentComplete", queue="complaints"))  # 30 s, not main's 15 s
    members = [status_member(q, Paused="1", PausedReason=WRAP_UP_CODE, LastCall=epoch(T0)) for q in ("main",)]

    facts, actions = rebuilt(members, previous=m.facts, now=T0 + timedelta(seconds=20))

    assert (derive_state(facts), facts.wrapup_until, actions) == (
        AgentState.WRAP_UP,
        T0 + timedelta(seconds=30),
        [],
    )


def test_given_a_bridged_channel_on_the_seat_when_rebuilt_then_it_is_on_call():
    members = [status_member(InCall="1", Status="2")]
    channels = [
        channel("PJSIP/carrier-00000001", bridge="b1"),
        channel("PJSIP/seat1001-00000002", bridge="b1"),
    ]

    facts, _ = rebuilt(members, channels, previous=logged_in().facts)

    assert derive_state(facts) is AgentState.ON_CALL
    assert facts.call is not None and facts.call.channel == "PJSIP/seat1001-00000002"


def test_given_a_bridged_channel_but_no_queue_call_when_rebuilt_then_it_is_a_direct_call_without_wrap_up():
    members = [status_member(Status="2")]  # InCall 0
    channels = [
        channel("PJSIP/seat1002-00000007", bridge="b2"),
        channel("PJSIP/seat1001-00000008", bridge="b2"),
    ]

    facts, _ = rebuilt(members, channels, previous=logged_in().facts)
    assert derive_state(facts) is AgentState.ON_CALL
    assert facts.call is not None and facts.call.direct
    after, actions = rebuilt([status_member()], previous=facts)  # it ended while we were away

    assert (derive_state(after), actions) == (AgentState.AVAILABLE, [])


def test_given_a_ringing_device_when_rebuilt_then_the_seat_is_ringing_with_that_channel():
    facts, _ = rebuilt([status_member(Status="6")], [channel("PJSIP/seat1001-00000009", state="5")])

    assert derive_state(facts) is AgentState.RINGING
    assert facts.ring is not None and facts.ring.channel == "PJSIP/seat1001-00000009"


def test_given_an_unregistered_softphone_when_rebuilt_then_the_seat_is_unreachable_but_logged_in():
    facts, _ = rebuilt([status_member(Status="5"), status_member("complaints", Status="5")])

    assert (derive_state(facts), facts.reachable) == (AgentState.AVAILABLE, False)


def test_given_a_rebuild_that_changes_nothing_when_resynced_then_no_change_is_announced():
    clock = Clock()
    m = paused(clock)
    members = [
        status_member(Paused="1", PausedReason="meal"),
        status_member("complaints", Paused="1", PausedReason="meal"),
    ]
    facts, _ = rebuilt(members, previous=m.facts, now=clock.advance(30))

    assert m.resync(facts).change is None
    assert m.facts.since == T0


def test_given_a_stale_on_call_record_when_resynced_then_everyone_is_told_the_seat_is_free():
    clock = Clock()
    m = on_call(clock)
    facts, _ = rebuilt([status_member(LastCall=epoch(T0 - timedelta(hours=1)))], previous=m.facts)

    outcome = m.resync(facts)

    assert outcome.change is not None
    assert (outcome.change.old, outcome.change.new) == (AgentState.ON_CALL, AgentState.AVAILABLE)


# ----- no sequence of events leaves us believing something Asterisk does not -----------------------


@dataclass
class FakeMember:
    penalty: int
    paused: bool = False
    reason: str = ""
    last_call: int = 0
    last_pause: int = 0


@dataclass
class FakeQueueApp:
    """Just enough of app_queue: members, pauses, one ring or call on the seat's device."""

    clock: Clock
    members: dict[str, FakeMember] = field(default_factory=dict)
    status: int = 1
    ring: tuple[str, str] | None = None  # queue, agent channel
    call: tuple[str, str] | None = None
    direct: str | None = None  # the agent channel of a call no queue gave (a transfer to the seat)
    serial: int = 0

    def epoch(self) -> int:
        return int(self.clock.now.timestamp())

    def member_fields(self, queue: str) -> dict[str, Any]:
        mem = self.members[queue]
        return {
            "Penalty": str(mem.penalty),
            "Paused": "1" if mem.paused else "0",
            "PausedReason": mem.reason,
            "InCall": "1" if self.call else "0",
            "Status": str(self.status),
            "LastCall": str(mem.last_call),
        }

    def apply(self, action: AmiAction) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if isinstance(action, QueueAdd):
            self.members[action.queue] = FakeMember(action.penalty)
            events.append(member_event("QueueMemberAdded", action.queue, **self.member_fields(action.queue)))
        elif isinstance(action, QueueRemove):
            self.members.pop(action.queue)
            events.append(member_event("QueueMemberRemoved", action.queue))
        elif isinstance(action, QueuePause):
            for queue, mem in self.members.items():
                mem.paused, mem.reason, mem.last_pause = action.paused, action.reason or "", self.epoch()
                events.append(member_event("QueueMemberPause", queue, **self.member_fields(queue)))
        elif isinstance(action, Hangup) and self.ring and action.channel == self.ring[1]:
            self.ring = None
            self.status = 1
        return events

    def can_ring(self) -> bool:
        free = any(not m.paused for m in self.members.values())
        return free and self.status not in (4, 5) and not self.ring and not self.call and not self.direct

    def offer(self) -> list[dict[str, Any]]:
        queue = sorted(q for q, m in self.members.items() if not m.paused)[0]
        self.serial += 1
        self.ring = (queue, f"PJSIP/seat1001-{self.serial:08x}")
        self.status = 6
        return [agent_event("AgentCalled", queue, DestChannel=self.ring[1])]

    def answer(self) -> list[dict[str, Any]]:
        assert self.ring is not None
        self.call, self.ring, self.status = self.ring, None, 2
        return [agent_event("AgentConnect", self.call[0], DestChannel=self.call[1])]

    def ring_ends(self, quietly: bool) -> list[dict[str, Any]]:
        assert self.ring is not None
        queue, self.ring, self.status = self.ring[0], None, 1
        if quietly:  # another seat answered a ringall call: only the device state says so
            return [member_event("QueueMemberStatus", q, **self.member_fields(q)) for q in self.members]
        return [agent_event("AgentRingNoAnswer", queue)]

    def hang_up(self) -> list[dict[str, Any]]:
        assert self.call is not None
        queue, self.call, self.status = self.call[0], None, 1
        for mem in self.members.values():
            mem.last_call = self.epoch()
        return [agent_event("AgentComplete", queue, Reason="caller")]

    def transfer_in(self) -> list[dict[str, Any]]:
        self.serial += 1
        self.direct = f"PJSIP/seat1001-{self.serial:08x}"
        return self.set_device(2)

    def transfer_over(self) -> list[dict[str, Any]]:
        self.direct = None
        return self.set_device(1)

    def set_device(self, status: int) -> list[dict[str, Any]]:
        self.status = status
        return [member_event("QueueMemberStatus", q, **self.member_fields(q)) for q in self.members]

    def queue_status(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [params(), params("complaints")]
        for queue, mem in self.members.items():
            out.append(status_member(queue, **self.member_fields(queue), LastPause=str(mem.last_pause)))
        return out

    def channels(self) -> list[dict[str, Any]]:
        out = []
        if self.ring:
            out.append(channel(self.ring[1], state="5"))
        if self.call:
            out += [channel("PJSIP/carrier-00000001", bridge="b"), channel(self.call[1], bridge="b")]
        if self.direct:
            out += [channel("PJSIP/seat1002-00000001", bridge="d"), channel(self.direct, bridge="d")]
        return out


def _send(app: FakeQueueApp, m: AgentMachine, actions: tuple[AmiAction, ...]) -> None:
    for action in actions:
        for event in app.apply(action):
            _send(app, m, apply_event(m, event).actions)


def _feed(app: FakeQueueApp, m: AgentMachine, events: list[dict[str, Any]]) -> None:
    for event in events:
        _send(app, m, apply_event(m, event).actions)


def _step(rng: random.Random, app: FakeQueueApp, m: AgentMachine) -> None:
    choice = rng.randrange(16)
    try:
        if choice == 0:
            queues = rng.sample(["main", "complaints"], rng.randint(0, 2))
            _send(app, m, m.login({q: rng.randint(0, 3) for q in queues}).actions)
        elif choice == 1:
            _send(app, m, m.logout().actions)
        elif choice == 2:
            _send(app, m, m.pause(rng.choice(["meal", "training", "meeting", "nap"])).actions)
        elif choice == 3:
            _send(app, m, m.unpause().actions)
        elif choice == 4:
            _send(app, m, m.finish_wrap_up().actions)
    except Refused:
        return
    if choice == 5 and app.can_ring():
        _feed(app, m, app.offer())
    elif choice == 6 and app.ring:
        _feed(app, m, app.answer())
    elif choice == 7 and app.ring:
        _feed(app, m, app.ring_ends(quietly=rng.random() < 0.5))
    elif choice == 8 and app.call:
        app.clock.advance(rng.randint(1, 300))
        _feed(app, m, app.hang_up())
    elif choice == 9 and not app.ring and not app.call and not app.direct:  # (un)registers between calls
        _feed(app, m, app.set_device(rng.choice([1, 1, 5, 4, 0])))
    elif choice == 12 and app.members:  # someone pauses or unpauses the seat from the Asterisk CLI
        reason = rng.choice(["meeting", ""])
        _feed(app, m, app.apply(QueuePause(interface=IFACE, paused=bool(reason), reason=reason or None)))
    elif choice == 13 and app.members and not app.call:  # or removes it from one queue
        _feed(app, m, app.apply(QueueRemove(queue=rng.choice(sorted(app.members)), interface=IFACE)))
    elif choice in (10, 11):
        _send(app, m, m.tick(app.clock.advance(rng.randint(1, 20))).actions)
    elif choice == 14 and not app.ring and not app.call and not app.direct and app.status not in (4, 5):
        _feed(app, m, app.transfer_in())  # another seat transfers a caller straight to this one
    elif choice == 15 and app.direct:
        _feed(app, m, app.transfer_over())
        _send(app, m, m.tick(app.clock.now).actions)  # the service ticks every second


def _seen(facts: AgentFacts) -> tuple[Any, ...]:
    return (derive_state(facts), user_reason(facts), dict(facts.queues), facts.reachable, facts.wrapup_until)


@pytest.mark.parametrize("seed", range(60))
def test_given_any_sequence_of_commands_and_events_then_a_rebuild_from_asterisk_agrees(seed):
    rng = random.Random(seed)
    clock = Clock()
    m = machine(clock)
    app = FakeQueueApp(clock)
    for _ in range(150):
        _step(rng, app, m)
        result = rebuild(
            [SEAT], app.queue_status(), app.channels(), now=clock.now, wrapup=m, previous={IFACE: m.facts}
        )
        assert result.actions == ()
        assert _seen(result.facts[IFACE]) == _seen(m.facts)
