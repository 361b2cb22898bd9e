"""Today's queue figures for the wallboard: pure counting over call rows and agent messages.

"Today" is the site's local day (``site.timezone``), not the UTC day: a Beijing wallboard resets
at local midnight, 16:00 UTC. Service level follows GB/T 33358-2016: the share of callers who
reached a queue and were answered within the queue's threshold (15 s by default), over every
caller who was answered or gave up; callers still waiting are not counted yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from telephony.models import Call, Disposition

DEFAULT_SL_SECONDS = 15  # GB/T 33358-2016: calls answered within 15 s

# The states an agent in a queue can be in (telephony.agent_state.AgentState minus logged_out).
QUEUE_AGENT_STATES = ("available", "ringing", "on_call", "wrap_up", "paused")

# A call is queued after it starts, and no call sits in the IVR for a day: bounding started_at too
# lets the database use ix_calls_started_at instead of scanning every call ever taken.
_LONGEST_CALL_BEFORE_QUEUE = timedelta(days=1)


def local_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the local day containing ``now`` began in ``zone``."""
    if now.tzinfo is None:
        raise ValueError("local_day_start needs a timezone-aware datetime")
    local_date = now.astimezone(zone).date()
    # A midnight skipped by a DST change resolves (fold=0) to the first instant of the new day.
    return datetime.combine(local_date, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class DayCounts:
    """One queue's callers today: answered, abandoned, and answered within the service level."""

    answered: int = 0
    abandoned: int = 0
    answered_in_sl: int = 0

    @property
    def service_level(self) -> float | None:
        """Answered within the threshold / (answered + abandoned); None before the first such call."""
        total = self.answered + self.abandoned
        return self.answered_in_sl / total if total else None


def daily_queue_counts(
    session: Session,
    since: datetime,
    sl_seconds: Mapping[str, int],
    *,
    default_sl_seconds: int = DEFAULT_SL_SECONDS,
) -> dict[str, DayCounts]:
    """Per queue, the callers who joined it at or after ``since``.

    Every queue named in ``sl_seconds`` is in the answer (with zeros if it had no caller); a queue
    not named there still counts, against ``default_sl_seconds``.
    """
    # One query for the day's queued calls; the seconds to answer are worked out here because
    # SQLite and PostgreSQL have no common way to subtract timestamps. A day is a few thousand rows.
    rows = session.execute(
        select(Call.queue, Call.queued_at, Call.agent_connected_at, Call.disposition).where(
            Call.queued_at >= since,
            Call.started_at >= since - _LONGEST_CALL_BEFORE_QUEUE,
            Call.queue != "",
        )
    ).all()
    answered: Counter[str] = Counter()
    abandoned: Counter[str] = Counter()
    in_sl: Counter[str] = Counter()
    for queue, queued_at, connected_at, disposition in rows:
        if connected_at is not None:
            answered[queue] += 1
            limit = timedelta(seconds=sl_seconds.get(queue, default_sl_seconds))
            if queued_at is not None and connected_at - queued_at <= limit:
                in_sl[queue] += 1
        elif disposition == Disposition.ABANDONED:
            abandoned[queue] += 1
    queues = set(sl_seconds) | set(answered) | set(abandoned)
    return {q: DayCounts(answered[q], abandoned[q], in_sl[q]) for q in sorted(queues)}


def agent_calls_today(session: Session, since: datetime) -> dict[str, int]:
    """Calls answered at or after ``since``, per queue member name (``Call.agent``)."""
    rows = session.execute(
        select(Call.agent, func.count(Call.id))
        .where(
            Call.agent_connected_at >= since,
            Call.started_at >= since - _LONGEST_CALL_BEFORE_QUEUE,
            Call.agent != "",
        )
        .group_by(Call.agent)
    ).all()
    return {agent: int(count) for agent, count in rows}


def agents_by_state(
    agent_messages: Iterable[Mapping[str, Any]], *, queues: Iterable[str] = ()
) -> dict[str, dict[str, int]]:
    """Per queue, how many member agents are in each state (seat-layer ``agent`` messages).

    An agent in several queues counts in each. Logged-out agents are members of no queue and an
    unknown state is not counted. Every queue in ``queues`` is in the answer, with zeros if empty.
    """
    counts: dict[str, dict[str, int]] = {q: dict.fromkeys(QUEUE_AGENT_STATES, 0) for q in queues}
    for message in agent_messages:
        state = message.get("state")
        if state not in QUEUE_AGENT_STATES:
            continue
        for queue in message.get("queues") or {}:
            counts.setdefault(str(queue), dict.fromkeys(QUEUE_AGENT_STATES, 0))[str(state)] += 1
    return counts
