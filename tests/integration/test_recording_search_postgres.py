"""The recordings search on PostgreSQL: every test of tests/unit/test_recording_search.py, run
against a real server (phraseto_tsquery on the GIN-indexed tsvector instead of SQLite's FTS5).

Only ``search_db`` changes: here it is a fresh copy of the migrated PostgreSQL template per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from hotline.db import Database
from tests import servers
from tests.integration.test_data_layer_postgres import pg_template, postgres
from tests.unit import test_recording_search as on_sqlite
from tests.unit.test_recording_search import T0, add_recorded_call, find, numbers, spoken

__all__ = ["numbers", "pg_template", "postgres", "spoken"]  # fixtures, used by name

# The same tests, collected again in this module, where search_db is PostgreSQL.
globals().update({name: getattr(on_sqlite, name) for name in dir(on_sqlite) if name.startswith("test_")})


@pytest.fixture
def search_db(postgres: servers.PostgresServer, pg_template: str) -> Iterator[Database]:
    database = Database(postgres.create_database(template=pg_template))
    yield database
    database.dispose()


def test_given_a_words_search_on_postgres_then_its_queries_can_use_the_gin_index(search_db: Database) -> None:
    with search_db.unit_of_work() as session:
        add_recorded_call(session, "9.1", T0)
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "tsquery" in statement:
            sent.append((statement, parameters))

    event.listen(search_db.engine, "before_cursor_execute", keep)
    try:
        assert find(search_db, words="路灯").rows == []
    finally:
        event.remove(search_db.engine, "before_cursor_execute", keep)
    # The count of transcripts holding the words, then the search itself, matches first (few).
    assert [("plainto_tsquery" in s, "phraseto_tsquery" in s) for s, _ in sent] == [
        (True, False),
        (False, True),
    ]
    # Their expressions must be the migration's index expression, or PostgreSQL could only read
    # every transcript. Sequential scans are priced out to show that it can use the index.
    with search_db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in sent:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "ix_transcripts_search" in plan, plan
