"""Case numbers: the local date and the count of the day, digits only (20261121 00042).

Digits only because a caller keys the number on the phone to hear the case's status. The count
comes from a counter row per day, incremented with UPDATE … RETURNING: the row lock makes two
transactions wait for each other instead of taking the same number, on PostgreSQL and SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, tzinfo

from sqlalchemy import Connection, Engine, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from case_bridge.models import CaseNumberCounter
from hotline.db import APART

NUMBER_PATTERN = re.compile(r"^[0-9]{13,14}$")


def next_case_number(session: Session, moment: datetime, zone: tzinfo) -> str:
    """The next number of the day. On PostgreSQL it is taken in a transaction of its own
    (``Database.apart``), committed at once: the counter's row lock is then held for that step
    only, where in the filing's own transaction every other filing waited for the whole rest of
    it (filings were one at a time: ~50 a second). A filing that fails after taking its number
    leaves a gap, as PostgreSQL's own sequences do. On SQLite, with one writer at a time anyway,
    the number is taken in the filing's transaction and the day's numbers have no gaps."""
    day = moment.astimezone(zone).date()
    key = day.strftime("%Y%m%d")
    apart_of: Callable[[], Engine | None] | None = session.info.get(APART)
    apart = apart_of() if apart_of is not None else None
    if apart is None:
        count = _count_up(session.connection(), key)
    else:
        with apart.begin() as connection:
            count = _count_up(connection, key)
    # Five digits hold 99,999 cases a day; a busier day gets six rather than failing.
    return f"{key}{count:05d}"


def _count_up(connection: Connection, key: str) -> int:
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(insert(CaseNumberCounter).values(day=key, last=0).on_conflict_do_nothing())
    count: int = connection.execute(
        update(CaseNumberCounter)
        .where(CaseNumberCounter.day == key)
        .values(last=CaseNumberCounter.last + 1)
        .returning(CaseNumberCounter.last)
    ).scalar_one()
    return count


def looks_like_case_number(text: str) -> bool:
    """Shape only: 8 date digits, then 5 or 6 of the day's count, and a real date."""
    if not NUMBER_PATTERN.match(text):
        return False
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return True
