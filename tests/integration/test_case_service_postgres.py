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
    assert sorted([*distinct, same_key[0]]) == [f"2026091800{n:03d}" for n in range(1, 18)]
    assert len(set(same_key)) == 1
    with case_db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 17
