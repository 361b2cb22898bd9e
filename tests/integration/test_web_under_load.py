"""Many agents filing at once, through a real uvicorn, on SQLite and on PostgreSQL.

Twice the web's worker threads of concurrent filings: on PostgreSQL they all queue on the row lock
of the day's case counter, and before agents_ui.db_admission they filled every worker thread
while the request holding that lock waited for a thread (nothing moved until the pool's 30 s
timeout). On SQLite they all want the one write lock, and a transaction that read before it wrote
was refused at once ("database is locked") before writers began with BEGIN IMMEDIATE."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from agents_ui.accounts import sessions
from agents_ui.accounts.models import User
from agents_ui.accounts.permissions import COOKIE
from case_bridge.models import Case
from hotline.migrate import upgrade
from tests.integration.test_data_layer_postgres import pg_template, postgres
from tests.integration.web_alone import serving
from tests.unit.test_cases_api import STREET_LIGHT, Site, build_site

__all__ = ["pg_template", "postgres"]  # fixtures, used by name

FILINGS = 80  # the thread pool has 40 workers


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline.db'}"
        upgrade(url)
    else:
        server = request.getfixturevalue("postgres")
        url = server.create_database(template=request.getfixturevalue("pg_template"))
    built = build_site(tmp_path, url)
    yield built
    built.db.dispose()


def cookie_of(site: Site, username: str) -> str:
    with site.db.unit_of_work() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return sessions.start(session, user=user, source_ip="load-test")


async def file_at_once(base: str, cookie: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    headers = {"Origin": base, "Cookie": f"{COOKIE}={cookie}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=90.0) as client:
        return await asyncio.gather(
            *(
                client.post(
                    "/api/cases",
                    json={**STREET_LIGHT, "title": f"路灯不亮 {n}"},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                for n in range(count)
            )
        )


def test_given_twice_the_worker_threads_of_agents_filing_at_once_then_every_case_is_filed_once(
    site: Site,
) -> None:
    cookie = cookie_of(site, "li.agent")
    with serving(site.app) as base:
        replies = asyncio.run(file_at_once(base, cookie, FILINGS))

    refused = [(r.status_code, r.text[:200]) for r in replies if r.status_code != 201]
    assert refused == []
    numbers = {r.json()["number"] for r in replies}
    assert len(numbers) == FILINGS
    with site.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == FILINGS
