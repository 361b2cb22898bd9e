"""The working-day calendar and case deadlines, on the shipped 2025 and 2026 State Council notices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from case_bridge.working_days import (
    CalendarError,
    Deadline,
    WorkingCalendar,
    YearCalendar,
    deadline_in_hours,
    deadline_in_working_days,
    extend_deadline,
    load_calendar,
    load_year_file,
    shipped_years,
    warn_at,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def span(first: date, last: date) -> set[date]:
    return {first + timedelta(days=offset) for offset in range((last - first).days + 1)}


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def calendar() -> WorkingCalendar:
    # Fresh each test: a calendar remembers the years it had to guess.
    return load_calendar()


# The notices typed a second time, block by block, to check the shipped files against.
NOTICE_2025_HOLIDAYS = (
    {date(2025, 1, 1)}
    | span(date(2025, 1, 28), date(2025, 2, 4))  # 春节
    | span(date(2025, 4, 4), date(2025, 4, 6))  # 清明节
    | span(date(2025, 5, 1), date(2025, 5, 5))  # 劳动节
    | span(date(2025, 5, 31), date(2025, 6, 2))  # 端午节
    | span(date(2025, 10, 1), date(2025, 10, 8))  # 国庆节、中秋节
)
NOTICE_2025_WORKDAYS = {
    date(2025, 1, 26),
    date(2025, 2, 8),
    date(2025, 4, 27),
    date(2025, 9, 28),
    date(2025, 10, 11),
}
NOTICE_2026_HOLIDAYS = (
    span(date(2026, 1, 1), date(2026, 1, 3))  # 元旦
    | span(date(2026, 2, 15), date(2026, 2, 23))  # 春节
    | span(date(2026, 4, 4), date(2026, 4, 6))  # 清明节
    | span(date(2026, 5, 1), date(2026, 5, 5))  # 劳动节
    | span(date(2026, 6, 19), date(2026, 6, 21))  # 端午节
    | span(date(2026, 9, 25), date(2026, 9, 27))  # 中秋节
    | span(date(2026, 10, 1), date(2026, 10, 7))  # 国庆节
)
NOTICE_2026_WORKDAYS = {
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
}


def test_given_the_shipped_files_when_read_then_they_match_the_notices() -> None:
    years = shipped_years()
    assert set(years) >= {2025, 2026}
    assert years[2025].holidays == NOTICE_2025_HOLIDAYS
    assert years[2025].workdays == NOTICE_2025_WORKDAYS
    assert years[2026].holidays == NOTICE_2026_HOLIDAYS
    assert years[2026].workdays == NOTICE_2026_WORKDAYS
    assert "2025年部分节假日安排" in years[2025].source
    assert "2026年部分节假日安排" in years[2026].source


def test_given_shipped_years_when_the_caller_edits_the_dict_then_the_next_call_is_unchanged() -> None:
    shipped_years().pop(2026)
    assert 2026 in shipped_years()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 4), True),  # ordinary Wednesday
        (date(2026, 3, 7), False),  # ordinary Saturday
        (date(2026, 3, 8), False),  # ordinary Sunday
        (date(2025, 9, 28), True),  # Sunday, make-up day for National Day
        (date(2025, 10, 8), False),  # Wednesday, last day of the eight-day holiday
        (date(2025, 10, 11), True),  # Saturday, make-up day
        (date(2025, 10, 12), False),  # the Sunday after it is an ordinary Sunday
        (date(2026, 1, 4), True),  # Sunday, make-up day for 元旦
        (date(2026, 2, 14), True),  # Saturday, make-up day before 春节
        (date(2026, 2, 23), False),  # Monday, last day of 春节
        (date(2026, 2, 28), True),  # Saturday, make-up day after 春节
        (date(2026, 5, 9), True),  # Saturday, make-up day for 劳动节
        (date(2026, 9, 20), True),  # Sunday, make-up day for 国庆节
        (date(2026, 9, 25), False),  # Friday, 中秋节
    ],
)
def test_given_the_national_calendar_when_asked_then_working_day_or_not(
    calendar: WorkingCalendar, day: date, working: bool
) -> None:
    assert calendar.is_working_day(day) is working
    assert calendar.assumed_years == frozenset()


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 3, 6), 1, date(2026, 3, 9)),  # Friday + 1 = Monday
        (date(2026, 3, 5), 3, date(2026, 3, 10)),  # Thursday + 3 = Tuesday
        (date(2026, 3, 2), 5, date(2026, 3, 9)),  # a working week
        (date(2026, 3, 7), 1, date(2026, 3, 9)),  # from a Saturday: Monday is the first
        (date(2026, 3, 2), 15, date(2026, 3, 23)),  # three weeks
    ],
)
def test_given_plain_weeks_when_adding_working_days_then_weekends_are_skipped(
    calendar: WorkingCalendar, start: date, n: int, expected: date
) -> None:
    assert calendar.add_working_days(start, n) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, date(2026, 2, 14)),  # the make-up Saturday before the holiday counts
        (2, date(2026, 2, 24)),  # then 15-23 February are off
        (6, date(2026, 2, 28)),  # 24-27 February, then the make-up Saturday after
        (7, date(2026, 3, 2)),
    ],
)
def test_given_the_2026_spring_festival_when_adding_from_friday_13_then_both_make_up_saturdays_count(
    calendar: WorkingCalendar, n: int, expected: date
) -> None:
    assert calendar.add_working_days(date(2026, 2, 13), n) == expected


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2025, 9, 26), 1, date(2025, 9, 28)),  # Friday: the make-up Sunday is next
        (date(2025, 9, 26), 3, date(2025, 9, 30)),
        (date(2025, 9, 26), 4, date(2025, 10, 9)),  # 1-8 October are off
        (date(2025, 9, 30), 1, date(2025, 10, 9)),
        (date(2025, 10, 9), 2, date(2025, 10, 11)),  # the make-up Saturday
        (date(2025, 10, 9), 3, date(2025, 10, 13)),
    ],
)
def test_given_national_day_2025_when_adding_working_days_then_its_days_off_and_make_up_days_apply(
    calendar: WorkingCalendar, start: date, n: int, expected: date
) -> None:
    assert calendar.add_working_days(start, n) == expected


def test_given_new_years_eve_2025_when_adding_then_the_make_up_sunday_4_january_is_the_first(
    calendar: WorkingCalendar,
) -> None:
    # 1-3 January 2026 are off and Sunday 4 January is worked in exchange.
    assert calendar.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 4)
    assert calendar.add_working_days(date(2025, 12, 31), 2) == date(2026, 1, 5)
    assert calendar.assumed_years == frozenset()


def test_given_a_year_not_shipped_when_counting_into_it_then_weekends_only_and_the_year_reported(
    calendar: WorkingCalendar,
) -> None:
    assert not calendar.knows(2027)
    # Thursday 31 December 2026: Friday 1 January 2027 would be 元旦, but no list says so yet.
    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 1)
    assert calendar.add_working_days(date(2026, 12, 31), 2) == date(2027, 1, 4)
    assert calendar.assumed_years == frozenset({2027})
    due = deadline_in_working_days(calendar, local(2026, 12, 30, 10), 3, SHANGHAI)
    assert due == Deadline(due_at=local(2027, 1, 5).astimezone(UTC), assumed_years=(2027,))


def test_given_a_deadline_inside_known_years_then_no_year_is_reported(calendar: WorkingCalendar) -> None:
    assert deadline_in_working_days(calendar, local(2026, 12, 28, 10), 3, SHANGHAI).assumed_years == ()


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, date(2026, 2, 16)),  # zero is the day itself, holiday or not
        (-1, date(2026, 2, 14)),  # the make-up Saturday before the holiday
        (-2, date(2026, 2, 13)),
    ],
)
def test_given_a_negative_count_when_adding_then_it_counts_backwards(
    calendar: WorkingCalendar, n: int, expected: date
) -> None:
    assert calendar.add_working_days(date(2026, 2, 16), n) == expected


def test_given_early_january_when_counting_backwards_then_it_crosses_into_2025(
    calendar: WorkingCalendar,
) -> None:
    assert calendar.add_working_days(date(2026, 1, 5), -1) == date(2026, 1, 4)
    assert calendar.add_working_days(date(2026, 1, 5), -2) == date(2025, 12, 31)


def test_given_any_day_when_asking_next_and_on_or_after_then_strictly_after_and_itself_if_working(
    calendar: WorkingCalendar,
) -> None:
    assert calendar.next_working_day(date(2026, 3, 4)) == date(2026, 3, 5)
    assert calendar.working_day_on_or_after(date(2026, 3, 4)) == date(2026, 3, 4)
    assert calendar.next_working_day(date(2025, 10, 1)) == date(2025, 10, 9)
    assert calendar.working_day_on_or_after(date(2025, 10, 1)) == date(2025, 10, 9)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 3, 4), date(2026, 3, 4), 0),
        (date(2026, 3, 6), date(2026, 3, 9), 1),  # due Friday, Monday is 1 working day overdue
        (date(2026, 3, 6), date(2026, 3, 8), 0),  # the weekend after a Friday deadline is not
        (date(2026, 2, 13), date(2026, 3, 2), 7),
        (date(2026, 3, 2), date(2026, 2, 13), -7),
        (date(2025, 9, 26), date(2025, 10, 13), 7),
        # 2025: 365 days - 104 weekend days - 18 weekday holidays + 5 make-up days = 248;
        # 2026: 365 - 104 - 19 + 6 = 248. Counted by hand from the notices.
        (date(2024, 12, 31), date(2025, 12, 31), 248),
        (date(2025, 12, 31), date(2026, 12, 31), 248),
        (date(2024, 12, 31), date(2026, 12, 31), 496),
        (date(2026, 12, 31), date(2024, 12, 31), -496),
    ],
)
def test_given_two_days_when_counting_between_then_working_days_in_the_half_open_span(
    calendar: WorkingCalendar, start: date, end: date, expected: int
) -> None:
    assert calendar.working_days_between(start, end) == expected


def test_given_any_start_and_count_when_adding_then_between_gives_the_count_back(
    calendar: WorkingCalendar,
) -> None:
    for offset in range(0, 730, 5):
        start = date(2025, 1, 1) + timedelta(days=offset)
        for n in (1, 2, 3, 5, 13, 15, 60):
            assert calendar.working_days_between(start, calendar.add_working_days(start, n)) == n


def test_given_a_datetime_for_a_day_then_type_error(calendar: WorkingCalendar) -> None:
    # A datetime never equals a date, so every holiday would be missed without a word.
    with pytest.raises(TypeError, match="2025-10-01"):
        calendar.is_working_day(datetime(2025, 10, 1, 9, 0))


# Deadlines


def test_given_a_weekday_receipt_when_5_working_days_then_due_at_the_midnight_ending_the_5th(
    calendar: WorkingCalendar,
) -> None:
    # Received Monday 2 March 2026 at 10:00: day 1 is Tuesday, day 5 is Monday 9 March.
    due = deadline_in_working_days(calendar, local(2026, 3, 2, 10), 5, SHANGHAI)
    assert due.due_at == utc(2026, 3, 9, 16)  # 10 March 00:00 in Shanghai
    assert due.due_at.tzinfo is UTC
    assert due.assumed_years == ()


def test_given_receipt_on_a_holiday_when_1_working_day_then_the_first_working_day_after_is_day_1(
    calendar: WorkingCalendar,
) -> None:
    due = deadline_in_working_days(calendar, local(2025, 10, 3, 10), 1, SHANGHAI)
    assert due.due_at == local(2025, 10, 10)  # end of Thursday 9 October


def test_given_receipt_on_a_make_up_sunday_then_counting_starts_the_next_day(
    calendar: WorkingCalendar,
) -> None:
    due = deadline_in_working_days(calendar, local(2025, 9, 28, 15), 2, SHANGHAI)
    assert due.due_at == local(2025, 10, 1)  # 29 and 30 September


def test_given_receipt_late_in_the_evening_when_counting_then_the_local_date_is_the_day_of_receipt(
    calendar: WorkingCalendar,
) -> None:
    # Friday 20 November 2026 23:30 in Shanghai is 15:30 UTC: received on the 20th, so counting
    # starts on Saturday the 21st and Monday the 23rd is day 1.
    start = utc(2026, 11, 20, 15, 30)
    assert start == local(2026, 11, 20, 23, 30)
    assert deadline_in_working_days(calendar, start, 1, SHANGHAI).due_at == local(2026, 11, 24)
    assert deadline_in_working_days(calendar, start, 2, SHANGHAI).due_at == local(2026, 11, 25)


def test_given_receipt_just_after_local_midnight_when_counting_then_the_local_date_not_the_utc_one(
    calendar: WorkingCalendar,
) -> None:
    # Wednesday 18 November 2026 00:30 in Shanghai is still Tuesday the 17th in UTC.
    start = utc(2026, 11, 17, 16, 30)
    due = deadline_in_working_days(calendar, start, 1, SHANGHAI)
    assert due.due_at == local(2026, 11, 20)  # end of Thursday the 19th, not of Wednesday


def test_given_the_same_receipt_in_another_zone_then_that_zones_dates_count(
    calendar: WorkingCalendar,
) -> None:
    start = utc(2026, 11, 17, 16, 30)  # Tuesday 17:30 in Berlin
    berlin = ZoneInfo("Europe/Berlin")
    due = deadline_in_working_days(calendar, start, 1, berlin)
    assert due.due_at == datetime(2026, 11, 19, tzinfo=berlin)


def test_given_bad_input_when_counting_working_days_then_value_error(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        deadline_in_working_days(calendar, datetime(2026, 3, 2, 10), 5, SHANGHAI)
    with pytest.raises(ValueError, match="at least 1"):
        deadline_in_working_days(calendar, local(2026, 3, 2, 10), 0, SHANGHAI)


def test_given_an_urgent_case_when_hours_then_clock_hours_through_holidays() -> None:
    start = local(2026, 2, 16, 10)  # 春节
    assert deadline_in_hours(start, 2) == Deadline(due_at=utc(2026, 2, 16, 4), assumed_years=())
    assert deadline_in_hours(start, 24).due_at == local(2026, 2, 17, 10)
    assert deadline_in_hours(start, 24).due_at.tzinfo is UTC


def test_given_hours_across_a_dst_change_then_elapsed_hours_not_wall_clock_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Clocks go forward on Sunday 29 March 2026: 24 hours after Saturday noon is 13:00 on Sunday.
    due = deadline_in_hours(datetime(2026, 3, 28, 12, tzinfo=berlin), 24)
    assert due.due_at == datetime(2026, 3, 29, 13, tzinfo=berlin)


def test_given_bad_input_when_counting_hours_then_value_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        deadline_in_hours(datetime(2026, 3, 2, 10), 2)
    with pytest.raises(ValueError, match="at least 1"):
        deadline_in_hours(local(2026, 3, 2, 10), 0)


def test_given_an_extension_then_working_days_after_the_current_deadlines_day(
    calendar: WorkingCalendar,
) -> None:
    # Due at the end of Friday 13 February 2026; 2 more days are the make-up Saturday and the 24th.
    extended = extend_deadline(calendar, local(2026, 2, 14), 2, SHANGHAI)
    assert extended == Deadline(due_at=local(2026, 2, 25).astimezone(UTC), assumed_years=())


def test_given_an_hours_deadline_when_extended_then_it_ends_with_a_working_day(
    calendar: WorkingCalendar,
) -> None:
    # Due Saturday 7 March 2026 at 14:00: one more working day is Monday the 9th, to its end.
    assert extend_deadline(calendar, local(2026, 3, 7, 14), 1, SHANGHAI).due_at == local(2026, 3, 10)


def test_given_an_extension_into_an_unknown_year_then_the_year_is_reported(calendar: WorkingCalendar) -> None:
    extended = extend_deadline(calendar, local(2026, 12, 31), 5, SHANGHAI)
    assert extended.assumed_years == (2027,)
    assert extended.due_at == local(2027, 1, 7)


@pytest.mark.parametrize("limit", [1, 2, 5, 15])
@pytest.mark.parametrize("more", [1, 3, 10])
def test_given_a_limit_and_an_extension_then_the_same_as_the_longer_limit(
    calendar: WorkingCalendar, limit: int, more: int
) -> None:
    for start in (local(2025, 9, 25, 9), local(2026, 2, 12, 23, 59), local(2026, 12, 24, 0, 1)):
        due = deadline_in_working_days(calendar, start, limit, SHANGHAI)
        longer = deadline_in_working_days(calendar, start, limit + more, SHANGHAI)
        assert extend_deadline(calendar, due.due_at, more, SHANGHAI) == longer


def test_given_bad_input_when_extending_then_value_error(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        extend_deadline(calendar, datetime(2026, 3, 2), 2, SHANGHAI)
    with pytest.raises(ValueError, match="at least 1"):
        extend_deadline(calendar, local(2026, 3, 2), 0, SHANGHAI)


def test_given_a_limit_of_days_when_warning_then_at_the_start_of_the_last_working_day(
    calendar: WorkingCalendar,
) -> None:
    start = local(2026, 3, 2, 10)
    due = deadline_in_working_days(calendar, start, 5, SHANGHAI).due_at
    assert warn_at(calendar, start, due, SHANGHAI) == local(2026, 3, 9)
    assert warn_at(calendar, start, due, SHANGHAI).tzinfo is UTC


def test_given_2_days_over_national_day_when_warning_then_the_last_day_is_a_working_day(
    calendar: WorkingCalendar,
) -> None:
    start = local(2025, 9, 30, 10)
    due = deadline_in_working_days(calendar, start, 2, SHANGHAI).due_at
    assert due == local(2025, 10, 11)
    assert warn_at(calendar, start, due, SHANGHAI) == local(2025, 10, 10)


def test_given_a_1_day_limit_when_warning_then_after_75_percent_of_the_time(
    calendar: WorkingCalendar,
) -> None:
    start = local(2026, 3, 2, 10)
    due = deadline_in_working_days(calendar, start, 1, SHANGHAI).due_at
    assert due == local(2026, 3, 4)  # 38 hours later
    assert warn_at(calendar, start, due, SHANGHAI) == local(2026, 3, 3, 14, 30)


def test_given_an_hours_limit_when_warning_then_after_75_percent_of_the_time(
    calendar: WorkingCalendar,
) -> None:
    start = local(2026, 2, 16, 10)
    assert warn_at(calendar, start, deadline_in_hours(start, 2).due_at, SHANGHAI) == local(
        2026, 2, 16, 11, 30
    )
    # 24 clock hours from a midnight end at a midnight, and are still an hours limit, not a day.
    start = local(2026, 3, 2, 0)
    assert warn_at(calendar, start, deadline_in_hours(start, 24).due_at, SHANGHAI) == local(2026, 3, 2, 18)


def test_given_an_extended_deadline_when_warning_then_at_the_start_of_its_new_last_day(
    calendar: WorkingCalendar,
) -> None:
    start = local(2026, 2, 12, 9)
    due = deadline_in_working_days(calendar, start, 1, SHANGHAI).due_at  # end of the 13th
    extended = extend_deadline(calendar, due, 1, SHANGHAI).due_at  # end of the make-up 14th
    assert warn_at(calendar, start, extended, SHANGHAI) == local(2026, 2, 14)


def test_given_a_deadline_not_after_the_start_when_warning_then_value_error(
    calendar: WorkingCalendar,
) -> None:
    with pytest.raises(ValueError, match="not after"):
        warn_at(calendar, local(2026, 3, 2, 10), local(2026, 3, 2, 10), SHANGHAI)
    with pytest.raises(ValueError, match="aware"):
        warn_at(calendar, datetime(2026, 3, 2, 10), local(2026, 3, 3), SHANGHAI)


# Bad data and overrides


def test_given_a_day_of_another_year_then_calendar_error_naming_it() -> None:
    with pytest.raises(CalendarError, match="2025-12-31"):
        YearCalendar(year=2026, holidays=frozenset({date(2025, 12, 31)}), workdays=frozenset())


def test_given_a_day_both_off_and_worked_then_calendar_error_naming_it() -> None:
    with pytest.raises(CalendarError, match="2026-10-03"):
        YearCalendar(
            year=2026, holidays=frozenset({date(2026, 10, 3)}), workdays=frozenset({date(2026, 10, 3)})
        )


def test_given_a_datetime_in_the_list_then_calendar_error() -> None:
    with pytest.raises(CalendarError, match="not a date"):
        YearCalendar(year=2026, holidays=frozenset({datetime(2026, 10, 1, 0, 0)}), workdays=frozenset())


def test_given_a_make_up_day_on_a_weekday_then_calendar_error_naming_it() -> None:
    friday = YearCalendar(year=2026, holidays=frozenset(), workdays=frozenset({date(2026, 10, 9)}))
    with pytest.raises(CalendarError, match=r"2026-10-09 \(Friday\)"):
        load_calendar([friday])


def test_given_a_calendar_filed_under_another_year_then_calendar_error() -> None:
    year = YearCalendar(year=2026, holidays=frozenset(), workdays=frozenset())
    with pytest.raises(CalendarError, match="filed under 2027"):
        WorkingCalendar({2027: year})


def test_given_a_weekend_of_every_day_then_calendar_error() -> None:
    with pytest.raises(CalendarError, match="no working day"):
        WorkingCalendar({}, weekend=frozenset(range(1, 8)))
    with pytest.raises(CalendarError, match="ISO weekdays"):
        WorkingCalendar({}, weekend=frozenset({0, 6}))


def test_given_a_friday_saturday_weekend_then_it_is_used_for_guessed_years() -> None:
    calendar = WorkingCalendar({}, weekend=frozenset({5, 6}))
    assert calendar.add_working_days(date(2027, 3, 4), 1) == date(2027, 3, 7)  # Thursday + 1 = Sunday
    assert calendar.assumed_years == frozenset({2027})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cn-2026.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_given_a_good_file_when_loaded_then_the_year(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'year = 2026\nsource = "test"\nholidays = [2026-10-01, 2026-10-02]\nworkdays = [2026-10-10]\n',
    )
    assert load_year_file(path) == YearCalendar(
        year=2026,
        holidays=frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
        workdays=frozenset({date(2026, 10, 10)}),
        source="test",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year = 2026\nworkdays = [2026-10-09]\n", r"2026-10-09 \(Friday\)"),
        ("year = 2026\nholidays = [2027-01-01]\n", "2027-01-01"),
        ("year = 2026\nholidays = [2026-10-01, 2026-10-01]\n", "2026-10-01 is listed twice"),
        ('year = 2026\nholidays = ["2026-10-01"]\n', "unquoted"),
        ("year = 2026\nholidays = [2026-10-01T00:00:00]\n", "not a date"),
        ("year = 2026\nworkday = [2026-10-10]\n", "unknown key 'workday'"),
        ('year = "2026"\n', "whole number"),
        ("holidays = []\n", "whole number"),
        ("year = 2026\nholidays = 2026-10-01\n", "list of dates"),
        ("year = 2026\nsource = 7\n", "source must be text"),
        ("year = 2026\nholidays = [2026-10-01\n", "Unclosed array"),
    ],
)
def test_given_a_bad_file_when_loaded_then_calendar_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarError, match=message) as raised:
        load_year_file(path)
    assert str(path) in str(raised.value)


def test_given_an_override_of_2026_then_it_replaces_the_shipped_year_entirely() -> None:
    corrected = YearCalendar(
        year=2026, holidays=frozenset({date(2026, 3, 2)}), workdays=frozenset(), source="a correction"
    )
    calendar = load_calendar([corrected])
    assert not calendar.is_working_day(date(2026, 3, 2))
    assert calendar.is_working_day(date(2026, 2, 16))  # the shipped 春节 is gone
    assert not calendar.is_working_day(date(2026, 1, 4))  # and so are its make-up days
    assert calendar.is_working_day(date(2025, 10, 9))  # other years stay shipped
    assert not calendar.is_working_day(date(2025, 10, 8))
    assert calendar.assumed_years == frozenset()


def test_given_an_override_for_a_year_not_shipped_then_it_is_known() -> None:
    notice_2027 = YearCalendar(
        year=2027, holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset(), source="2027 notice"
    )
    calendar = load_calendar([notice_2027])
    assert calendar.knows(2027)
    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert calendar.assumed_years == frozenset()


def test_given_the_same_year_twice_in_overrides_then_calendar_error() -> None:
    year = YearCalendar(year=2027, holidays=frozenset(), workdays=frozenset())
    with pytest.raises(CalendarError, match="2027"):
        load_calendar([year, year])
