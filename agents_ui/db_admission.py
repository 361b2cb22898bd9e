"""Who may use the database now: requests are let in on the event loop, before they take a thread.

Two waits, both on the event loop, where waiting holds no worker thread:

- **Admission.** At most as many requests at once as the process has database connections
  (``Database.connections``). FastAPI runs each blocking step of a request on a thread pool of 40,
  and a request also needs a thread after its route (to check its answer) while it still holds
  its transaction. Let in unbounded, at 100 cases/s on PostgreSQL every pooled thread ended up
  waiting (for a connection, or for the row lock of the day's case counter) while the one
  request holding that lock waited for a thread: nothing moved until the 30 s timeouts. Admitted
  here, the waiting happens before any thread or connection is taken.
- **SQLite's write turn.** SQLite lets one writer in at a time, and its own way of making others
  wait (the busy handler) polls with sleeps growing to 100 ms, so a waiter is overtaken by
  newcomers again and again (filing cases at 60/s, some waited 1-2.5 s). A request that may write
  waits for its turn in order, behind this process's other writers, then for an exclusive
  ``flock`` of a file beside the database, which the kernel hands to the next web process without
  polling. PostgreSQL locks rows, not the database: no turns there.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
from sqlalchemy.engine import make_url

# As long as SQLite's own busy timeout and the connection pool's (hotline.db): no way in by then
# is a fault, not a queue.
WAIT_SECONDS = 30.0


class DatabaseBusy(RuntimeError):
    """No way in within WAIT_SECONDS."""


def turn_file_of(database_url: str) -> Path | None:
    """``<database>-writers`` for a SQLite file; None for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return path.with_name(path.name + "-writers")


class DatabaseAdmission:
    """One per web process."""

    def __init__(self, connections: int, turn_file: Path | None) -> None:
        self._connections = connections
        self._turn_file = turn_file
        self._fd: int | None = None
        # Made on first use, inside the event loop.
        self._admitted: anyio.Semaphore | None = None
        self._writer: anyio.Lock | None = None
        self._flock_thread = anyio.CapacityLimiter(1)  # only the head of the writers' line waits there

    @asynccontextmanager
    async def enter(self, *, writes: bool) -> AsyncIterator[None]:
        if self._admitted is None or self._writer is None:
            self._admitted = anyio.Semaphore(self._connections, fast_acquire=True)
            self._writer = anyio.Lock(fast_acquire=True)
        async with AsyncExitStack() as held:
            with anyio.move_on_after(WAIT_SECONDS) as waited:
                await held.enter_async_context(self._admitted)
                if writes and self._turn_file is not None:
                    await held.enter_async_context(self._writer)
                    await self._lock_file()
                    held.callback(self._unlock_file)
            if waited.cancelled_caught:
                raise DatabaseBusy(f"no way in to the database in {WAIT_SECONDS:.0f} s")
            yield

    async def _lock_file(self) -> None:
        # Shielded: a request given up while it waits here must still come back to unlock.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._flock, limiter=self._flock_thread)

    def _flock(self) -> None:
        if self._fd is None:
            assert self._turn_file is not None
            self._fd = os.open(self._turn_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def _unlock_file(self) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
