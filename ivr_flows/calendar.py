"""Is the hotline staffed at this moment? Pure: settings and a moment in, an answer out.

Holidays and make-up working days (调休) follow the State Council's yearly notice, so they are
listed dates in settings rather than rules: a weekend listed as a make-up day is a working day,
and a weekday listed as a holiday is not.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from enum import StrEnum

from hotline.settings import BusinessHoursSettings


class BusinessState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


def business_state(hours: BusinessHoursSettings, moment: datetime, zone: tzinfo) -> BusinessState:
    """The state at ``moment`` (any aware datetime) by the clock and calendar of ``zone``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive time would be read in the server's zone, which need not be the hotline's.
        raise ValueError("business_state needs an aware datetime")
    if hours.always_open:
        return BusinessState.OPEN
    local = moment.astimezone(zone)
    day = local.date()
    # A date listed as both is a settings mistake; holiday wins, since nobody may be on shift.
    if day in hours.holidays:
        return BusinessState.HOLIDAY
    working_day = day in hours.workdays or local.isoweekday() in hours.weekdays
    if working_day and hours.open_at <= local.time() < hours.close_at:
        return BusinessState.OPEN
    return BusinessState.CLOSED
