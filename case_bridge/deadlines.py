"""A case's clocks: when it must be signed for, when it must be done, when to warn.

Normal cases count working days on the national calendar (``working_days``); urgent ones count
clock hours. The clock starts when the case is dispatched (or dispatched again after a return
or a reopen): the department cannot act on a case it has not been given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache

from case_bridge.models import Case, Category, Urgency
from case_bridge.working_days import (
    WorkingCalendar,
    YearCalendar,
    deadline_in_hours,
    deadline_in_working_days,
    extend_deadline,
    load_calendar,
    warn_at,
)
from hotline.case_settings import CalendarYearSettings, CaseSettings

DEFAULT_LIMIT_DAYS = 5
DEFAULT_URGENT_HOURS = 24


@cache
def _calendar(overrides: tuple[CalendarYearSettings, ...]) -> WorkingCalendar:
    return load_calendar(
        YearCalendar(
            year=o.year, holidays=frozenset(o.holidays), workdays=frozenset(o.workdays), source=o.source
        )
        for o in overrides
    )


def calendar_of(settings: CaseSettings) -> WorkingCalendar:
    """The site's calendar: shipped years, replaced or extended by ``cases.calendar``."""
    return _calendar(settings.calendar)


@dataclass(frozen=True)
class Clock:
    sign_due_at: datetime
    due_at: datetime
    warn_at: datetime
    guessed_years: tuple[int, ...]


def start_clock(
    *,
    category: Category | None,
    urgency: str,
    now: datetime,
    zone: tzinfo,
    settings: CaseSettings,
) -> Clock:
    calendar = calendar_of(settings)
    if urgency == Urgency.URGENT:
        hours = category.urgent_hours if category else DEFAULT_URGENT_HOURS
        due = deadline_in_hours(now, hours)
        # An urgent case is signed for within a quarter of its time (at least 30 minutes).
        sign = deadline_in_hours(now, max(hours, 2) // 4 or 1)
    else:
        days = category.limit_days if category else DEFAULT_LIMIT_DAYS
        due = deadline_in_working_days(calendar, now, days, zone)
        sign = deadline_in_working_days(calendar, now, min(settings.sign_for_days, days), zone)
    guessed = tuple(sorted(set(due.assumed_years) | set(sign.assumed_years)))
    return Clock(
        sign_due_at=sign.due_at,
        due_at=due.due_at,
        warn_at=warn_at(calendar, now, due.due_at, zone),
        guessed_years=guessed,
    )


def apply_clock(case: Case, clock: Clock) -> None:
    case.sign_due_at = clock.sign_due_at
    case.due_at = clock.due_at
    case.warn_at = clock.warn_at
    case.warned_at = None
    case.overdue_at = None
    case.sign_overdue_at = None
    case.escalated_at = None
    case.calendar_guessed = " ".join(str(year) for year in clock.guessed_years)


def extend(case: Case, days: int, *, zone: tzinfo, settings: CaseSettings) -> tuple[int, ...]:
    """Push the deadline back by ``days`` working days (an approved 延期); clears overdue marks."""
    assert case.due_at is not None and case.dispatched_at is not None
    calendar = calendar_of(settings)
    extended = extend_deadline(calendar, case.due_at, days, zone)
    case.due_at = extended.due_at
    case.warn_at = warn_at(calendar, case.dispatched_at, extended.due_at, zone)
    case.warned_at = None
    case.overdue_at = None
    case.escalated_at = None
    return extended.assumed_years
