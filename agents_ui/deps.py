"""What every route needs, handed over by FastAPI dependencies (no module-level globals to patch)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from agents_ui.db_admission import DatabaseAdmission
from hotline.db import Database
from hotline.settings import Settings

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _nav_links(*args: Any) -> Any:
    # Imported when a page is drawn: agents_ui.nav needs the permissions module, which needs this one.
    from agents_ui.nav import nav_links

    return nav_links(*args)


templates.env.globals["nav_links"] = _nav_links  # every page's header (_nav_links.html)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


# Methods that change nothing: exempt from the CSRF check (accounts.permissions), and not writers
# to the database (a GET may still touch its login's last-seen time, rarely).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_database(request: Request) -> Database:
    # async: no thread-pool hop for what is already at hand (see permissions.require)
    return database_of(request)


async def admitted(request: Request) -> AsyncIterator[None]:
    """The request's way in to the database, waited for on the event loop (agents_ui.db_admission)."""
    admission: DatabaseAdmission = request.app.state.db_admission
    async with admission.enter(writes=request.method not in SAFE_METHODS):
        yield


def get_session(
    request: Request, _admitted: Annotated[None, Depends(admitted, scope="function")]
) -> Iterator[Session]:
    """One request, one transaction: committed when the route returns, rolled back if it raises.

    Routes take it as ``DbSession`` (below), which asks for it with ``scope="function"``. In
    FastAPI's default scope the code
    after ``yield`` (the commit) runs once the response has been sent: a browser that follows a
    login's redirect at once can then arrive before its session row exists, and is sent back to
    the login page; a client that reads what it just wrote can miss it.
    """
    with database_of(request).unit_of_work(writes=request.method not in SAFE_METHODS) as session:
        yield session


# A route's database session, committed before its response is sent (see get_session).
DbSession = Annotated[Session, Depends(get_session, scope="function")]
