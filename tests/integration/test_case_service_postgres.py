"""The case use cases on PostgreSQL: every test of tests/unit/test_case_service.py, run against a
real server (row locks on the number counter, savepoints for idempotent creation, the timers'
queries). Only ``case_db`` changes: a fresh copy of the migrated PostgreSQL template per test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hotline.db import Database
from hotline.settings import Settings
from tests import servers
from tests.integration.test_data_layer_postgres import pg_template, postgres
from tests.unit import test_case_service as on_sqlite
from tests.unit.test_case_service import session, settings

__all__ = ["pg_template", "postgres", "session", "settings"]  # fixtures, used by name

globals().update({name: getattr(on_sqlite, name) for name in dir(on_sqlite) if name.startswith("test_")})


@pytest.fixture
def case_db(postgres: servers.PostgresServer, pg_template: str) -> Iterator[Database]:
    database = Database(postgres.create_database(template=pg_template))
    yield database
    database.dispose()


def test_given_concurrent_filings_on_postgres_then_numbers_are_unique_and_one_key_makes_one_case(
    case_db: Database, settings: Settings
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func, select

    from case_bridge import catalogue, service
    from case_bridge.models import Case

    with case_db.unit_of_work() as first:
        catalogue.seed_defaults(first)

    def file(key: str | None) -> str:
        with case_db.unit_of_work() as s:
            case, _ = service.create_case(
                s,
                on_sqlite.new_case(idempotency_key=key),
                actor=on_sqlite.AGENT,
                settings=settings,
                now=on_sqlite.T0,
            )
            return case.number

    with ThreadPoolExecutor(max_workers=8) as pool:
        distinct = list(pool.map(file, [None] * 16))
        same_key = list(pool.map(file, ["retry-1"] * 8))
    # The 16 distinct filings were not raced by a same-key one: their numbers run without gaps.
    assert sorted(distinct) == [f"2026091800{n:03d}" for n in range(1, 17)]
    # Same-key filings racing each other may each take a number before one wins (PostgreSQL
    # numbers are taken apart from the filing: case_bridge.numbers): one case, a later number.
    assert len(set(same_key)) == 1
    assert same_key[0].startswith("20260918") and same_key[0] > max(distinct)
    with case_db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 17


def test_given_a_filing_still_open_on_postgres_when_another_is_filed_then_it_does_not_wait_for_the_first(
    case_db: Database, settings: Settings
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from case_bridge import catalogue, service

    with case_db.unit_of_work() as first:
        catalogue.seed_defaults(first)

    def file() -> str:
        with case_db.unit_of_work() as s:
            case, _ = service.create_case(
                s, on_sqlite.new_case(), actor=on_sqlite.AGENT, settings=settings, now=on_sqlite.T0
            )
            return case.number

    with case_db.unit_of_work() as slow, ThreadPoolExecutor(max_workers=1) as pool:
        held, _ = service.create_case(
            slow, on_sqlite.new_case(), actor=on_sqlite.AGENT, settings=settings, now=on_sqlite.T0
        )
        # The first filing's transaction is still open: its number was taken and committed apart,
        # so the day's counter is free for the next filing.
        assert pool.submit(file).result(timeout=20) == "2026091800002"
        assert held.number == "2026091800001"
