from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hotline.settings import BusinessHoursSettings
from ivr_flows.calendar import BusinessState, business_state

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2025: National Day holiday 1-8 October, with Sunday 28 September and Saturday 11 October
# worked instead (调休).
HOURS = BusinessHoursSettings(
    always_open=False,
    weekdays=(1, 2, 3, 4, 5),
    open_at=time(8, 30),
    close_at=time(17, 30),
    holidays=tuple(date(2025, 10, day) for day in range(1, 9)),
    workdays=(date(2025, 9, 28), date(2025, 10, 11)),
)


def at(day: date, clock: time, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)


def test_given_always_open_when_a_holiday_night_then_open() -> None:
    hours = BusinessHoursSettings(holidays=(date(2025, 10, 1),))
    assert business_state(hours, at(date(2025, 10, 1), time(3, 0)), SHANGHAI) is BusinessState.OPEN


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        (date(2025, 9, 24), time(10, 0), BusinessState.OPEN),  # Wednesday
        (date(2025, 9, 24), time(8, 29, 59), BusinessState.CLOSED),
        (date(2025, 9, 24), time(8, 30), BusinessState.OPEN),  # opening minute counts as open
        (date(2025, 9, 24), time(17, 29, 59), BusinessState.OPEN),
        (date(2025, 9, 24), time(17, 30), BusinessState.CLOSED),  # closing minute counts as closed
        (date(2025, 9, 24), time(23, 0), BusinessState.CLOSED),
        (date(2025, 9, 27), time(10, 0), BusinessState.CLOSED),  # ordinary Saturday
        (date(2025, 9, 28), time(10, 0), BusinessState.OPEN),  # Sunday, make-up working day
        (date(2025, 9, 28), time(18, 0), BusinessState.CLOSED),  # make-up day keeps the hours
        (date(2025, 10, 1), time(10, 0), BusinessState.HOLIDAY),  # Wednesday, National Day
        (date(2025, 10, 1), time(3, 0), BusinessState.HOLIDAY),  # the whole day is a holiday
        (date(2025, 10, 4), time(10, 0), BusinessState.HOLIDAY),  # Saturday inside the holiday
        (date(2025, 10, 9), time(10, 0), BusinessState.OPEN),  # Thursday after the holiday
        (date(2025, 10, 11), time(9, 0), BusinessState.OPEN),  # Saturday, make-up working day
        (date(2025, 10, 12), time(9, 0), BusinessState.CLOSED),  # Sunday after it
    ],
)
def test_given_the_2025_national_day_calendar_when_called_then_state(
    day: date, clock: time, expected: BusinessState
) -> None:
    assert business_state(HOURS, at(day, clock), SHANGHAI) is expected


def test_given_a_utc_moment_when_checked_then_read_on_the_hotlines_clock() -> None:
    # 00:30 UTC is 08:30 in Shanghai: open, although it is night in UTC.
    assert business_state(HOURS, datetime(2025, 9, 24, 0, 30, tzinfo=UTC), SHANGHAI) is BusinessState.OPEN
    assert business_state(HOURS, datetime(2025, 9, 24, 0, 29, tzinfo=UTC), SHANGHAI) is BusinessState.CLOSED
    # 16:30 UTC on 30 September is 00:30 on 1 October in Shanghai: the holiday has begun.
    moment = datetime(2025, 9, 30, 16, 30, tzinfo=UTC)
    assert business_state(HOURS, moment, SHANGHAI) is BusinessState.HOLIDAY


def test_given_a_moment_in_another_zone_when_checked_then_converted() -> None:
    new_york = timezone(timedelta(hours=-4))
    # 21:00 on Tuesday in New York is 09:00 on Wednesday in Shanghai.
    moment = datetime(2025, 9, 23, 21, 0, tzinfo=new_york)
    assert business_state(HOURS, moment, SHANGHAI) is BusinessState.OPEN


def test_given_a_naive_moment_when_checked_then_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_state(HOURS, datetime(2025, 9, 24, 10, 0), SHANGHAI)


def test_given_a_date_both_holiday_and_workday_when_checked_then_holiday_wins() -> None:
    hours = HOURS.model_copy(update={"workdays": (date(2025, 10, 1),)})
    assert business_state(hours, at(date(2025, 10, 1), time(10, 0)), SHANGHAI) is BusinessState.HOLIDAY


def test_given_weekend_service_configured_when_saturday_then_open() -> None:
    hours = HOURS.model_copy(update={"weekdays": (1, 2, 3, 4, 5, 6)})
    assert business_state(hours, at(date(2025, 9, 27), time(10, 0)), SHANGHAI) is BusinessState.OPEN
