"""Real PostgreSQL and Redis servers for a test session, started from the installed binaries.

Each server runs from its own throw-away directory, listens only on 127.0.0.1 on a free port, and
is stopped (its directory removed) when the context manager exits, after a failure too. A missing
binary is an error, never a skip: ``scripts/bootstrap.sh test`` installs ``postgresql`` and
``redis-server``. Fixtures wrap these context managers; they hold no pytest state themselves.

PostgreSQL refuses to run as root, so when the suite runs as root the cluster belongs to the
``postgres`` account and initdb/pg_ctl run through ``runuser``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from psycopg import sql

HOST = "127.0.0.1"
PG_ACCOUNT = "postgres"  # OS account that owns the cluster when we are root; also the superuser
PG_ROOT = Path("/usr/lib/postgresql")  # Debian keeps the server binaries off PATH, one dir per major
START_TIMEOUT = 30.0
# Durability buys nothing in a cluster deleted at the end of the session; the zone is not UTC so a
# timestamp that only round-trips because the server happens to run in UTC is caught.
PG_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "timezone": "Asia/Shanghai",
    "max_connections": "40",
}


class ServerUnavailable(RuntimeError):
    """A server the suite needs is not installed or would not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ----- PostgreSQL ----------------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """Newest installed server's bin directory (``pg_ctl`` and ``initdb``), else the one on PATH."""

    def major(path: Path) -> int:
        name = path.parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(PG_ROOT.glob("*/bin/pg_ctl"), key=major, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path))
    for pg_ctl in found:
        if (pg_ctl.parent / "initdb").exists() and (pg_ctl.parent / "postgres").exists():
            return pg_ctl.parent
    raise ServerUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under {PG_ROOT} or on PATH: "
        "install the Debian package `postgresql` (scripts/bootstrap.sh test does)"
    )


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    data_dir: Path
    _numbers: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """Autocommit connection to the maintenance database, for CREATE/DROP DATABASE."""
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); returns its SQLAlchemy URL."""
        name = name or f"test_{next(self._numbers)}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.admin() as conn:
            conn.execute(statement)
        return self.url(name)

    def restart(self, *, crash: bool = True) -> None:
        """Stop the server (``crash``: as if killed, no checkpoint) and start it again on the
        same port with the same options (pg_ctl reuses postmaster.opts)."""
        bindir = postgres_bindir()
        mode = "immediate" if crash else "fast"
        # -l: the server's output goes to its log, not to this pipe (which would never close).
        log = self.data_dir.parent / "server.log"
        done = _pg(
            [str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-m", mode, "-w", "restart"],
            cwd=self.data_dir.parent,
        )
        if done.returncode != 0:
            raise ServerUnavailable(f"PostgreSQL did not restart:\n{done.stdout}\n{done.stderr}")

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _as_cluster_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", PG_ACCOUNT, "--", *argv] if os.geteuid() == 0 else argv


def _pg(argv: list[str], cwd: Path, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_cluster_owner(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def postgres_server(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """A fresh cluster (UTF-8, trust auth on 127.0.0.1 only), stopped and deleted on exit."""
    bindir = postgres_bindir()
    work = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(PG_ACCOUNT)
        os.chown(work, owner.pw_uid, owner.pw_gid)
    data, log = work / "data", work / "server.log"
    started = False
    try:
        init = _pg(
            [str(bindir / "initdb"), "-D", str(data), "-U", PG_ACCOUNT, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            cwd=work,
        )  # fmt: skip
        if init.returncode != 0:
            raise ServerUnavailable(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        options = {
            **PG_SETTINGS,
            **(settings or {}),
            "listen_addresses": HOST,
            "unix_socket_directories": str(work),
        }
        for _attempt in range(3):  # another process may take the free port before the server binds it
            port = free_port()
            flags = " ".join(f"-c {key}={value}" for key, value in {**options, "port": str(port)}.items())
            start = _pg(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_TIMEOUT)),
                 "-o", flags, "start"],
                cwd=work,
                timeout=START_TIMEOUT + 5,
            )  # fmt: skip
            if start.returncode == 0:
                started = True
                break
        if not started:
            raise ServerUnavailable(f"PostgreSQL did not start:\n{start.stderr}\n{_log_tail(log)}")
        server = PostgresServer(HOST, port, PG_ACCOUNT, data)
        with server.admin() as conn:
            conn.execute("SELECT 1")
        yield server
    finally:
        if started:
            stop = _pg([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=work)
            if stop.returncode != 0:
                _pg([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], cwd=work)
        shutil.rmtree(work, ignore_errors=True)


# ----- Redis -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=5)


@contextmanager
def redis_server(binary: str = "redis-server") -> Iterator[RedisServer]:
    """A memory-only redis-server on 127.0.0.1, terminated and its directory removed on exit."""
    path = shutil.which(binary) or shutil.which(binary, path="/usr/bin:/usr/sbin")
    if path is None:
        raise ServerUnavailable(
            f"{binary} not found: install the Debian package `redis-server` (scripts/bootstrap.sh test does)"
        )
    work = Path(tempfile.mkdtemp(prefix="hotline-redis-"))
    log = work / "redis.log"
    server = RedisServer(HOST, free_port())
    process = subprocess.Popen(
        [path, "--port", str(server.port), "--bind", HOST, "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--dir", str(work), "--logfile", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        client = server.client()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise ServerUnavailable(f"redis-server exited ({process.returncode}):\n{_log_tail(log)}")
            with suppress(redis.ConnectionError):
                if client.ping():
                    break
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"redis-server did not answer PING:\n{_log_tail(log)}")
            time.sleep(0.05)
        client.close()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)
