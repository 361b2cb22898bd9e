"""Seat (agent) states: one explicit machine per agent, pure logic, no I/O.

The machine keeps the *facts* Asterisk holds about a seat (queue memberships, the pause and its
reason, a ring in progress, a call in progress, whether the softphone is reachable) and derives the
state from them with ``derive_state``. ``telephony.agent_events.rebuild`` produces the same facts
from QueueStatus and CoreShowChannels, so the live machine and a rebuilt one cannot disagree about
what a set of facts means: after a restart nobody stays in a state that is no longer true.

Commands (login, logout, pause, unpause, finish_wrap_up) are checked against the current state,
change the facts at once and return the AMI actions to send. Asterisk events confirm them (and
are then no-ops) or move the seat on their own (ringing, call, hang-up). If an AMI action fails,
the caller re-reads QueueStatus and calls ``resync`` with rebuilt facts.

Wrap-up is our own pause with the reserved reason ``wrapup``, not app_queue's ``wrapuptime``:
app_queue's timer is invisible (QueueStatus only shows LastCall), cannot be ended early by the
agent nor held open "until the agent is done", and is lost from view after a restart. A pause is
visible in QueueStatus (Paused, PausedReason), survives an Asterisk restart with persistent
members, and is ended by ``tick`` (the timer) or by ``finish_wrap_up`` (the agent).

Reachability is a flag beside the state, not a state: an unregistered softphone does not change
queue membership or pause in Asterisk (app_queue just skips the member while its device is
unavailable), and when the phone registers again the seat is exactly where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NoReturn

from telephony.ami_actions import (
    AmiAction,
    Hangup,
    QueueAdd,
    QueuePause,
    QueueRemove,
    check_interface,
    check_label,
)

Clock = Callable[[], datetime]

WRAP_UP_CODE = "wrapup"

# Device states app_queue reports in Status (ast_device_state): members with these are never rung.
DEVICE_NOT_INUSE = 1
DEVICE_UNREACHABLE = frozenset({4, 5})  # AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE
DEVICE_RINGING = frozenset({6, 7})  # AST_DEVICE_RINGING, AST_DEVICE_RINGINUSE
# A call is up on the device: AST_DEVICE_INUSE, _BUSY, _RINGINUSE, _ONHOLD.
DEVICE_BUSY = frozenset({2, 3, 7, 8})


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


@dataclass(frozen=True)
class PauseReason:
    """A pause reason code as sent to Asterisk (QueuePause Reason), with labels for people."""

    code: str
    zh: str
    en: str

    def __post_init__(self) -> None:
        check_label("Reason", self.code)
        if self.code == WRAP_UP_CODE:
            raise ValueError(f"pause reason code {WRAP_UP_CODE!r} is reserved for wrap-up")


DEFAULT_PAUSE_REASONS: tuple[PauseReason, ...] = (
    PauseReason("meal", "就餐", "Meal"),
    PauseReason("break", "小休", "Short break"),
    PauseReason("training", "培训", "Training"),
    PauseReason("meeting", "会议", "Meeting"),
    PauseReason("coaching", "质检辅导", "Coaching"),
    PauseReason("case_work", "工单处理", "Case follow-up"),
)


@dataclass(frozen=True)
class Seat:
    """Who a machine is for: the agent's id and how app_queue reaches the seat."""

    agent: str
    interface: str
    member_name: str
    state_interface: str | None = None

    def __post_init__(self) -> None:
        check_interface(self.interface)
        check_label("MemberName", self.member_name)


@dataclass(frozen=True)
class Leg:
    """A ring or a call on the seat's device: the queue it came from and the agent's channel.

    ``direct``: a call that came from no queue (a transfer to the seat, a call it placed). No
    Agent* event tells its end, the device going idle does; nothing is wrapped up after it.
    """

    queue: str
    channel: str = ""
    direct: bool = False


@dataclass(frozen=True)
class AgentFacts:
    """What Asterisk knows about one seat; ``derive_state`` turns it into a state."""

    queues: Mapping[str, int] = field(default_factory=dict)  # queue -> penalty
    pause: str | None = None  # the reason code Asterisk holds; "" = paused without a reason
    ring: Leg | None = None
    call: Leg | None = None
    reachable: bool = True
    wrapup_until: datetime | None = None  # None while in wrap-up: until the agent is done
    since: datetime | None = None


def derive_state(facts: AgentFacts) -> AgentState:
    """Calls beat pauses: a paused seat that is ringing or talking is ringing or talking."""
    if not facts.queues:
        return AgentState.LOGGED_OUT
    if facts.call is not None:
        return AgentState.ON_CALL
    if facts.ring is not None:
        return AgentState.RINGING
    if facts.pause == WRAP_UP_CODE:
        return AgentState.WRAP_UP
    if facts.pause is not None:
        return AgentState.PAUSED
    return AgentState.AVAILABLE


class Refused(Exception):
    """A command (or event) that is not legal in the seat's current state; nothing changed."""

    def __init__(self, agent: str, state: AgentState, attempted: str, reason: str) -> None:
        super().__init__(f"agent {agent}: {attempted} refused while {state}: {reason}")
        self.agent = agent
        self.state = state
        self.attempted = attempted
        self.reason = reason


class OutOfStep(Refused):
    """An Asterisk event contradicts our record: re-read QueueStatus and ``resync``."""


@dataclass(frozen=True)
class AgentChange:
    """One change of a seat, for fan-out to consoles and wallboards."""

    agent: str
    old: AgentState
    new: AgentState
    cause: str  # the command or AMI event that caused it
    pause_reason: str | None  # user reason, also while a pause waits for a call to end
    reachable: bool
    at: datetime


@dataclass(frozen=True)
class Outcome:
    actions: tuple[AmiAction, ...] = ()
    change: AgentChange | None = None


def _logged_out(facts: AgentFacts) -> AgentFacts:
    """A call goes on after the seat leaves its queues (AgentComplete still comes, from the
    caller's Queue()); a ring is dropped: we hang it up, or, if Asterisk removed the member, the
    ring's end would be reported to members only. QueueMemberAdded tells the device state again."""
    return replace(facts, queues={}, pause=None, wrapup_until=None, ring=None)


def user_reason(facts: AgentFacts) -> str | None:
    return None if facts.pause == WRAP_UP_CODE else facts.pause


class AgentMachine:
    def __init__(
        self,
        seat: Seat,
        *,
        clock: Clock,
        pause_reasons: tuple[PauseReason, ...] = DEFAULT_PAUSE_REASONS,
        wrapup_seconds: Mapping[str, int | None] | None = None,
        facts: AgentFacts | None = None,
    ) -> None:
        self.seat = seat
        self._clock = clock
        self._reasons = {r.code: r for r in pause_reasons}
        # Per queue: 0 = no wrap-up, None = until the agent says done, n = n seconds at most.
        self._wrapup = dict(wrapup_seconds or {})
        self.facts = facts if facts is not None else AgentFacts(since=clock())

    @property
    def state(self) -> AgentState:
        return derive_state(self.facts)

    def wrapup_for(self, queue: str, queues: Mapping[str, int] | None = None) -> int | None:
        """A queue's wrap-up; for an unknown queue the longest of the seat's queues."""
        if queue in self._wrapup:
            return self._wrapup[queue]
        known = [self._wrapup.get(q, 0) for q in (queues if queues is not None else self.facts.queues)]
        return None if None in known else max((k for k in known if k is not None), default=0)

    # ----- commands from the agent or the API ---------------------------------------------------
    def login(self, queues: Mapping[str, int]) -> Outcome:
        """Join each queue (queue -> penalty), unpaused."""
        if self.state is not AgentState.LOGGED_OUT:
            self._refuse("login", "already logged in")
        if not queues:
            self._refuse("login", "no queue given")
        adds = tuple(
            QueueAdd(
                queue=q,
                interface=self.seat.interface,
                penalty=penalty,
                member_name=self.seat.member_name,
                state_interface=self.seat.state_interface,
            )
            for q, penalty in sorted(queues.items())
        )
        # A ring or call already on the device stays: logging in does not end it.
        facts = replace(self.facts, queues=dict(queues), pause=None, wrapup_until=None)
        return self._move(facts, "login", adds)

    def logout(self) -> Outcome:
        """Leave every queue; a ring in progress is hung up so it cannot be answered."""
        state = self.state
        if state is AgentState.LOGGED_OUT:
            self._refuse("logout", "not logged in")
        if state is AgentState.ON_CALL:
            self._refuse("logout", "on a call: hang up first")
        actions: list[AmiAction] = [
            QueueRemove(queue=q, interface=self.seat.interface) for q in sorted(self.facts.queues)
        ]
        ring = self.facts.ring
        if ring is not None and ring.channel:
            actions.append(Hangup(channel=ring.channel))
        return self._move(_logged_out(self.facts), "logout", tuple(actions))

    def pause(self, code: str) -> Outcome:
        """Pause now; while ringing or on a call the pause takes effect when the call ends."""
        state = self.state
        if code not in self._reasons:
            self._refuse("pause", f"unknown pause reason {code[:40]!r}")
        if state is AgentState.LOGGED_OUT:
            self._refuse("pause", "not logged in")
        if self.facts.pause == code:
            self._refuse("pause", f"already paused ({code})")
        action = QueuePause(interface=self.seat.interface, paused=True, reason=code)
        return self._move(replace(self.facts, pause=code, wrapup_until=None), "pause", (action,))

    def unpause(self) -> Outcome:
        if user_reason(self.facts) is None:
            why = (
                "in wrap-up: finish the wrap-up instead" if self.state is AgentState.WRAP_UP else "not paused"
            )
            self._refuse("unpause", why)
        action = QueuePause(interface=self.seat.interface, paused=False)
        return self._move(replace(self.facts, pause=None), "unpause", (action,))

    def finish_wrap_up(self) -> Outcome:
        if self.state is not AgentState.WRAP_UP:
            self._refuse("finish_wrap_up", "not in wrap-up")
        return self._end_wrap_up("finish_wrap_up")

    def tick(self, now: datetime | None = None) -> Outcome:
        """End a timed wrap-up whose time is up."""
        now = now if now is not None else self._clock()
        until = self.facts.wrapup_until
        if self.state is AgentState.WRAP_UP and until is not None and now >= until:
            return self._end_wrap_up("wrap-up timer", now)
        return Outcome()

    # ----- facts from Asterisk (telephony.agent_events maps AMI events onto these) -------------
    def member_added(
        self, queue: str, penalty: int, paused: bool, reason: str, status: int, in_call: bool
    ) -> Outcome:
        # A seat logged out gets no QueueMemberStatus: this event is the first word on its device.
        queues = {**self.facts.queues, queue: penalty}
        facts = replace(self.facts, queues=queues, reachable=status not in DEVICE_UNREACHABLE)
        if in_call and facts.call is None:
            facts = replace(facts, call=Leg(queue), ring=None)
        elif status in DEVICE_RINGING and facts.ring is None and facts.call is None:
            facts = replace(facts, ring=Leg(queue))
        elif status in DEVICE_BUSY and facts.ring is None and facts.call is None:
            facts = replace(facts, call=Leg("", direct=True))
        elif status == DEVICE_NOT_INUSE and not in_call:
            facts = replace(facts, ring=None, call=None)
        if facts.call is not None and facts.call.direct and status not in DEVICE_BUSY:
            facts = replace(facts, call=None)  # it ended while the seat was logged out
        if paused and self.facts.pause is None:
            facts = self._paused_facts(facts, reason)
        return self._move(facts, "QueueMemberAdded")

    def member_removed(self, queue: str) -> Outcome:
        if queue not in self.facts.queues:
            return Outcome()
        queues = {q: p for q, p in self.facts.queues.items() if q != queue}
        facts = replace(self.facts, queues=queues) if queues else _logged_out(self.facts)
        return self._move(facts, "QueueMemberRemoved")

    def member_paused(self, queue: str, paused: bool, reason: str) -> Outcome:
        if queue not in self.facts.queues:
            return Outcome()  # a late event for a queue already left
        if not paused:
            return self._move(replace(self.facts, pause=None, wrapup_until=None), "QueueMemberPause")
        if reason == self.facts.pause:
            return Outcome()
        return self._move(self._paused_facts(self.facts, reason), "QueueMemberPause")

    def ring_started(self, queue: str, channel: str) -> Outcome:
        # Device facts are kept while logged out too (Asterisk may remove a member mid-ring), so a
        # seat that logs in again on a ringing or busy device is shown as it is.
        state = self.state
        if state is AgentState.ON_CALL:
            self._out_of_step("AgentCalled", "rung while on a call (ringinuse is off)")
        return self._move(replace(self.facts, ring=Leg(queue, channel)), "AgentCalled")

    def ring_ended(self, queue: str) -> Outcome:
        if self.facts.ring is None:
            return Outcome()
        return self._move(replace(self.facts, ring=None), "AgentRingNoAnswer")

    def call_connected(self, queue: str, channel: str) -> Outcome:
        state = self.state
        if self.facts.ring is None and state is not AgentState.LOGGED_OUT:
            self._out_of_step("AgentConnect", f"answered a call that never rang this seat ({state})")
        leg = Leg(queue, channel or (self.facts.ring.channel if self.facts.ring else ""))
        return self._move(replace(self.facts, ring=None, call=leg), "AgentConnect")

    def call_ended(self, queue: str, cause: str = "AgentComplete") -> Outcome:
        """The call (or an answered ring, AgentDump) is over: wrap-up, or a pause asked for during it."""
        state = self.state
        if state is AgentState.LOGGED_OUT:
            return self._move(replace(self.facts, ring=None, call=None), cause)
        if self.facts.call is None and self.facts.ring is None:
            self._out_of_step(cause, "no call on this seat")
        facts = replace(self.facts, ring=None, call=None)
        if user_reason(facts) is not None:
            return self._move(facts, cause)
        seconds = self.wrapup_for(queue)
        if seconds == 0:
            return self._move(replace(facts, pause=None, wrapup_until=None), cause)
        now = self._clock()
        until = None if seconds is None else now + timedelta(seconds=seconds)
        action = QueuePause(interface=self.seat.interface, paused=True, reason=WRAP_UP_CODE)
        return self._move(replace(facts, pause=WRAP_UP_CODE, wrapup_until=until), cause, (action,), now)

    def device_state(self, status: int, in_call: bool) -> Outcome:
        """QueueMemberStatus: the softphone came or went, or a ring ended without an answer here
        (another seat took a ringall call, or the caller gave up: no AgentRingNoAnswer then), or
        the device is busy with a call no queue gave it (InCall is for queue calls only): the seat
        is on a call, as a rebuild from its bridged channel says too, until the device is idle."""
        facts = replace(self.facts, reachable=status not in DEVICE_UNREACHABLE)
        if facts.ring is not None and status == DEVICE_NOT_INUSE and not in_call:
            facts = replace(facts, ring=None)
        elif facts.ring is None and facts.call is None and status in DEVICE_BUSY and not in_call:
            facts = replace(facts, call=Leg("", direct=True))
        elif facts.call is not None and facts.call.direct and status not in DEVICE_BUSY:
            facts = replace(facts, call=None)
        return self._move(facts, "QueueMemberStatus")

    def resync(self, facts: AgentFacts, cause: str = "rebuilt from Asterisk") -> Outcome:
        """Adopt facts rebuilt from QueueStatus; the change (if any) tells everyone what is true."""
        return self._move(facts, cause)

    # ----- inside -------------------------------------------------------------------------------
    def _paused_facts(self, facts: AgentFacts, reason: str) -> AgentFacts:
        if reason != WRAP_UP_CODE:
            return replace(facts, pause=reason, wrapup_until=None)
        seconds = self.wrapup_for("", facts.queues)
        until = None if seconds is None else self._clock() + timedelta(seconds=seconds)
        return replace(facts, pause=WRAP_UP_CODE, wrapup_until=until)

    def _end_wrap_up(self, cause: str, now: datetime | None = None) -> Outcome:
        action = QueuePause(interface=self.seat.interface, paused=False)
        return self._move(replace(self.facts, pause=None, wrapup_until=None), cause, (action,), now)

    def _move(
        self, facts: AgentFacts, cause: str, actions: tuple[AmiAction, ...] = (), now: datetime | None = None
    ) -> Outcome:
        now = now if now is not None else self._clock()
        old, new = self.state, derive_state(facts)
        before = self.facts
        if new is not old or facts.since is None:
            facts = replace(facts, since=now)
        self.facts = facts
        seen = (new, user_reason(facts), facts.reachable)
        if (old, user_reason(before), before.reachable) == seen:
            return Outcome(actions)
        change = AgentChange(self.seat.agent, old, new, cause, user_reason(facts), facts.reachable, now)
        return Outcome(actions, change)

    def _refuse(self, attempted: str, reason: str) -> NoReturn:
        raise Refused(self.seat.agent, self.state, attempted, reason)

    def _out_of_step(self, attempted: str, reason: str) -> NoReturn:
        raise OutOfStep(self.seat.agent, self.state, attempted, reason)
