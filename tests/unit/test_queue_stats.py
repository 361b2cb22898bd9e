"""telephony.queue_stats: today's queue figures, on a real migrated SQLite database.

The site is in Asia/Shanghai (UTC+8, no DST): the local day of 2026-11-21 begins at
2026-11-20 16:00 UTC, so a call at 23:59 local the evening before belongs to yesterday.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from hotline.db import Database
from telephony.models import Call, Disposition
from telephony.queue_stats import (
    DayCounts,
    agent_calls_today,
    agents_by_state,
    daily_queue_counts,
    local_day_start,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 2026-11-21 00:00 in Beijing
NOW = MIDNIGHT + timedelta(hours=9)  # 09:00 local
SL = {"main": 15, "complaints": 20}

_ids = itertools.count(1)


def queued_call(
    queue: str,
    queued_at: datetime,
    *,
    wait: float | None = None,
    abandoned: bool = False,
    agent: str = "",
    ended: bool = True,
) -> Call:
    """A caller who reached ``queue``; ``wait`` seconds later an agent answered (None: nobody)."""
    n = next(_ids)
    connected = None if wait is None else queued_at + timedelta(seconds=wait)
    if connected is not None:
        disposition = Disposition.ANSWERED if ended else Disposition.IN_PROGRESS
    else:
        disposition = Disposition.ABANDONED if abandoned else Disposition.IN_PROGRESS
    return Call(
        uniqueid=f"1763712000.{n}",
        linkedid=f"1763712000.{n}",
        channel=f"PJSIP/carrier-{n:08x}",
        started_at=queued_at - timedelta(seconds=20),
        answered_at=queued_at - timedelta(seconds=19),
        queued_at=queued_at,
        agent_connected_at=connected,
        ended_at=(connected or queued_at) + timedelta(seconds=60) if ended else None,
        disposition=disposition,
        queue=queue,
        agent=agent if connected is not None else "",
    )


def store(db: Database, *calls: Call) -> None:
    with db.unit_of_work() as session:
        session.add_all(calls)


def counts(db: Database, since: datetime = MIDNIGHT) -> dict[str, DayCounts]:
    with db.unit_of_work() as session:
        return daily_queue_counts(session, since, SL)


def calls_per_agent(db: Database, since: datetime = MIDNIGHT) -> dict[str, int]:
    with db.unit_of_work() as session:
        return agent_calls_today(session, since)


# ----- local_day_start ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        MIDNIGHT,  # 00:00:00 local: the day has just begun
        MIDNIGHT + timedelta(hours=9),
        MIDNIGHT + timedelta(hours=24) - timedelta(microseconds=1),  # 23:59:59.999999 local
    ],
)
def test_given_a_time_in_the_local_day_when_its_start_is_asked_then_it_is_local_midnight_in_utc(now):
    start = local_day_start(now, SHANGHAI)

    assert start == MIDNIGHT
    assert start.tzinfo == UTC


def test_given_a_minute_before_local_midnight_when_its_day_start_is_asked_then_it_is_the_day_before():
    assert local_day_start(MIDNIGHT - timedelta(minutes=1), SHANGHAI) == MIDNIGHT - timedelta(days=1)


def test_given_a_time_in_another_zone_when_the_day_start_is_asked_then_the_site_zone_decides():
    beijing_morning_in_utc8 = datetime(2026, 11, 21, 7, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 06:30 Beijing

    assert local_day_start(beijing_morning_in_utc8, SHANGHAI) == MIDNIGHT


def test_given_a_dst_zone_when_the_day_start_is_asked_then_the_day_offset_applies():
    # Europe/Berlin on 2026-03-29: midnight is still UTC+1, the clocks jump at 02:00.
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)

    assert local_day_start(now, ZoneInfo("Europe/Berlin")) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


def test_given_a_naive_time_when_the_day_start_is_asked_then_it_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        local_day_start(datetime(2026, 11, 21, 9, 0), SHANGHAI)


# ----- DayCounts.service_level -------------------------------------------------------------------


def test_given_no_answered_or_abandoned_call_when_service_level_is_asked_then_there_is_none():
    assert DayCounts(answered=0, abandoned=0, answered_in_sl=0).service_level is None


def test_given_answered_and_abandoned_calls_when_service_level_is_asked_then_abandoned_count_against():
    assert DayCounts(answered=3, abandoned=1, answered_in_sl=2).service_level == pytest.approx(0.5)


# ----- daily_queue_counts ------------------------------------------------------------------------


def test_given_no_calls_when_counted_then_each_configured_queue_has_zeros_and_no_service_level(db):
    result = counts(db)

    assert result == {"complaints": DayCounts(0, 0, 0), "main": DayCounts(0, 0, 0)}
    assert result["main"].service_level is None


def test_given_calls_either_side_of_local_midnight_when_counted_then_only_todays_count(db):
    store(
        db,
        queued_call("main", MIDNIGHT - timedelta(minutes=1), wait=5),  # 23:59 yesterday, local
        queued_call("main", MIDNIGHT - timedelta(seconds=1), abandoned=True),
        queued_call("main", MIDNIGHT, wait=5),  # 00:00:00 today
        queued_call("main", MIDNIGHT + timedelta(minutes=1), abandoned=True),
    )

    assert counts(db)["main"] == DayCounts(answered=1, abandoned=1, answered_in_sl=1)


def test_given_a_call_that_started_yesterday_and_was_queued_today_then_it_counts_today(db):
    call = queued_call("main", MIDNIGHT + timedelta(seconds=10), wait=3)
    call.started_at = MIDNIGHT - timedelta(minutes=2)
    store(db, call)

    assert counts(db)["main"] == DayCounts(answered=1, abandoned=0, answered_in_sl=1)


@pytest.mark.parametrize(
    ("wait", "in_sl"),
    [(0, 1), (14.999, 1), (15, 1), (15.001, 0), (16, 0)],
)
def test_given_an_answer_around_15_seconds_when_counted_then_exactly_15_is_within_service_level(
    db, wait, in_sl
):
    store(db, queued_call("main", NOW, wait=wait))

    result = counts(db)["main"]

    assert result == DayCounts(answered=1, abandoned=0, answered_in_sl=in_sl)
    assert result.service_level == in_sl


def test_given_a_queue_with_its_own_threshold_when_counted_then_that_threshold_applies(db):
    store(db, queued_call("complaints", NOW, wait=20), queued_call("complaints", NOW, wait=21))

    assert counts(db)["complaints"] == DayCounts(answered=2, abandoned=0, answered_in_sl=1)


def test_given_a_queue_without_a_threshold_when_counted_then_15_seconds_applies(db):
    store(db, queued_call("night", NOW, wait=15), queued_call("night", NOW, wait=16))

    assert counts(db)["night"] == DayCounts(answered=2, abandoned=0, answered_in_sl=1)


def test_given_a_mixed_day_when_counted_then_answered_abandoned_and_service_level_add_up(db):
    store(
        db,
        queued_call("main", NOW, wait=3),
        queued_call("main", NOW, wait=12, ended=False),  # still talking: answered already
        queued_call("main", NOW, wait=40),
        queued_call("main", NOW, abandoned=True),
        queued_call("main", NOW),  # still waiting: neither yet
        queued_call("complaints", NOW, abandoned=True),
    )

    result = counts(db)

    assert result["main"] == DayCounts(answered=3, abandoned=1, answered_in_sl=2)
    assert result["main"].service_level == pytest.approx(0.5)
    assert result["complaints"] == DayCounts(answered=0, abandoned=1, answered_in_sl=0)
    assert result["complaints"].service_level == 0


def test_given_calls_that_never_reached_a_queue_when_counted_then_they_are_left_out(db):
    ivr_only = queued_call("", NOW)
    ivr_only.queued_at = None
    ivr_only.disposition = Disposition.IVR_ONLY
    store(db, ivr_only)

    assert counts(db) == {"complaints": DayCounts(0, 0, 0), "main": DayCounts(0, 0, 0)}


def test_given_a_long_day_when_counted_then_a_single_query_is_sent(db):
    store(db, *(queued_call("main", NOW + timedelta(seconds=i), wait=i % 30) for i in range(60)))
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = counts(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert result["main"] == DayCounts(answered=60, abandoned=0, answered_in_sl=32)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


# ----- agent_calls_today -------------------------------------------------------------------------


def test_given_answered_calls_when_counted_per_agent_then_only_todays_answers_count(db):
    store(
        db,
        queued_call("main", MIDNIGHT - timedelta(minutes=5), wait=3, agent="seat1001"),  # yesterday
        queued_call("main", NOW, wait=3, agent="seat1001"),
        queued_call("complaints", NOW, wait=30, agent="seat1001"),
        queued_call("main", NOW, wait=1, agent="seat1002", ended=False),
        queued_call("main", NOW, abandoned=True),
    )

    assert calls_per_agent(db) == {"seat1001": 2, "seat1002": 1}


def test_given_no_calls_when_counted_per_agent_then_the_answer_is_empty(db):
    assert calls_per_agent(db) == {}


def test_given_a_call_queued_before_midnight_and_answered_after_when_counted_per_agent_then_it_is_today(
    db,
):
    store(db, queued_call("main", MIDNIGHT - timedelta(seconds=10), wait=20, agent="seat1001"))

    assert calls_per_agent(db) == {"seat1001": 1}


# ----- agents_by_state ---------------------------------------------------------------------------


def agent(name: str, state: str, *queues: str, **extra: Any) -> dict[str, Any]:
    return {"type": "agent", "agent": name, "state": state, "queues": dict.fromkeys(queues, 0), **extra}


ZEROS = {"available": 0, "ringing": 0, "on_call": 0, "wrap_up": 0, "paused": 0}


def test_given_agents_in_several_queues_when_counted_then_each_queue_counts_its_members():
    result = agents_by_state(
        [
            agent("alice", "available", "main", "complaints"),
            agent("bob", "on_call", "main"),
            agent("carol", "paused", "main", pause_reason="meal"),
            agent("dave", "wrap_up", "complaints"),
            agent("erin", "ringing", "main"),
            agent("frank", "available", "main", reachable=False),
        ]
    )

    assert result == {
        "main": {**ZEROS, "available": 2, "on_call": 1, "paused": 1, "ringing": 1},
        "complaints": {**ZEROS, "available": 1, "wrap_up": 1},
    }


def test_given_logged_out_agents_when_counted_then_they_are_in_no_queue():
    result = agents_by_state([agent("alice", "logged_out"), agent("bob", "logged_out", "main")])

    assert result == {}


def test_given_known_queues_when_counted_then_empty_queues_have_zeros():
    result = agents_by_state([agent("alice", "on_call", "main")], queues=["main", "night"])

    assert result == {"main": {**ZEROS, "on_call": 1}, "night": ZEROS}


def test_given_no_agents_when_counted_then_the_answer_is_empty():
    assert agents_by_state([]) == {}
