"""Database engine and the one-transaction-per-unit-of-work boundary.

Services receive a Session and never commit: the request, the AMI event or the task that called
them commits (``unit_of_work``), so a failure half-way leaves nothing half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Constraint names fixed by convention so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger("hotline.db")
_AFTER_COMMIT = "hotline_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once this session's transaction has committed; drop it on rollback.

    For work about rows that must exist first, e.g. a job queued for a recording: a worker that
    picked the job up before the commit would not find the row.
    """
    waiting = session.info.setdefault(_AFTER_COMMIT, [])
    if callback not in waiting:  # the same function twice in one transaction runs once
        waiting.append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the commit stands; whatever the callback did is retried by sweepers
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


# A unit of work that will write says so up front (``unit_of_work(writes=True)``): on SQLite its
# transaction then starts with BEGIN IMMEDIATE, taking the write lock at once and waiting for it
# (the busy timeout) when another writer holds it. A transaction begun before it writes (a
# SAVEPOINT begins one) that reads and then writes cannot wait: if another writer committed
# meanwhile, SQLite refuses the upgrade at once with "database is locked", whatever the timeout.
WRITES = "hotline_writes"

# Session.info key: how a service reaches Database.apart from the session it was given.
APART = "hotline_apart"


# Connections each process keeps (POOL_SIZE) and may open beyond them under load (POOL_OVERFLOW).
# The web admits at most their sum of requests to the database at once (agents_ui.db_admission).
POOL_SIZE = 10
POOL_OVERFLOW = 10


def keep_now(session: Session) -> None:
    """Commit what the unit of work has done so far; the unit goes on in a new transaction.

    For a step that leaves the database and that others act on at once (the seat service freeing
    a seat whose call outcome was just recorded): what they will look for must be there first.
    The unit's end still commits the rest, or rolls back only what came after this."""
    session.commit()


def make_engine(url: str) -> Engine:
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    if url.startswith("sqlite"):
        if make_url(url).database in (None, "", ":memory:"):
            pool = {}  # one in-memory database per connection: SQLAlchemy keeps one per thread
        engine = create_engine(url, connect_args={"timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the web server read while the telephony process writes call rows.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Otherwise the driver begins by itself at the first write (its legacy mode, kept:
            # reads before that write see the newest data, so they never hold a stale snapshot).
            if conn.get_execution_options().get(WRITES):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


class Database:
    """Engine plus session factory for one process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={APART: self.apart})
        self.connections = POOL_SIZE + POOL_OVERFLOW
        self._sqlite = url.startswith("sqlite")
        self._apart: Engine | None = None

    def apart(self) -> Engine | None:
        """PostgreSQL: a few connections of their own for a short step committed apart from the
        unit of work that asks for it (a case's number: see case_bridge.numbers), so its lock
        is held for that step only, not for the whole unit. None on SQLite, which has one
        writer at a time: a second connection would wait for the unit's own lock."""
        if self._sqlite:
            return None
        if self._apart is None:
            self._apart = create_engine(self.url, pool_pre_ping=True, pool_size=1, max_overflow=4)
        return self._apart

    @contextmanager
    def unit_of_work(self, *, writes: bool = False) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception.

        ``writes``: the unit means to write; it takes SQLite's write lock before its first read
        (see WRITES). Units that only read, or rarely write, leave it off so they never queue
        behind writers.
        """
        session = self.sessions()
        try:
            if writes and self._sqlite:
                session.connection(execution_options={WRITES: True})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._apart is not None:
            self._apart.dispose()
