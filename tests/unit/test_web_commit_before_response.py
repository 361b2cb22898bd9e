"""A route's transaction is committed before its response leaves the server.

A client acts on a response at once: a browser follows a login's redirect and its next request
must find the new session; a console reads back the outcome it just recorded. FastAPI runs the
code after a dependency's ``yield`` (``get_session``'s commit) after the response is sent unless
the dependency is asked for with ``scope="function"``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.dependencies.models import Dependant
from sqlalchemy.orm import Session, sessionmaker

from agents_ui.app import create_app
from agents_ui.deps import get_session
from hotline.db import Database
from hotline.settings import DatabaseSettings, Settings, SiteSettings
from tests.unit.accounts_support import PASSWORD, add_user


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(site=SiteSettings(state_dir=tmp_path / "state"), database=DatabaseSettings(url=db_url))


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _tree(sub)


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, also inside included routers (FastAPI keeps those as one route each)."""
    for route in routes:
        yield route
        inner = getattr(route, "original_router", None) or route
        if inner is not route or hasattr(route, "routes"):
            yield from _routes(getattr(inner, "routes", ()))


def test_given_every_route_that_uses_the_database_then_its_session_is_committed_before_the_response(
    settings: Settings,
) -> None:
    app = create_app(settings)
    uses = [
        (getattr(route, "path", "?"), sub.scope)
        for route in _routes(app.routes)
        if isinstance(dependant := getattr(route, "dependant", None), Dependant)
        for sub in _tree(dependant)
        if sub.call is get_session
    ]
    app.state.db.dispose()

    assert len({path for path, _ in uses}) > 10, uses  # the login, the pages, the APIs
    assert [use for use in uses if use[1] != "function"] == []


class SlowCommit(Session):
    """A commit that takes a while (a busy disk, a remote PostgreSQL): the race made visible."""

    def commit(self) -> None:
        time.sleep(0.3)
        super().commit()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_given_a_slow_commit_when_a_client_logs_in_and_asks_at_once_then_the_server_knows_its_session(
    settings: Settings, db: Database
) -> None:
    add_user(db, "li.lei", "agent")
    app = create_app(settings)
    app.state.db.sessions = sessionmaker(app.state.db.engine, class_=SlowCommit, expire_on_commit=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with httpx.Client(base_url=base, headers={"origin": base}, timeout=10) as client:
            login: Any = client.post("/api/session", json={"username": "li.lei", "password": PASSWORD})
            assert login.status_code == 200, login.text
            me = client.get("/api/me")  # at once, as a browser following the login does

        assert me.status_code == 200, me.text
        assert me.json()["username"] == "li.lei"
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.db.dispose()
