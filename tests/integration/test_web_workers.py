"""``[web] workers``: several web processes on one port, started and stopped as the supervisor does."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from agents_ui.serve import listening_socket
from hotline.migrate import upgrade
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def worker_pids(pid: int) -> list[int]:
    """uvicorn's workers (multiprocessing also starts a resource tracker beside them)."""
    return [
        child for child in children_of(pid) if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    port = free_port()
    config = tmp_path / "hotline.toml"
    config.write_text(
        f'[site]\nstate_dir = "{tmp_path / "state"}"\n\n[database]\nurl = "{url}"\n\n'
        f'[redis]\nurl = "redis://127.0.0.1:{free_port()}/0"\nmanaged = false\n\n'
        f'[web]\nhost = "127.0.0.1"\nport = {port}\nworkers = 2\n',
        encoding="utf-8",
    )
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hotline.cli", "component", "web"],
        cwd=ROOT,
        env={**os.environ, "HOTLINE_CONFIG": str(config)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while len(worker_pids(process.pid)) < 2 or not answers(base):
            assert process.poll() is None, (tmp_path / "web.log").read_text()
            assert time.monotonic() < deadline, "two web workers did not come up in 60 s"
            time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


def answers(base: str) -> bool:
    try:
        httpx.get(f"{base}/healthz", timeout=5)
    except httpx.HTTPError:
        return False
    return True


def test_given_two_workers_when_started_then_both_serve_the_port_and_a_stop_ends_them_all(
    web: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, base = web
    workers = [
        pid for pid in children_of(process.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert len(workers) == 2
    with httpx.Client(base_url=base) as client:  # one kept-alive connection, several answers
        for _ in range(3):
            reply = client.get("/healthz")
            assert reply.status_code in (200, 503)
            assert "database" in reply.json()["checks"]
        assert client.get("/login").status_code == 200

    process.send_signal(signal.SIGTERM)
    process.wait(30)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in workers if alive(pid)] == []


async def test_given_the_shared_listening_socket_then_asyncio_turns_nagle_off_on_its_connections() -> None:
    config = uvicorn.Config("agents_ui.app:worker_app", factory=True, host="127.0.0.1", port=free_port())
    listener = listening_socket(config)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Report(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Report, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        assert await asyncio.wait_for(seen, 10) != 0  # else each kept-alive answer waits ~40 ms
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
