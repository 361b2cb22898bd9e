"""Runs the platform's processes side by side and keeps them running.

Each component is its own OS process so that one failing cannot take the others down: a crashed
FastAGI server costs only the calls inside it (the dialplan sends those to the main queue) and is
started again here within a second or two. Ctrl-C (SIGINT) or SIGTERM stops them all, Asterisk last
but one and the web server last, so no call row is left open by our own shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("hotline.supervisor")

RESTART_BACKOFF = (0.5, 1, 2, 5, 10)
FROZEN_AFTER = 8.0  # seconds without a heartbeat before a live component counts as frozen
STARTUP_GRACE = 10.0


@dataclass
class Component:
    name: str
    argv: list[str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    env: dict[str, str] = field(default_factory=dict)
    # Heartbeat file the component rewrites every second; None for components without one.
    heartbeat: Path | None = None

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_file.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
        )
        out.close()
        self.started_at = time.monotonic()
        pid_file = self.log_file.parent.parent / "run" / f"{self.name}.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(self.process.pid))

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # The whole session: a component's own children (web workers, Celery's pool) with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def component_argv(name: str) -> list[str]:
    return [sys.executable, "-m", "hotline.cli", "component", name]


class Supervisor:
    def __init__(self, components: list[Component], say: Callable[[str], None]) -> None:
        self.components = components
        self._say = say
        self._stopping = False

    def request_stop(self, *_: object) -> None:
        self._stopping = True

    def run(self, on_tick: Callable[[], None] | None = None) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        try:
            # Inside the try: if one component cannot start, those already started are stopped
            # (they run in their own sessions, so nothing else would ever stop them).
            for component in self.components:
                component.start()
            while not self._stopping:
                self._restart_dead()
                if on_tick is not None:
                    on_tick()
                time.sleep(0.2)
        finally:
            self._say("stopping the platform ...")
            for component in reversed(self.components):
                component.stop()
                self._say(f"  {component.name} stopped")

    def _kill_frozen(self, component: Component, now: float) -> None:
        """A live process whose heartbeat stopped is frozen (a blocked event loop, SIGSTOP): kill it.

        For the FastAGI server this is what actually frees calls: Asterisk waits on an AGI socket
        for ever, and only closing it sends those calls on to the main queue.
        """
        proc = component.process
        if component.heartbeat is None or proc is None or proc.poll() is not None:
            return
        if now - component.started_at < FROZEN_AFTER + STARTUP_GRACE:
            return
        try:
            age = time.time() - component.heartbeat.stat().st_mtime
        except OSError:
            age = float("inf")
        if age > FROZEN_AFTER:
            self._say(f"{component.name} stopped answering ({age:.0f}s without a heartbeat); killing it")
            proc.kill()
            proc.wait(5)

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for component in self.components:
            self._kill_frozen(component, now)
            proc = component.process
            if proc is None or proc.poll() is None:
                continue
            if component.next_start == 0.0:
                # A component that ran for a minute has recovered: start its back-off afresh.
                if now - component.started_at > 60:
                    component.restarts = 0
                delay = RESTART_BACKOFF[min(component.restarts, len(RESTART_BACKOFF) - 1)]
                component.next_start = now + delay
                self._say(
                    f"{component.name} exited with {proc.returncode}; restarting in {delay}s "
                    f"(log: {component.log_file})"
                )
            elif now >= component.next_start:
                component.restarts += 1
                component.next_start = 0.0
                component.start()
