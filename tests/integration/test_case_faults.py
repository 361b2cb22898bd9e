"""Cases under faults: PostgreSQL restarted (as if it crashed) while cases are being filed.

Clients retry a failed filing with the same idempotency key, as the API tells them to; at the
end every filing is there exactly once: none lost, none doubled, numbers unique.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from case_bridge import catalogue, service
from case_bridge.lifecycle import Party
from case_bridge.models import Case, CaseSource
from case_bridge.timeline import Actor
from hotline.db import Database
from hotline.migrate import upgrade
from hotline.settings import Settings
from tests import servers

FILERS = 4
CASES_EACH = 15
GIVE_UP_AFTER = 60.0  # seconds of retrying one filing: far above a restart's few seconds


@pytest.fixture
def own_postgres() -> Iterator[servers.PostgresServer]:
    """A cluster of its own: restarting the session's server would disturb other tests. Durable,
    as production must be: the suite's other clusters trade durability for speed
    (synchronous_commit off), and with that a crash loses commits a client was told succeeded —
    this test's first run caught exactly that."""
    durable = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    with servers.postgres_server(durable) as server:
        yield server


def file_until_done(db: Database, key: str, settings: Settings, retried: list[str]) -> str:
    """One citizen's case, filed the way a client must: on any failure, again with the same key."""
    deadline = time.monotonic() + GIVE_UP_AFTER
    while True:
        try:
            with db.unit_of_work() as session:
                case, _ = service.create_case(
                    session,
                    service.NewCase(
                        source=CaseSource.WEB,
                        content=f"filing {key}",
                        category_code="rubbish",
                        idempotency_key=key,
                    ),
                    actor=Actor("portal", Party.HOTLINE),
                    settings=settings,
                )
                return case.number
        except DBAPIError:
            retried.append(key)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_given_postgres_restarted_mid_filing_when_clients_retry_with_their_keys_then_none_lost_or_doubled(
    own_postgres: servers.PostgresServer,
) -> None:
    url = own_postgres.create_database("cases_fault")
    upgrade(url)
    db = Database(url)
    settings = Settings()
    with db.unit_of_work() as session:
        catalogue.seed_defaults(session)
    numbers: dict[str, str] = {}
    retried: list[str] = []
    errors: list[BaseException] = []

    def filer(n: int) -> None:
        try:
            for i in range(CASES_EACH):
                key = f"client-{n}:{i}"
                numbers[key] = file_until_done(db, key, settings, retried)
                time.sleep(0.05)
        except BaseException as exc:  # reported below, with the others' results
            errors.append(exc)

    threads = [threading.Thread(target=filer, args=(n,), daemon=True) for n in range(FILERS)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # filings under way
    own_postgres.restart(crash=True)
    for thread in threads:
        thread.join(GIVE_UP_AFTER * 2)
    assert not errors, errors
    assert retried, "the restart hit no filing: the test proved nothing"
    with db.unit_of_work() as session:
        rows = session.execute(select(Case.idempotency_key, Case.number)).all()
        total = session.scalar(select(func.count()).select_from(Case))
    db.dispose()
    assert total == FILERS * CASES_EACH
    assert dict(rows) == numbers  # each key once, with the number its client was finally given
    assert len(set(numbers.values())) == total
