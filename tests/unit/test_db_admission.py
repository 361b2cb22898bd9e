"""The web's way in to the database (agents_ui.db_admission): admission bounded by the pool, SQLite
writers one at a time across threads and processes, a clear refusal when no way in comes."""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from agents_ui import db_admission
from agents_ui.db_admission import DatabaseAdmission, DatabaseBusy, turn_file_of


def test_given_database_urls_then_only_a_sqlite_file_has_a_turn_file(tmp_path: Path) -> None:
    assert turn_file_of(f"sqlite:///{tmp_path}/hotline.db") == tmp_path / "hotline.db-writers"
    assert turn_file_of("sqlite://") is None
    assert turn_file_of("sqlite:///:memory:") is None
    assert turn_file_of("postgresql+psycopg://u:p@127.0.0.1/hotline") is None


class Inside:
    """How many requests are inside at once, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.order: list[int] = []

    async def stay(self, admission: DatabaseAdmission, writes: bool, n: int) -> None:
        async with admission.enter(writes=writes):
            self.order.append(n)
            self.now += 1
            self.most = max(self.most, self.now)
            await asyncio.sleep(0.01)
            self.now -= 1


async def test_given_more_requests_than_connections_then_no_more_than_the_connections_are_inside() -> None:
    admission, inside = DatabaseAdmission(3, None), Inside()
    await asyncio.gather(*(inside.stay(admission, True, n) for n in range(12)))
    assert inside.most == 3
    assert len(inside.order) == 12


async def test_given_sqlite_writers_then_one_at_a_time_in_the_order_they_came(tmp_path: Path) -> None:
    admission, inside = DatabaseAdmission(10, tmp_path / "hotline.db-writers"), Inside()
    await asyncio.gather(*(inside.stay(admission, True, n) for n in range(8)))
    assert inside.most == 1
    assert inside.order == list(range(8))


async def test_given_sqlite_readers_then_they_do_not_wait_for_turns(tmp_path: Path) -> None:
    admission, inside = DatabaseAdmission(10, tmp_path / "hotline.db-writers"), Inside()
    await asyncio.gather(*(inside.stay(admission, False, n) for n in range(8)))
    assert inside.most == 8


def _hold_turn(turn_file: str, held: Any, release: Any) -> None:
    fd = os.open(turn_file, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    held.set()
    release.wait(30)
    fcntl.flock(fd, fcntl.LOCK_UN)


async def test_given_another_web_process_writing_then_this_one_waits_until_it_is_done(tmp_path: Path) -> None:
    turn_file = tmp_path / "hotline.db-writers"
    spawn = multiprocessing.get_context("spawn")
    held, release = spawn.Event(), spawn.Event()
    other = spawn.Process(target=_hold_turn, args=(str(turn_file), held, release))
    other.start()
    try:
        assert await asyncio.to_thread(held.wait, 30)
        admission = DatabaseAdmission(10, turn_file)
        entered = asyncio.Event()

        async def write() -> None:
            async with admission.enter(writes=True):
                entered.set()

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not entered.is_set()  # the other process still writes
        release.set()
        await asyncio.wait_for(writer, 10)
        assert entered.is_set()
    finally:
        release.set()
        other.join(10)


async def test_given_no_way_in_within_the_wait_then_database_busy_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(db_admission, "WAIT_SECONDS", 0.2)
    admission = DatabaseAdmission(1, tmp_path / "hotline.db-writers")
    leave = asyncio.Event()

    async def hold() -> None:
        async with admission.enter(writes=True):
            await leave.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    with pytest.raises(DatabaseBusy, match="no way in"):
        async with admission.enter(writes=True):
            pass
    leave.set()
    await holder
    async with admission.enter(writes=True):  # the refused one took nothing with it
        pass
