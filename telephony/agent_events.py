"""AMI events in, seat facts out: the live event mapping and the rebuild after a restart.

Field names are Asterisk 22's. The live events (QueueMemberAdded/Removed/Pause/Status) name the
member ``Interface``; the QueueStatus reply's ``QueueMember`` names it ``Location`` (and the
member ``Name``), as app_queue's manager_queues_status still writes it. Status is the device
state number (0 unknown .. 8 on hold), InCall is 1 while the member talks to a queue caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from telephony.agent_state import (
    DEVICE_RINGING,
    DEVICE_UNREACHABLE,
    WRAP_UP_CODE,
    AgentFacts,
    AgentMachine,
    AgentState,
    Leg,
    Outcome,
    Seat,
    derive_state,
)
from telephony.ami_actions import AmiAction, QueuePause

AmiEvent = Mapping[str, Any]

CHANNEL_UP = "6"
CHANNEL_RINGING = "5"

SEAT_EVENTS = frozenset(
    {
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberStatus",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "AgentDump",
    }
)


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def member_interface(event: AmiEvent) -> str:
    """The member an event is about, whichever name the event gives the field."""
    return str(event.get("Interface") or event.get("Location") or "")


def apply_event(machine: AgentMachine, event: AmiEvent) -> Outcome:
    """Feed one AMI event about ``machine``'s seat to it (route by ``member_interface`` first)."""
    name = str(event.get("Event", ""))
    queue = str(event.get("Queue", ""))
    if name not in SEAT_EVENTS or member_interface(event) != machine.seat.interface:
        return Outcome()
    if name == "QueueMemberAdded":
        reason = str(event.get("PausedReason", ""))
        paused = _flag(event.get("Paused"))
        status, in_call = _int(event.get("Status")), _flag(event.get("InCall"))
        return machine.member_added(queue, _int(event.get("Penalty")), paused, reason, status, in_call)
    if name == "QueueMemberRemoved":
        return machine.member_removed(queue)
    if name == "QueueMemberPause":
        # Asterisk 22 sends PausedReason; Reason was its name before 13.
        reason = str(event.get("PausedReason") or event.get("Reason") or "")
        return machine.member_paused(queue, _flag(event.get("Paused")), reason)
    if name == "QueueMemberStatus":
        return machine.device_state(_int(event.get("Status")), _flag(event.get("InCall")))
    # The Agent* events carry the caller's channel as Channel and the seat's as DestChannel.
    channel = str(event.get("DestChannel", ""))
    if name == "AgentCalled":
        return machine.ring_started(queue, channel)
    if name == "AgentRingNoAnswer":
        return machine.ring_ended(queue)
    if name == "AgentConnect":
        return machine.call_connected(queue, channel)
    return machine.call_ended(queue, name)  # AgentComplete, AgentDump


# ----- rebuild from QueueStatus + CoreShowChannels ------------------------------------------------


@dataclass(frozen=True)
class Rebuilt:
    """Each seat's true facts, and the actions that make Asterisk agree with itself and with them."""

    facts: dict[str, AgentFacts]  # by interface
    actions: tuple[AmiAction, ...]


def _epoch(value: Any) -> datetime | None:
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _device_channels(seat: Seat, channels: Iterable[AmiEvent]) -> list[AmiEvent]:
    """Channels on the seat's device: PJSIP/seat1001-0000002a, Local/1001@ctx-00000003;1."""
    bases = {seat.interface.removesuffix("/n")}
    if seat.state_interface and not seat.state_interface.startswith("Custom:"):
        bases.add(seat.state_interface)
    return [
        ch
        for ch in channels
        if ch.get("Event") == "CoreShowChannel"
        and any(str(ch.get("Channel", "")).startswith(b + "-") for b in bases)
    ]


def rebuild(
    seats: Iterable[Seat],
    queue_status: Iterable[AmiEvent],
    channels: Iterable[AmiEvent],
    *,
    now: datetime,
    wrapup: AgentMachine | Mapping[str, int | None],
    previous: Mapping[str, AgentFacts] | None = None,
) -> Rebuilt:
    """The truth for each seat from a QueueStatus reply and a CoreShowChannels reply.

    ``previous`` (our record by interface) is used for two things only: a call that ended while we
    were not listening still earns its wrap-up (LastCall tells when it ended), and a state that did
    not change keeps its ``since``.
    """
    members = [e for e in queue_status if e.get("Event") == "QueueMember"]
    channel_list = list(channels)
    facts: dict[str, AgentFacts] = {}
    actions: list[AmiAction] = []
    for seat in seats:
        mine = [e for e in members if member_interface(e) == seat.interface]
        before = (previous or {}).get(seat.interface)
        seat_facts, repairs = _seat_truth(
            seat, mine, _device_channels(seat, channel_list), now, wrapup, before
        )
        facts[seat.interface] = seat_facts
        actions.extend(repairs)
    return Rebuilt(facts, tuple(actions))


def _wrapup_seconds(wrapup: AgentMachine | Mapping[str, int | None], queues: Mapping[str, int]) -> int | None:
    if isinstance(wrapup, AgentMachine):
        return wrapup.wrapup_for("", queues)
    known = [wrapup.get(q, 0) for q in queues]
    return None if None in known else max((k for k in known if k is not None), default=0)


def _seat_truth(
    seat: Seat,
    mine: list[AmiEvent],
    device: list[AmiEvent],
    now: datetime,
    wrapup: AgentMachine | Mapping[str, int | None],
    before: AgentFacts | None,
) -> tuple[AgentFacts, list[AmiAction]]:
    reachable = (
        not any(_int(e.get("Status")) in DEVICE_UNREACHABLE for e in mine)
        if mine
        else (before or AgentFacts()).reachable
    )
    if not mine:
        return _keep_since(AgentFacts(reachable=reachable), before, now), []
    queues = {str(e.get("Queue", "")): _int(e.get("Penalty")) for e in mine}
    repairs: list[AmiAction] = []
    bridged = [ch for ch in device if str(ch.get("ChannelState")) == CHANNEL_UP and ch.get("BridgeId")]
    ringing = [ch for ch in device if str(ch.get("ChannelState")) == CHANNEL_RINGING]
    call = ring = None
    queue_call = any(_flag(e.get("InCall")) for e in mine)
    if bridged or queue_call:
        # Bridged without InCall: a call no queue gave the seat (a transfer to it, one it placed).
        call = Leg("", str(bridged[0].get("Channel", "")) if bridged else "", direct=not queue_call)
    elif ringing or any(_int(e.get("Status")) in DEVICE_RINGING for e in mine):
        ring = Leg("", str(ringing[0].get("Channel", "")) if ringing else "")

    paused = [e for e in mine if _flag(e.get("Paused"))]
    pause: str | None = None
    if paused:
        reasons = sorted({str(e.get("PausedReason", "")) for e in paused})
        # A user reason wins over wrap-up; any reason over none.
        pause = next((r for r in reasons if r not in ("", WRAP_UP_CODE)), reasons[-1])
        if len(paused) < len(mine) or len(reasons) > 1:
            # Paused in some queues only: calls would still come from the others. Pause everywhere.
            repairs.append(QueuePause(interface=seat.interface, paused=True, reason=pause or None))

    last_call = max((d for e in mine if (d := _epoch(e.get("LastCall"))) is not None), default=None)
    seconds = _wrapup_seconds(wrapup, queues)
    until: datetime | None = None
    # A direct call (no queue's) earns no wrap-up, so missing its end misses none.
    missed_end = (
        before is not None
        and derive_state(before) is AgentState.ON_CALL
        and not (before.call is not None and before.call.direct)
        and pause is None
    )
    # Asterisk does not know which queue the last call came from; our record of a wrap-up does
    # (also while a direct call, taken in wrap-up, is on top of it).
    ours = before is not None and before.pause == WRAP_UP_CODE
    if ours and before is not None:
        end, timed = before.wrapup_until, before.wrapup_until is not None
    else:
        timed = seconds is not None
        end = None if seconds is None or last_call is None else last_call + timedelta(seconds=seconds)
    if call is None and ring is None and (pause == WRAP_UP_CODE or missed_end):
        if (end <= now) if end is not None else timed:
            if pause == WRAP_UP_CODE:
                pause = None
                repairs = [QueuePause(interface=seat.interface, paused=False)]
        else:
            until = end
            if pause is None:
                pause = WRAP_UP_CODE
                repairs.append(QueuePause(interface=seat.interface, paused=True, reason=WRAP_UP_CODE))
    elif pause == WRAP_UP_CODE:
        until = end

    facts = AgentFacts(
        queues=queues, pause=pause, ring=ring, call=call, reachable=reachable, wrapup_until=until
    )
    since = None
    if derive_state(facts) is AgentState.PAUSED:
        since = max((d for e in paused if (d := _epoch(e.get("LastPause"))) is not None), default=None)
    elif derive_state(facts) is AgentState.WRAP_UP:
        since = last_call
    return _keep_since(facts, before, since or now), repairs


def _keep_since(facts: AgentFacts, before: AgentFacts | None, since: datetime) -> AgentFacts:
    if before is not None and before.since is not None and derive_state(before) is derive_state(facts):
        since = before.since
    return replace(facts, since=since)
