"""The case search on PostgreSQL: every test of tests/unit/test_case_search.py, run against a real
server (the GIN-indexed tsvector and position tests instead of SQLite's FTS5, and the fenced
walks), plus the plans PostgreSQL picks for the walks.

Only ``search_db`` changes: here it is a fresh copy of the migrated PostgreSQL template per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from case_bridge.search import CaseFilters
from hotline.db import Database
from tests import servers
from tests.integration.test_data_layer_postgres import pg_template, postgres
from tests.unit import test_case_search as on_sqlite
from tests.unit.test_case_search import NOW, add_case, find, many, seeded, thresholds

__all__ = ["many", "pg_template", "postgres", "seeded", "thresholds"]  # fixtures, used by name

# The same tests, collected again in this module, where search_db is PostgreSQL.
globals().update({name: getattr(on_sqlite, name) for name in dir(on_sqlite) if name.startswith("test_")})


@pytest.fixture
def search_db(postgres: servers.PostgresServer, pg_template: str) -> Iterator[Database]:
    database = Database(postgres.create_database(template=pg_template))
    yield database
    database.dispose()


def plans_of(db: Database, filters: CaseFilters) -> list[str]:
    """The plan of every statement the search sends, as PostgreSQL would run it."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().startswith("SELECT") and "walked" in statement:
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        find(db, filters)
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    plans = []
    with db.engine.connect() as conn:
        for statement, parameters in sent:
            plans.append(
                "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            )
    return plans


def test_given_a_department_and_a_rare_flag_on_postgres_then_the_walk_goes_through_the_departments_index(
    seeded,
):
    with seeded.unit_of_work() as session:
        for n in range(30):
            add_case(session, f"W{n}", NOW - timedelta(hours=n), supervised=n == 29)
        add_case(session, "other", NOW, department="water", category="water_outage")
    plans = plans_of(seeded, CaseFilters(department="city_management", supervised_only=True))

    # The department as a range keeps it in the order only its (department_id, created_at)
    # index gives: PostgreSQL cannot walk ix_cases_created_at instead and read every case.
    assert plans and all("ix_cases_department_created" in plan for plan in plans), plans
    assert numbers_of(find(seeded, CaseFilters(department="city_management", supervised_only=True))) == [
        "W29"
    ]


def numbers_of(page: Any) -> list[str]:
    return [case.number for case in page.cases]
