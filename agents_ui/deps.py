"""What every route needs, handed over by FastAPI dependencies (no module-level globals to patch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from hotline.db import Database
from hotline.settings import Settings

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _nav_links(*args: Any) -> Any:
    # Imported when a page is drawn: agents_ui.nav needs the permissions module, which needs this one.
    from agents_ui.nav import nav_links

    return nav_links(*args)


templates.env.globals["nav_links"] = _nav_links  # every page's header (_nav_links.html)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    """One request, one transaction: committed when the route returns, rolled back if it raises.

    Routes take it as ``DbSession`` (below), which asks for it with ``scope="function"``. In
    FastAPI's default scope the code
    after ``yield`` (the commit) runs once the response has been sent: a browser that follows a
    login's redirect at once can then arrive before its session row exists, and is sent back to
    the login page; a client that reads what it just wrote can miss it.
    """
    with get_database(request).unit_of_work() as session:
        yield session


# A route's database session, committed before its response is sent (see get_session).
DbSession = Annotated[Session, Depends(get_session, scope="function")]
