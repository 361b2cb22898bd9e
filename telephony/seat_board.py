"""Every seat and queue of one Asterisk node, as the seat service sees them: pure logic, no I/O.

The board owns one ``AgentMachine`` per seat and the list of callers waiting in each queue. AMI
events, commands and the clock go in; AMI actions to send and messages to publish come out (the
message shapes are in docs/seat-layer.md). ``telephony.seat_service`` does the I/O around it.

Who is on the other end of a ring or call (the caller's Uniqueid, number and channel) is not a
seat fact: it is kept beside the machines, filled from AgentCalled/AgentConnect and, after a
rebuild, from the bridge the seat's channel is in. So is a recording the agent paused: the call's
MixMonitor runs on the caller's channel (asterisk_conf.extensions ``_record``), so pausing it
mutes that channel's recording, and the pause lasts as long as the agent's call with that caller.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from hotline.settings import Settings
from telephony.agent_events import AmiEvent, apply_event, member_interface, rebuild
from telephony.agent_state import (
    AgentFacts,
    AgentMachine,
    AgentState,
    Clock,
    Leg,
    Outcome,
    PauseReason,
    Refused,
    user_reason,
)
from telephony.ami_actions import AmiAction, MixMonitorMute, QueueAdd, QueuePause, QueueRemove, SpyOn
from telephony.queue_stats import DayCounts
from telephony.seat_directory import SeatEntry

Message = dict[str, Any]

CALLER_EVENTS = frozenset({"QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon"})

RECORDING_PAUSE = "recording_pause"
RECORDING_RESUME = "recording_resume"
RECORDING_COMMANDS = frozenset({RECORDING_PAUSE, RECORDING_RESUME})


@dataclass
class Caller:
    uniqueid: str
    number: str
    joined_at: datetime
    channel: str = ""  # the caller's channel name, where the call's MixMonitor runs


@dataclass
class QueueView:
    name: str
    title: str
    service_level_seconds: int
    max_wait_seconds: int = 0  # 0: callers wait for ever
    waiting: dict[str, Caller] = field(default_factory=dict)  # by Uniqueid, in join order
    today: DayCounts = field(default_factory=DayCounts)


@dataclass(frozen=True)
class Result:
    """What the service must do: send these actions, publish these messages."""

    actions: tuple[AmiAction, ...] = ()
    messages: tuple[Message, ...] = ()
    resync: bool = False  # an event contradicted our record: re-read QueueStatus
    # Calls (caller Uniqueids) whose recording pause ended because the agent's call did: their
    # RecordingPause rows are to be closed (the web process closes those the agent resumes).
    pauses_ended: tuple[str, ...] = ()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def pause_reasons(settings: Settings) -> tuple[PauseReason, ...]:
    return tuple(PauseReason(r.code, r.zh, r.en) for r in settings.agents.pause_reasons)


class SeatBoard:
    def __init__(self, settings: Settings, entries: Iterable[SeatEntry], *, clock: Clock) -> None:
        self._clock = clock
        self._reasons = pause_reasons(settings)
        self._recording = settings.recording.enabled
        self._wrapup = {q.name: q.wrapup_seconds for q in settings.queues}
        self.queues = {
            q.name: QueueView(q.name, q.title, q.service_level, q.max_wait) for q in settings.queues
        }
        self.entries: dict[str, SeatEntry] = {}
        self.machines: dict[str, AgentMachine] = {}  # by agent
        self._by_interface: dict[str, str] = {}
        self.peers: dict[str, Caller] = {}  # agent -> the caller on their ring or call
        # agent -> the caller Uniqueid of their latest answered queue call: what wrap-up is about.
        self.last_call: dict[str, str] = {}
        self.calls_today: dict[str, int] = {}
        # agent -> the caller whose recording the agent paused (for as long as they talk).
        self.recording_paused: dict[str, Caller] = {}
        self.set_seats(entries)

    # ----- the seats --------------------------------------------------------------------------
    def set_seats(self, entries: Iterable[SeatEntry]) -> tuple[list[str], list[AmiAction]]:
        """Adopt a new seat list: the agents dropped, and the QueueRemoves that take a dropped web
        seat out of its queues (a disabled agent must not keep being rung)."""
        new = {e.agent: e for e in entries}
        dropped = [a for a in self.machines if a not in new]
        leaving: list[AmiAction] = []
        for agent in dropped:
            machine = self.machines.pop(agent)
            self.peers.pop(agent, None)
            self.last_call.pop(agent, None)
            self.recording_paused.pop(agent, None)
            if self.entries[agent].web:
                interface = machine.seat.interface
                leaving += [QueueRemove(queue=q, interface=interface) for q in machine.facts.queues]
        for agent, entry in new.items():
            old = self.entries.get(agent)
            if old is None or old.interface != entry.interface:
                self.machines[agent] = AgentMachine(
                    entry.seat(), clock=self._clock, pause_reasons=self._reasons, wrapup_seconds=self._wrapup
                )
        self.entries = new
        self._by_interface = {e.interface: a for a, e in new.items()}
        return dropped, leaving

    def machine_for(self, event: AmiEvent) -> AgentMachine | None:
        agent = self._by_interface.get(member_interface(event))
        return self.machines.get(agent) if agent else None

    # ----- AMI events -------------------------------------------------------------------------
    def on_event(self, event: AmiEvent) -> Result:
        name = str(event.get("Event", ""))
        if name in CALLER_EVENTS:
            return Result(messages=self._caller_event(name, event))
        machine = self.machine_for(event)
        if machine is None:
            return Result()
        agent = machine.seat.agent
        if name == "AgentCalled":
            self.peers[agent] = self._caller_of(event)
        try:
            outcome = apply_event(machine, event)
        except Refused:
            return Result(resync=True)
        extra: list[Message] = []
        if name == "AgentConnect":
            self.peers.setdefault(agent, self._caller_of(event))
            self.last_call[agent] = self.peers[agent].uniqueid
            self.calls_today[agent] = self.calls_today.get(agent, 0) + 1
            extra += self._answered(event)
        # A transfer hands the caller on with its MixMonitor; every other end of a queue call
        # ends the caller's channel too (the dialplan hangs up after Queue()).
        handed_on = name == "AgentComplete" and str(event.get("Reason", "")) == "transfer"
        return self._after(machine, outcome, extra, caller_goes_on=handed_on)

    def _caller_of(self, event: AmiEvent) -> Caller:
        uid = str(event.get("Uniqueid", ""))
        queue = self.queues.get(str(event.get("Queue", "")))
        waiting = queue.waiting.get(uid) if queue else None
        joined = waiting.joined_at if waiting else self._clock()
        # The Agent* events name the caller's channel Channel (the seat's is DestChannel).
        return Caller(uid, str(event.get("CallerIDNum", "")), joined, str(event.get("Channel", "")))

    def _answered(self, event: AmiEvent) -> list[Message]:
        queue = self.queues.get(str(event.get("Queue", "")))
        if queue is None:
            return []
        held = _seconds(event.get("HoldTime"))
        t = queue.today
        in_sl = 1 if held <= queue.service_level_seconds else 0
        queue.today = DayCounts(t.answered + 1, t.abandoned, t.answered_in_sl + in_sl)
        return [self.queue_message(queue.name)]

    def _caller_event(self, name: str, event: AmiEvent) -> tuple[Message, ...]:
        queue = self.queues.get(str(event.get("Queue", "")))
        if queue is None:
            return ()
        uid = str(event.get("Uniqueid", ""))
        if name == "QueueCallerJoin":
            queue.waiting[uid] = Caller(uid, str(event.get("CallerIDNum", "")), self._clock())
        elif name == "QueueCallerAbandon":
            # app_queue says "abandon" also when max_wait passed; that caller did not give up (they
            # run the overflow flow) and the call rows do not count them as abandoned either.
            held = _seconds(event.get("HoldTime"))
            if not (queue.max_wait_seconds and held >= queue.max_wait_seconds):
                t = queue.today
                queue.today = DayCounts(t.answered, t.abandoned + 1, t.answered_in_sl)
            queue.waiting.pop(uid, None)
        else:
            queue.waiting.pop(uid, None)
        return (self.queue_message(queue.name),)

    # ----- commands from agents (through the web processes) -----------------------------------
    def command(self, agent: str, command: str, reason: str = "") -> Result:
        """Raises Refused (nothing changed) or KeyError (no such seat)."""
        machine = self.machines[agent]
        if command == "login":
            entry = self.entries[agent]
            if not entry.web:
                raise Refused(agent, machine.state, "login", "a fixed seat is always logged in")
            outcome = machine.login(entry.queues)
        elif command == "logout":
            if not self.entries[agent].web:
                raise Refused(agent, machine.state, "logout", "a fixed seat is always logged in")
            outcome = machine.logout()
        elif command == "pause":
            outcome = machine.pause(reason)
        elif command == "unpause":
            outcome = machine.unpause()
        elif command == "finish_wrap_up":
            outcome = machine.finish_wrap_up()
        elif command in RECORDING_COMMANDS:
            return self._pause_recording(machine, paused=command == RECORDING_PAUSE)
        else:
            raise Refused(agent, machine.state, command[:20], "unknown command")
        return self._after(machine, outcome, [])

    def _pause_recording(self, machine: AgentMachine, *, paused: bool) -> Result:
        """Mute or unmute the recording of the agent's queue call; the flag moves at once.

        Both are idempotent (the action is sent again: Asterisk then surely holds what the console
        shows). If Asterisk refuses the action, the service calls ``recording_not_taken``.
        """
        agent = machine.seat.agent
        attempted = RECORDING_PAUSE if paused else RECORDING_RESUME
        call = machine.facts.call
        peer = self.peers.get(agent)
        if call is None:
            raise Refused(agent, machine.state, attempted, "not on a call")
        if call.direct or peer is None or not peer.channel:
            # A call no queue gave the seat (a transfer to it, a call it placed) has no caller
            # channel we know of, and the recording may run on another seat's caller.
            raise Refused(agent, machine.state, attempted, "not on a queue call: its recording is not ours")
        if not self._recording:
            raise Refused(agent, machine.state, attempted, "calls are not recorded on this site")
        if paused:
            self.recording_paused[agent] = peer
        else:
            self.recording_paused.pop(agent, None)
        return Result(
            actions=(MixMonitorMute(channel=peer.channel, muted=paused),),
            messages=(self.agent_message(agent, attempted),),
        )

    def recording_not_taken(self, agent: str, command: str) -> Result:
        """Asterisk did not take a recording command: the flag goes where it cannot mislead.

        After a failed pause it is cleared: the console says "paused" only once Asterisk confirmed
        the mute, never while the citizen's words may be kept. After a failed resume it is set
        again: the recording is still muted.
        """
        peer = self.peers.get(agent)
        machine = self.machines[agent]
        if command == RECORDING_RESUME and peer is not None and machine.facts.call is not None:
            self.recording_paused[agent] = peer
        else:
            self.recording_paused.pop(agent, None)
        return Result(messages=(self.agent_message(agent, f"{command} failed"),))

    def supervise(self, supervisor: str, agent: str, mode: str) -> Result:
        """The action that rings the supervisor's seat into the agent's current call."""
        seat = self.entries[supervisor]
        machine = self.machines[agent]
        call = machine.facts.call
        if call is None or not call.channel:
            raise Refused(agent, machine.state, "supervise", "not on a call")
        if supervisor == agent:
            raise Refused(agent, machine.state, "supervise", "cannot listen to your own call")
        return Result(actions=(SpyOn(channel=seat.interface, spied_channel=call.channel, mode=mode),))

    # ----- time -------------------------------------------------------------------------------
    def tick(self) -> Result:
        actions: list[AmiAction] = []
        messages: list[Message] = []
        pauses_ended: list[str] = []
        for machine in self.machines.values():
            result = self._after(machine, machine.tick(), [])
            actions += result.actions
            messages += result.messages
            pauses_ended += result.pauses_ended
        return Result(tuple(actions), tuple(messages), pauses_ended=tuple(pauses_ended))

    def new_day(self, counts: Mapping[str, DayCounts], calls: Mapping[str, int]) -> tuple[Message, ...]:
        """Today's totals from the database (at start and after local midnight)."""
        for name, queue in self.queues.items():
            queue.today = counts.get(name, DayCounts(0, 0, 0))
        self.calls_today = dict(calls)
        return tuple(self.queue_message(q) for q in self.queues)

    # ----- rebuild from Asterisk --------------------------------------------------------------
    def rebuild(
        self, queue_status: Sequence[AmiEvent], channels: Sequence[AmiEvent], *, restore: bool = False
    ) -> Result:
        """Adopt Asterisk's truth for every seat and queue; actions repair half-applied pauses.

        ``restore`` (after Asterisk restarted under us): a web seat's queues and pause, as we had
        them, are put back where Asterisk came up without them. app_queue keeps dynamic members
        in astdb, but a killed Asterisk comes back with whatever astdb last flushed: some queues,
        an old pause. Nobody logged out or unpaused, so the seat returns to what it was.
        """
        now = self._clock()
        previous = {m.seat.interface: m.facts for m in self.machines.values()}
        seats = [m.seat for m in self.machines.values()]
        rebuilt = rebuild(seats, queue_status, channels, now=now, wrapup=self._wrapup, previous=previous)
        messages: list[Message] = []
        restore_actions: list[AmiAction] = []
        pauses_ended: list[str] = []
        for machine in self.machines.values():
            facts = rebuilt.facts.get(machine.seat.interface)
            if facts is None:
                continue
            before = previous.get(machine.seat.interface)
            if restore and before is not None and before.queues and self.entries[machine.seat.agent].web:
                facts, actions = self._restored(machine, before, facts)
                restore_actions += actions
            self._peer_from_bridge(machine.seat.agent, facts, channels)
            outcome = machine.resync(facts)
            pauses_ended += self._after(machine, outcome, []).pauses_ended
            # Every seat, changed or not: a seat that is new (or a Redis that was restarted) has
            # no picture yet, and a rebuild is rare enough to afford the whole set.
            messages.append(self.agent_message(machine.seat.agent, "rebuilt from Asterisk"))
        for queue in self.queues.values():
            entries = [
                e for e in queue_status if e.get("Event") == "QueueEntry" and e.get("Queue") == queue.name
            ]
            entries.sort(key=lambda e: _seconds(e.get("Position")))
            queue.waiting = {
                str(e.get("Uniqueid", "")): Caller(
                    str(e.get("Uniqueid", "")),
                    str(e.get("CallerIDNum", "")),
                    now - timedelta(seconds=_seconds(e.get("Wait"))),
                )
                for e in entries
            }
        messages += [self.queue_message(q) for q in self.queues]
        return Result((*rebuilt.actions, *restore_actions), tuple(messages), pauses_ended=tuple(pauses_ended))

    def _restored(
        self, machine: AgentMachine, before: AgentFacts, now: AgentFacts
    ) -> tuple[AgentFacts, list[AmiAction]]:
        seat = machine.seat
        pause = before.pause
        actions: list[AmiAction] = [
            QueueAdd(
                queue=queue,
                interface=seat.interface,
                penalty=penalty,
                member_name=seat.member_name,
                paused=pause is not None,
                reason=pause or None,
            )
            for queue, penalty in sorted(before.queues.items())
            if queue not in now.queues
        ]
        if now.queues and now.pause != pause:
            paused = pause is not None
            actions.append(QueuePause(interface=seat.interface, paused=paused, reason=pause or None))
        facts = replace(now, queues=dict(before.queues), pause=pause, wrapup_until=before.wrapup_until)
        return facts, actions

    def _peer_from_bridge(self, agent: str, facts: AgentFacts, channels: Sequence[AmiEvent]) -> None:
        leg = facts.call or facts.ring
        if leg is None:
            self.peers.pop(agent, None)
            return
        if agent in self.peers:
            return
        mine = next((c for c in channels if c.get("Channel") == leg.channel), None)
        if mine is None:
            return
        bridge = mine.get("BridgeId")
        others = [c for c in channels if bridge and c.get("BridgeId") == bridge and c is not mine]
        other = others[0] if others else None
        uid = str(other.get("Uniqueid", "")) if other else ""
        channel = str(other.get("Channel", "")) if other else ""
        self.peers[agent] = Caller(uid, str(mine.get("ConnectedLineNum", "")), self._clock(), channel)

    # ----- messages ---------------------------------------------------------------------------
    def _after(
        self, machine: AgentMachine, outcome: Outcome, extra: list[Message], *, caller_goes_on: bool = False
    ) -> Result:
        agent = machine.seat.agent
        if machine.facts.ring is None and machine.facts.call is None:
            self.peers.pop(agent, None)
        actions = outcome.actions
        ended = self._pause_ended(agent, machine)
        if ended is not None and caller_goes_on and ended.channel:
            # Transferred while paused: whoever talks to the caller next is recorded again.
            actions = (*actions, MixMonitorMute(channel=ended.channel, muted=False))
        messages: list[Message] = []
        if outcome.change is not None:
            messages.append(self.agent_message(agent, outcome.change.cause))
            messages += [self.queue_message(q) for q in self._queues_touched(machine)]
        elif ended is not None:  # the seat's state stayed, the console's badge must still go
            messages.append(self.agent_message(agent, "recording pause ended"))
        for message in extra:
            if message not in messages:
                messages.append(message)
        pauses_ended = (ended.uniqueid,) if ended is not None and ended.uniqueid else ()
        return Result(actions, tuple(messages), pauses_ended=pauses_ended)

    def _pause_ended(self, agent: str, machine: AgentMachine) -> Caller | None:
        """The caller whose paused recording is no longer the agent's call (it ended, or a rebuild
        found another call); None while the paused call goes on or nothing is paused."""
        paused = self.recording_paused.get(agent)
        if paused is None:
            return None
        peer = self.peers.get(agent)
        if machine.facts.call is not None and peer is not None and peer.uniqueid == paused.uniqueid:
            return None
        return self.recording_paused.pop(agent)

    def _queues_touched(self, machine: AgentMachine) -> list[str]:
        entry = self.entries.get(machine.seat.agent)
        names = set(machine.facts.queues) | set(entry.queues if entry else ())
        return sorted(n for n in names if n in self.queues)

    def agent_message(self, agent: str, cause: str = "snapshot") -> Message:
        machine = self.machines[agent]
        entry = self.entries[agent]
        facts = machine.facts
        peer = self.peers.get(agent)

        def leg(on: Leg | None) -> dict[str, Any] | None:
            if on is None:
                return None
            return {
                "queue": on.queue,
                "channel": on.channel,
                "caller": peer.uniqueid if peer else "",
                "number": peer.number if peer else "",
                "queued_at": _iso(peer.joined_at) if peer else None,
            }

        return {
            "type": "agent",
            "agent": agent,
            "display_name": entry.display_name,
            "extension": entry.extension,
            "web": entry.web,
            "state": machine.state.value,
            "pause_reason": user_reason(facts),
            "reachable": facts.reachable,
            "since": _iso(facts.since),
            "queues": dict(facts.queues),
            "wrapup_until": _iso(facts.wrapup_until),
            "ring": leg(facts.ring),
            "call": leg(facts.call),
            "last_call": self.last_call.get(agent, ""),
            "calls_today": self.calls_today.get(agent, 0),
            "recording_paused": agent in self.recording_paused,
            "cause": cause,
            "at": _iso(self._clock()),
            "sent": time.time(),
        }

    def queue_message(self, name: str) -> Message:
        queue = self.queues[name]
        waiting = list(queue.waiting.values())
        counts = {s.value: 0 for s in AgentState if s is not AgentState.LOGGED_OUT}
        for machine in self.machines.values():
            if name in machine.facts.queues and machine.state is not AgentState.LOGGED_OUT:
                counts[machine.state.value] += 1
        t = queue.today
        return {
            "type": "queue",
            "queue": name,
            "title": queue.title,
            "waiting": [
                {"caller": c.uniqueid, "number": c.number, "joined_at": _iso(c.joined_at), "position": i + 1}
                for i, c in enumerate(waiting)
            ],
            "longest_wait_since": _iso(min((c.joined_at for c in waiting), default=None)),
            "answered_today": t.answered,
            "abandoned_today": t.abandoned,
            "answered_in_sl_today": t.answered_in_sl,
            "service_level": t.service_level,
            "service_level_seconds": queue.service_level_seconds,
            "agents": counts,
            "at": _iso(self._clock()),
            "sent": time.time(),
        }

    def snapshot(self) -> tuple[list[Message], list[Message]]:
        return (
            [self.agent_message(a) for a in sorted(self.machines)],
            [self.queue_message(q) for q in self.queues],
        )


def _seconds(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0
