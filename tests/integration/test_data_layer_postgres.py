"""The data layer on a real PostgreSQL server: migrations, the call tracker, the unit of work.

SQLite is the embedded default and the unit tests run on it; this module runs the same code on a
PostgreSQL cluster started for the session (tests/servers.py), where column lengths, time zones,
unique keys and concurrent transactions are enforced for real. Tracker scenarios are played on
both databases and must leave the same rows. The session's Redis server is started here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.pool import NullPool

from hotline.db import Database, UtcDateTime
from hotline.migrate import alembic_config, include_name, upgrade
from hotline.models import Base
from recording.models import Recording
from recording.service import register_voicemail
from telephony.call_tracker import CallTracker
from telephony.models import Call, Disposition
from tests import servers
from tests.unit.test_call_tracker import NODE, Caller, feed, open_row, rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMES = ("started_at", "answered_at", "queued_at", "agent_connected_at", "ended_at")


# ----- servers and databases -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[servers.PostgresServer]:
    with servers.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.RedisServer]:
    with servers.redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(postgres: servers.PostgresServer) -> str:
    """A database with every migration applied; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    upgrade(postgres.create_database("hotline_template"))
    return "hotline_template"


@pytest.fixture
def pg_db(postgres: servers.PostgresServer, pg_template: str) -> Iterator[Database]:
    database = Database(postgres.create_database(template=pg_template))
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def schema_diff(url: str) -> list[Any]:
    """What alembic autogenerate would still write: empty when migrations and models agree."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "compare_server_default": True, "include_name": include_name},
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def revisions(url: str) -> tuple[set[str], set[str]]:
    """(revisions the database is at, heads of the migration scripts)."""
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads()), heads
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# ----- migrations ----------------------------------------------------------------------------------


def test_given_an_empty_database_when_upgraded_twice_then_it_is_at_head_and_matches_the_models(
    postgres: servers.PostgresServer,
) -> None:
    url = postgres.create_database()

    upgrade(url)
    upgrade(url)  # nothing left to apply: a no-op, not an error

    current, heads = revisions(url)
    assert current == heads
    assert heads
    assert table_names(url) == {"alembic_version", *Base.metadata.tables}
    assert schema_diff(url) == []


def test_given_every_timestamp_column_on_postgres_then_it_is_stored_with_its_time_zone(
    postgres: servers.PostgresServer, pg_template: str
) -> None:
    engine = create_engine(postgres.url(pg_template), poolclass=NullPool)
    with engine.connect() as conn:
        types: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'"
                )
            ).all()
        )
    engine.dispose()

    expected = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, UtcDateTime)
    }
    assert set(types) == expected
    assert set(types.values()) == {"timestamp with time zone"}


def test_given_a_migrated_database_when_downgraded_to_base_and_upgraded_then_the_schema_comes_back(
    postgres: servers.PostgresServer,
) -> None:
    url = postgres.create_database()
    upgrade(url)

    command.downgrade(alembic_config(url), "base")
    assert table_names(url) == {"alembic_version"}
    assert revisions(url)[0] == set()

    upgrade(url)
    current, heads = revisions(url)
    assert current == heads
    assert schema_diff(url) == []


# ----- the call tracker: the same events leave the same rows on PostgreSQL as on SQLite ------------

Play = Callable[[CallTracker, Database, Path], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    play: Play
    expect: dict[str, dict[str, object]]  # uniqueid -> columns that must have these values
    recordings: tuple[tuple[object, ...], ...] = ()  # as snapshot() gives them


@contextlib.asynccontextmanager
async def tracking(db: Database) -> AsyncIterator[CallTracker]:
    tracker = CallTracker(db, node=NODE)
    worker = asyncio.create_task(tracker.run())
    try:
        yield tracker
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        tracker.close()


def snapshot(db: Database) -> dict[str, Any]:
    """Every call and recording row, minus ids, paths of this run and the instants (set or not)."""
    calls: dict[str, dict[str, object]] = {}
    for call in rows(db):
        facts = {attr.key: getattr(call, attr.key) for attr in inspect(Call).column_attrs if attr.key != "id"}
        calls[call.uniqueid] = {**facts, **{key: facts[key] is not None for key in TIMES}}
    with db.unit_of_work() as session:
        found = session.scalars(select(Recording).order_by(Recording.id)).all()
    assert all(r.created_at.tzinfo is UTC for r in found)
    recordings = tuple((r.kind, r.call_uniqueid, Path(r.path).name, r.format, r.size_bytes) for r in found)
    return {"calls": calls, "recordings": recordings}


CITIZEN, HOSTILE, LIVE = Caller(), Caller("1732178400.3"), Caller("1732178400.5", channel="PJSIP/carrier-5")
OTHER = Caller("1732178400.7", channel="PJSIP/carrier-00000007")
HOSTILE_NUMBER = "1381234'); DROP TABLE calls;-- %s %(n)s \\ \x1b[31m ${SHELL(id)} " + "9" * 100
HOSTILE_NAME = "张三\"' OR 1=1 -- <script>😀" + "名" * 200
FULL_VARIABLES = {
    "HOTLINE_TRUNK": "carrier",
    "HOTLINE_IVR_PATH": "greeting,queue",
    "HOTLINE_ROUTE": "queue",
    "HOTLINE_QUEUE": "main",
    "HOTLINE_FLOW_DONE": "1",
}


async def answered(tracker: CallTracker, db: Database, work: Path) -> None:
    c = CITIZEN
    await feed(
        tracker,
        c.new_channel(),
        c.ringing(),
        c.answered(),
        c.enters("AGI", "agi://127.0.0.1:4573/hotline"),
        c.enters("Queue", "main"),
        c.joins_queue(),
        c.agent_connects(),
        c.hangup(FULL_VARIABLES),
    )


async def abandoned(tracker: CallTracker, db: Database, work: Path) -> None:
    c = CITIZEN
    await feed(
        tracker,
        c.new_channel(),
        c.answered(),
        c.enters("AGI"),
        c.enters("Queue", "main"),
        c.joins_queue(),
        c.abandons_queue(),
        c.hangup({"HOTLINE_IVR_PATH": "greeting,queue", "HOTLINE_ROUTE": "queue"}),
    )


async def overflow(tracker: CallTracker, db: Database, work: Path) -> None:
    # capacity-full in the dialplan: Busy() without answering, then Hangup(17).
    c = CITIZEN
    full = {"HOTLINE_OVERFLOW": "capacity", "HOTLINE_TRUNK": "carrier"}
    await feed(tracker, c.new_channel(), c.ringing(), c.enters("Busy", "5"), c.hangup(full, cause="17"))


def recorded_message(path: Path) -> Path:
    """The file the voicemail step leaves behind (44 bytes: the size the row must record)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + bytes(40))
    return path


async def voicemail(tracker: CallTracker, db: Database, work: Path) -> None:
    c = CITIZEN
    await feed(tracker, c.new_channel(), OTHER.new_channel(), c.answered(), OTHER.answered(), c.enters("AGI"))
    message = recorded_message(work / f"{c.uniqueid}.wav")
    for _ in range(2):  # as the AGI server does it; a second registration of the same file is a no-op
        with db.unit_of_work() as session:
            register_voicemail(
                session, call_uniqueid=c.uniqueid, path=str(message.with_suffix("")), fmt="wav"
            )
    await feed(
        tracker,
        c.hangup({"HOTLINE_IVR_PATH": "after_hours,voicemail", "HOTLINE_ROUTE": "hangup"}),
        OTHER.hangup({"HOTLINE_IVR_PATH": "greeting"}),
    )


async def hostile_caller_id(tracker: CallTracker, db: Database, work: Path) -> None:
    c = Caller(HOSTILE.uniqueid, number=HOSTILE_NUMBER, name=HOSTILE_NAME)
    await feed(tracker, c.new_channel(), c.hangup())


async def rebuilt(tracker: CallTracker, db: Database, work: Path) -> None:
    open_row(db, "1732170000.1")
    open_row(db, "1732170000.2", node="media2")
    tracker.rebuild([LIVE.live(application="Queue", duration="00:01:05")], known_before=set())
    await asyncio.wait_for(tracker.drain(), 5)


SCENARIOS = [
    Scenario(
        "answered",
        answered,
        {
            CITIZEN.uniqueid: {
                "disposition": Disposition.ANSWERED,
                "channel": CITIZEN.channel,
                "caller_number": "13812345678",
                "called_number": "12345",
                "trunk": "carrier",
                "queue": "main",
                "agent": "seat2001",
                "ivr_path": "greeting,queue",
                "route": "queue",
                "hangup_cause": "Normal Clearing",
                **dict.fromkeys(TIMES, True),
            }
        },
    ),
    Scenario(
        "abandoned",
        abandoned,
        {
            CITIZEN.uniqueid: {
                "disposition": Disposition.ABANDONED,
                "queue": "main",
                "agent_connected_at": False,
            }
        },
    ),
    Scenario(
        "overflow",
        overflow,
        {
            CITIZEN.uniqueid: {
                "disposition": Disposition.OVERFLOW,
                "answered_at": False,
                "hangup_cause": "User busy",
            }
        },
    ),
    Scenario(
        "voicemail",
        voicemail,
        {
            CITIZEN.uniqueid: {"disposition": Disposition.VOICEMAIL, "ivr_path": "after_hours,voicemail"},
            OTHER.uniqueid: {"disposition": Disposition.IVR_ONLY, "ivr_path": "greeting"},
        },
        recordings=(("voicemail", CITIZEN.uniqueid, CITIZEN.uniqueid, "wav", 44),),
    ),
    Scenario(
        "hostile_caller_id",
        hostile_caller_id,
        {
            HOSTILE.uniqueid: {
                "caller_number": HOSTILE_NUMBER[:64],
                "caller_name": HOSTILE_NAME[:128],
                "disposition": Disposition.FAILED,
            }
        },
    ),
    Scenario(
        "rebuild",
        rebuilt,
        {
            "1732170000.1": {"disposition": Disposition.ABNORMAL, "ended_at": True},
            "1732170000.2": {"disposition": Disposition.IN_PROGRESS, "ended_at": False, "node": "media2"},
            LIVE.uniqueid: {
                "disposition": Disposition.IN_PROGRESS,
                "ended_at": False,
                "channel": LIVE.channel,
            },
        },
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_given_ami_events_when_tracked_on_postgres_then_the_rows_are_those_sqlite_gets(
    scenario: Scenario, pg_db: Database, sqlite_db: Database, tmp_path: Path
) -> None:
    async with tracking(pg_db) as tracker:
        await scenario.play(tracker, pg_db, tmp_path / "postgresql")
    async with tracking(sqlite_db) as tracker:
        await scenario.play(tracker, sqlite_db, tmp_path / "sqlite")

    on_postgres = snapshot(pg_db)
    assert on_postgres == snapshot(sqlite_db)
    calls = on_postgres["calls"]
    assert set(calls) == set(scenario.expect)
    assert on_postgres["recordings"] == scenario.recordings
    for uniqueid, want in scenario.expect.items():
        assert {key: calls[uniqueid][key] for key in want} == want, uniqueid
    for call in rows(pg_db):
        instants = [getattr(call, key) for key in TIMES if getattr(call, key) is not None]
        assert all(t.tzinfo is UTC for t in instants), call.uniqueid
        assert instants == sorted(instants), call.uniqueid


def test_given_an_instant_in_another_zone_when_stored_on_postgres_then_it_reads_back_as_the_same_utc_instant(
    pg_db: Database,
) -> None:
    local = datetime(2026, 11, 21, 8, 30, 15, 123456, tzinfo=SHANGHAI)
    with pg_db.unit_of_work() as session:
        session.add(Call(uniqueid="1732178400.1", linkedid="1732178400.1", channel="c", started_at=local))

    with pg_db.unit_of_work() as session:
        started = session.scalars(select(Call.started_at)).one()
        # The server's own zone is Asia/Shanghai (tests/servers.py): the column holds the instant.
        in_utc = session.scalar(text("SELECT started_at AT TIME ZONE 'UTC' FROM calls"))
    assert started == local
    assert started.tzinfo is UTC
    assert started.hour == 0
    assert in_utc == datetime(2026, 11, 21, 0, 30, 15, 123456)

    with pytest.raises(StatementError, match="naive datetime"), pg_db.unit_of_work() as session:
        session.add(Call(uniqueid="1732178400.2", linkedid="x", channel="c", started_at=datetime(2026, 1, 1)))
    assert len(rows(pg_db)) == 1


# ----- the unit of work ----------------------------------------------------------------------------


def new_call(uniqueid: str, channel: str = "PJSIP/carrier-00000001") -> Call:
    return Call(uniqueid=uniqueid, linkedid=uniqueid, channel=channel, started_at=datetime.now(UTC))


def test_given_an_exception_inside_a_unit_of_work_when_it_ends_then_nothing_it_wrote_is_left(
    pg_db: Database,
) -> None:
    with pytest.raises(RuntimeError, match="half-way"), pg_db.unit_of_work() as session:
        session.add(new_call("1732178400.1"))
        session.flush()  # the INSERT has reached the server: only the rollback can take it back
        raise RuntimeError("failed half-way")

    assert rows(pg_db) == []


def wait_for_lock_waiter(db: Database, timeout: float = 10.0) -> None:
    """Until some session of this database is blocked on a lock (the second INSERT)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        while not conn.execute(query).scalar():
            assert time.monotonic() < deadline, "the second INSERT never waited for the first"
            time.sleep(0.02)
            conn.rollback()  # a fresh snapshot of pg_stat_activity


def test_given_two_concurrent_units_of_work_inserting_one_uniqueid_then_one_row_stays_and_the_other_fails(
    pg_db: Database,
) -> None:
    uniqueid = "1732178400.1"
    first_inserted, first_may_commit = threading.Event(), threading.Event()

    def first() -> None:
        with pg_db.unit_of_work() as session:
            session.add(new_call(uniqueid, "PJSIP/carrier-00000001"))
            session.flush()
            first_inserted.set()
            if not first_may_commit.wait(10):
                raise TimeoutError("never released")

    def second() -> None:
        if not first_inserted.wait(10):
            raise TimeoutError("the first INSERT never happened")
        with pg_db.unit_of_work() as session:
            session.add(new_call(uniqueid, "PJSIP/carrier-00000002"))
            session.flush()  # blocks on the first transaction's uncommitted key until it commits

    with ThreadPoolExecutor(max_workers=2) as pool:
        done_first, done_second = pool.submit(first), pool.submit(second)
        try:
            wait_for_lock_waiter(pg_db)  # both transactions are open at once
        finally:
            first_may_commit.set()
        done_first.result(10)
        with pytest.raises(IntegrityError) as failed:
            done_second.result(10)

    assert isinstance(failed.value.orig, psycopg.errors.UniqueViolation)
    assert [(c.uniqueid, c.channel) for c in rows(pg_db)] == [(uniqueid, "PJSIP/carrier-00000001")]


# ----- Redis ---------------------------------------------------------------------------------------


def test_given_the_session_redis_when_pinged_then_it_answers(redis_server: servers.RedisServer) -> None:
    client = redis_server.client()
    try:
        assert client.ping() is True
        client.set("hotline:test", "1", ex=timedelta(seconds=30))
        assert client.get("hotline:test") == b"1"
    finally:
        client.close()
