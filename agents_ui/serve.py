"""Serving the web app: one uvicorn process, or several sharing one port (``web.workers``)."""

from __future__ import annotations

import os
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from agents_ui import app as web
from hotline.settings import Settings


def run(settings: Settings) -> None:
    host, port, workers = settings.web.host, settings.web.port, settings.web.workers
    if workers == 1:
        uvicorn.run(web.serving_app(settings), host=host, port=port, log_level="warning")
        return
    # uvicorn starts each worker afresh and imports the app by name: the settings read here
    # travel in the environment, so every worker serves exactly these.
    os.environ[web.WORKER_SETTINGS] = settings.model_dump_json()
    config = uvicorn.Config(
        f"{web.__name__}:worker_app", factory=True, workers=workers, host=host, port=port,
        log_level="warning",
    )  # fmt: skip
    Multiprocess(config, sockets=[listening_socket(config)]).run()


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """uvicorn's bound socket, said to be TCP. uvicorn makes it with protocol 0, connections
    accepted on it inherit that, and asyncio then leaves TCP_NODELAY off: every answer on a
    kept-alive connection after the first waited ~40 ms for the client's delayed ACK (uvicorn
    issue 3149, open in 0.54; measured here: /healthz 7 ms → 48 ms with two workers)."""
    bound = config.bind_socket()
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
