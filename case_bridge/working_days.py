"""Working days on the national calendar, and the case deadlines counted in them.

China's working days are a list, not a rule: each autumn the State Council publishes the coming
year's holidays and the weekend days worked in exchange (调休). The lists ship as one TOML file per
year in ``calendars/``; a site replaces a year (a correction) or adds one (a notice published after
this release) through settings. A year without a list is counted by weekends alone and reported,
so an operator is alerted instead of deadlines silently falling inside the Spring Festival.

Time limits read "办结 within N working days": the count starts on the day after receipt and the
case is due by the end of the N-th working day. Pure: nothing here reads the clock, the database or
settings; the shipped files are parsed once per process.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

NATIONAL_WEEKEND: frozenset[int] = frozenset({6, 7})
SHIPPED_DIR = Path(__file__).with_name("calendars")

_ONE_DAY = timedelta(days=1)
_FILE_KEYS = frozenset({"year", "source", "holidays", "workdays"})
# From this many working days on, a limit leaves a whole last day to act in once warned; shorter
# limits would be warned of as they start, so they are warned when most of their time is gone.
_WARN_ON_LAST_DAY_FROM = 2


class CalendarError(ValueError):
    """A holiday list that cannot be right; deadlines built on it would be wrong without showing."""


@dataclass(frozen=True)
class YearCalendar:
    """One year's notice: the days off and the weekend days worked in exchange."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""

    def __post_init__(self) -> None:
        for day in (*self.holidays, *self.workdays):
            # A datetime never equals a date, so it would sit in the list and never match a day.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise CalendarError(f"{day!r} in the {self.year} calendar is not a date")
        for day in sorted(self.holidays | self.workdays):
            if day.year != self.year:
                raise CalendarError(f"{day.isoformat()} is listed in the calendar for {self.year}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise CalendarError(
                f"{both[0].isoformat()} is both a holiday and a make-up working day in {self.year}"
            )


def _check_make_up_days(calendar: YearCalendar, weekend: frozenset[int]) -> None:
    # A make-up day on a day that is worked anyway is a typo for some other date of the notice.
    for day in sorted(calendar.workdays):
        if day.isoweekday() not in weekend:
            raise CalendarError(
                f"{day.isoformat()} ({day:%A}) is a make-up working day in {calendar.year}"
                " but not a weekend day"
            )


def _file_days(data: Mapping[str, Any], key: str) -> frozenset[date]:
    listed = data.get(key, [])
    if not isinstance(listed, list):
        raise CalendarError(f"{key} must be a list of dates")
    for item in listed:
        # Quoted dates and date-times are typos of plain TOML dates (2026-10-01): refuse, not guess.
        if not isinstance(item, date) or isinstance(item, datetime):
            raise CalendarError(f"{key}: {item!r} is not a date (write it unquoted, like 2026-10-01)")
    days = frozenset(listed)
    if len(days) != len(listed):
        twice = next(day for day in listed if listed.count(day) > 1)
        raise CalendarError(f"{key}: {twice.isoformat()} is listed twice")
    return days


def load_year_file(path: Path) -> YearCalendar:
    """One year's notice from a TOML file (``year``, ``source``, ``holidays``, ``workdays``).

    Any mistake raises :class:`CalendarError` naming the file and, where there is one, the date.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        unknown = sorted(set(data) - _FILE_KEYS)
        if unknown:
            # "workday = [...]" would otherwise drop every make-up day without a word.
            raise CalendarError(f"unknown key {unknown[0]!r}")
        year = data.get("year")
        if not isinstance(year, int) or isinstance(year, bool):
            raise CalendarError("year must be a whole number")
        source = data.get("source", "")
        if not isinstance(source, str):
            raise CalendarError("source must be text")
        calendar = YearCalendar(
            year=year,
            holidays=_file_days(data, "holidays"),
            workdays=_file_days(data, "workdays"),
            source=source,
        )
        _check_make_up_days(calendar, NATIONAL_WEEKEND)
    except (tomllib.TOMLDecodeError, CalendarError) as error:
        raise CalendarError(f"{path}: {error}") from error
    return calendar


@cache
def _shipped() -> tuple[YearCalendar, ...]:
    found: dict[int, Path] = {}
    calendars: list[YearCalendar] = []
    for path in sorted(SHIPPED_DIR.glob("*.toml")):
        calendar = load_year_file(path)
        if calendar.year in found:
            raise CalendarError(f"{path}: {calendar.year} is already given by {found[calendar.year]}")
        found[calendar.year] = path
        calendars.append(calendar)
    return tuple(calendars)


def shipped_years() -> dict[int, YearCalendar]:
    """The national calendars shipped with this release, by year (a fresh dict the caller may edit)."""
    return {calendar.year: calendar for calendar in _shipped()}


class WorkingCalendar:
    """Which days are working days: by the lists where a year has one, by weekends elsewhere.

    Every year it had to count by weekends alone is remembered in :attr:`assumed_years`.
    """

    def __init__(self, years: Mapping[int, YearCalendar], weekend: frozenset[int] = NATIONAL_WEEKEND) -> None:
        if not weekend <= frozenset(range(1, 8)):
            raise CalendarError(f"weekend days are ISO weekdays 1-7, got {sorted(weekend)}")
        if len(weekend) == 7:
            # Counting forward through a year without a list would never find a working day.
            raise CalendarError("a weekend of all seven days leaves no working day")
        for year, calendar in years.items():
            if year != calendar.year:
                raise CalendarError(f"the calendar for {calendar.year} is filed under {year}")
            _check_make_up_days(calendar, weekend)
        self._years = dict(years)
        self._weekend = weekend
        self._assumed: set[int] = set()

    @property
    def weekend(self) -> frozenset[int]:
        return self._weekend

    @property
    def assumed_years(self) -> frozenset[int]:
        """Years looked at so far that had no list, so were counted by weekends alone."""
        return frozenset(self._assumed)

    def knows(self, year: int) -> bool:
        return year in self._years

    def is_working_day(self, day: date) -> bool:
        _require_date(day)
        return self._is_working(day)

    def _is_working(self, day: date) -> bool:
        calendar = self._years.get(day.year)
        if calendar is None:
            self._assumed.add(day.year)
        elif day in calendar.holidays:
            return False
        elif day in calendar.workdays:
            return True
        return day.isoweekday() not in self._weekend

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (before it if n < 0); ``day`` itself never counts."""
        _require_date(day)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        left = abs(n)
        while left:
            day += step
            if self._is_working(day):
                left -= 1
        return day

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    def working_day_on_or_after(self, day: date) -> date:
        return day if self.is_working_day(day) else self.next_working_day(day)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative, counting (end, start], when end is before start.

        "Days overdue" is ``working_days_between(due day, today)``: 0 on the due day itself.
        """
        _require_date(start)
        _require_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += _ONE_DAY
            if self._is_working(day):
                count += 1
        return count

    def unknown_years(self, after: date, through: date) -> tuple[int, ...]:
        """The years of the days in (after, through] that have no list, in order."""
        first = (after + _ONE_DAY).year
        return tuple(year for year in range(first, through.year + 1) if not self.knows(year))


def load_calendar(overrides: Iterable[YearCalendar] = ()) -> WorkingCalendar:
    """The shipped national calendars, each year given in ``overrides`` replacing the shipped one."""
    years = shipped_years()
    given: set[int] = set()
    for calendar in overrides:
        if calendar.year in given:
            raise CalendarError(f"two calendars are given for {calendar.year}")
        given.add(calendar.year)
        years[calendar.year] = calendar
    return WorkingCalendar(years)


@dataclass(frozen=True)
class Deadline:
    """When a case is due (aware, UTC), and the years whose calendar had to be guessed for it."""

    due_at: datetime
    assumed_years: tuple[int, ...]


def deadline_in_working_days(calendar: WorkingCalendar, start: datetime, days: int, zone: tzinfo) -> Deadline:
    """Due by the end of the ``days``-th working day after ``start``'s local date in ``zone``.

    Day 1 is the first working day after the day of receipt, whatever the hour of receipt, and
    also when receipt falls on a holiday or a weekend. The result is the local midnight ending the
    last day, in UTC; screens show it as 24:00 (or 23:59) of that day.
    """
    _require_aware(start, "start")
    if days < 1:
        raise ValueError(f"a limit in working days must be at least 1, got {days}")
    received = start.astimezone(zone).date()
    last_day = calendar.add_working_days(received, days)
    return Deadline(due_at=_end_of(last_day, zone), assumed_years=calendar.unknown_years(received, last_day))


def deadline_in_hours(start: datetime, hours: int) -> Deadline:
    """Due ``hours`` elapsed hours after ``start``, nights and holidays included (urgent cases)."""
    _require_aware(start, "start")
    if hours < 1:
        raise ValueError(f"a limit in hours must be at least 1, got {hours}")
    # Added in UTC: adding to a local time would add wall-clock hours across a DST change.
    return Deadline(due_at=start.astimezone(UTC) + timedelta(hours=hours), assumed_years=())


def extend_deadline(calendar: WorkingCalendar, due_at: datetime, days: int, zone: tzinfo) -> Deadline:
    """An approved extension (延期): due by the end of the ``days``-th working day after the day
    the current deadline falls on (a deadline at midnight falls on the day it ends).
    """
    _require_aware(due_at, "due_at")
    if days < 1:
        raise ValueError(f"an extension must be at least 1 working day, got {days}")
    current_day = _day_of(due_at, zone)
    last_day = calendar.add_working_days(current_day, days)
    return Deadline(
        due_at=_end_of(last_day, zone), assumed_years=calendar.unknown_years(current_day, last_day)
    )


def warn_at(calendar: WorkingCalendar, start: datetime, due_at: datetime, zone: tzinfo) -> datetime:
    """When to warn the department that a deadline is near (aware, UTC).

    - A limit of 2 or more working days, due at the end of a day: at the local midnight that begins
      the last day, so the department is warned with that whole working day left.
    - Anything shorter (1 working day, or a limit in hours): once 75 % of the time from ``start`` to
      ``due_at`` has passed, since the start of the last day would be (almost) the start itself.
    """
    _require_aware(start, "start")
    _require_aware(due_at, "due_at")
    if due_at <= start:
        raise ValueError(f"the deadline {due_at.isoformat()} is not after the start {start.isoformat()}")
    last_day = _day_of(due_at, zone)
    received = start.astimezone(zone).date()
    ends_a_day = due_at == _end_of(last_day, zone)
    if ends_a_day and calendar.working_days_between(received, last_day) >= _WARN_ON_LAST_DAY_FROM:
        return _start_of(last_day, zone)
    begun = start.astimezone(UTC)
    return begun + (due_at.astimezone(UTC) - begun) * 3 / 4


def _start_of(day: date, zone: tzinfo) -> datetime:
    # Where midnight is skipped by a DST change, fold=0 reads it with the old offset: the instant
    # of the change, which is the first instant of the new day.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _end_of(day: date, zone: tzinfo) -> datetime:
    return _start_of(day + _ONE_DAY, zone)


def _day_of(moment: datetime, zone: tzinfo) -> date:
    # A deadline at local midnight belongs to the day it ends; stepping back in UTC, not in local
    # wall time, keeps that true on a day whose midnight a DST change skips.
    return (moment.astimezone(UTC) - timedelta(microseconds=1)).astimezone(zone).date()


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive time would be read in the server's zone, which need not be the hotline's.
        raise ValueError(f"{name} must be an aware datetime, got {moment.isoformat()}")


def _require_date(day: date) -> None:
    if isinstance(day, datetime):
        # A datetime is a date to the type checker but never equals one, so holidays would not match.
        raise TypeError(f"pass the local date, not a datetime: {day.isoformat()}")
