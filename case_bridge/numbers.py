"""Case numbers: the local date and the count of the day, digits only (20261121 00042).

Digits only because a caller keys the number on the phone to hear the case's status. The count
comes from a counter row per day, incremented with UPDATE … RETURNING: the row lock makes two
transactions wait for each other instead of taking the same number, on PostgreSQL and SQLite.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from case_bridge.models import CaseNumberCounter

NUMBER_PATTERN = re.compile(r"^[0-9]{13,14}$")


def next_case_number(session: Session, moment: datetime, zone: tzinfo) -> str:
    day = moment.astimezone(zone).date()
    key = day.strftime("%Y%m%d")
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(CaseNumberCounter).values(day=key, last=0).on_conflict_do_nothing())
    count = session.execute(
        update(CaseNumberCounter)
        .where(CaseNumberCounter.day == key)
        .values(last=CaseNumberCounter.last + 1)
        .returning(CaseNumberCounter.last)
    ).scalar_one()
    # Five digits hold 99,999 cases a day; a busier day gets six rather than failing.
    return f"{key}{count:05d}"


def looks_like_case_number(text: str) -> bool:
    """Shape only: 8 date digits, then 5 or 6 of the day's count, and a real date."""
    if not NUMBER_PATTERN.match(text):
        return False
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return True
