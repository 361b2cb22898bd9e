"""hotline.supervisor: components are real (tiny) Python processes; back-offs are shortened."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hotline import supervisor as supervisor_module
from hotline.supervisor import Component, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(30)",
]
BACKOFF = (0.05, 0.1, 0.2)
WAIT = 5.0


def wait_until(
    predicate: Callable[[], bool], timeout: float = WAIT, step: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        if step is not None:
            step()
        time.sleep(0.01)


@pytest.fixture
def components(tmp_path: Path) -> Iterator[list[Component]]:
    made = [
        Component("tracker", list(SLEEPER), tmp_path / "log" / "tracker.log"),
        Component("agi", list(SLEEPER), tmp_path / "log" / "agi.log"),
    ]
    yield made
    for component in made:  # never leave a child behind, whatever the test did
        if component.process is not None and component.process.poll() is None:
            component.process.kill()
            component.process.wait(5)


@pytest.fixture
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor_module, "RESTART_BACKOFF", BACKOFF)


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """Supervisor.run installs SIGINT/SIGTERM handlers; give pytest its own back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def kill(component: Component) -> int:
    assert component.process is not None
    pid = component.process.pid
    component.process.kill()
    component.process.wait(WAIT)
    return pid


def test_given_a_component_when_started_then_its_pid_file_and_log_exist(components, tmp_path):
    tracker = components[0]

    tracker.start()

    assert tracker.process is not None and tracker.process.poll() is None
    assert (tmp_path / "run" / "tracker.pid").read_text() == str(tracker.process.pid)
    assert (tmp_path / "log" / "tracker.log").exists()


def test_given_a_component_killed_when_supervised_then_only_it_restarts_after_its_backoff(
    components, short_backoff
):
    said: list[str] = []
    supervisor = Supervisor(components, said.append)
    tracker, agi = components
    for component in components:
        component.start()
    agi_pid = agi.process.pid if agi.process else None

    old_pid = kill(tracker)
    supervisor._restart_dead()
    noticed = time.monotonic()
    wait_until(
        lambda: tracker.process is not None and tracker.process.pid != old_pid, step=supervisor._restart_dead
    )

    assert time.monotonic() - noticed >= BACKOFF[0]
    assert tracker.process is not None and tracker.process.poll() is None
    assert tracker.restarts == 1
    assert agi.process is not None and agi.process.pid == agi_pid
    assert said == [f"tracker exited with -9; restarting in {BACKOFF[0]}s (log: {tracker.log_file})"]


def test_given_a_component_that_keeps_dying_when_supervised_then_each_restart_waits_longer(
    components, short_backoff
):
    said: list[str] = []
    supervisor = Supervisor(components[:1], said.append)
    tracker = components[0]
    tracker.start()

    for restarts in range(1, 3):
        old_pid = kill(tracker)

        def restarted(pid: int = old_pid) -> bool:
            return tracker.process is not None and tracker.process.pid != pid

        wait_until(restarted, step=supervisor._restart_dead)
        assert tracker.restarts == restarts

    assert [line.split("restarting in ")[1].split("s ")[0] for line in said] == ["0.05", "0.1"]


def test_given_a_component_that_ran_for_minutes_when_it_dies_then_the_backoff_starts_afresh(
    components, short_backoff
):
    said: list[str] = []
    supervisor = Supervisor(components[:1], said.append)
    tracker = components[0]
    tracker.start()
    tracker.restarts = 4
    tracker.started_at = time.monotonic() - 120

    kill(tracker)
    supervisor._restart_dead()

    assert tracker.restarts == 0
    assert f"restarting in {BACKOFF[0]}s" in said[0]


def test_given_a_running_platform_when_stop_is_requested_then_all_stop_in_reverse_order(
    components, own_signal_handlers
):
    said: list[str] = []
    supervisor = Supervisor(components, said.append)
    ticks: list[int] = []

    def on_tick() -> None:
        ticks.append(1)
        assert all(c.process is not None and c.process.poll() is None for c in components)
        supervisor.request_stop(signal.SIGTERM, None)

    started = time.monotonic()
    supervisor.run(on_tick=on_tick)

    assert time.monotonic() - started < 2
    assert ticks == [1]
    assert said == ["stopping the platform ...", "  agi stopped", "  tracker stopped"]
    assert [c.process.returncode for c in components if c.process] == [-signal.SIGTERM, -signal.SIGTERM]


def test_given_sigterm_to_the_supervisor_when_running_then_it_stops_its_components(
    components, own_signal_handlers
):
    said: list[str] = []
    supervisor = Supervisor(components, said.append)

    def on_tick() -> None:
        signal.raise_signal(signal.SIGTERM)  # handled by the supervisor, not by the test process

    supervisor.run(on_tick=on_tick)

    assert said[-1] == "  tracker stopped"
    assert all(c.process is not None and c.process.poll() is not None for c in components)


def test_given_a_component_that_cannot_start_when_running_then_those_already_started_are_stopped(
    components, tmp_path, own_signal_handlers
):
    missing = Component("web", [str(tmp_path / "no-such-program")], tmp_path / "log" / "web.log")
    supervisor = Supervisor([*components, missing], lambda line: None)

    with pytest.raises(FileNotFoundError):
        supervisor.run()

    assert all(c.process is not None and c.process.poll() is not None for c in components)


def test_given_a_component_that_ignores_sigterm_when_stopped_then_it_is_killed_after_the_timeout(tmp_path):
    stubborn = Component("agi", list(STUBBORN), tmp_path / "log" / "agi.log")
    stubborn.start()
    try:
        wait_until(lambda: "ready" in stubborn.log_file.read_text())

        stubborn.stop(timeout=0.2)

        assert stubborn.process is not None
        assert stubborn.process.returncode == -signal.SIGKILL
    finally:
        if stubborn.process is not None and stubborn.process.poll() is None:
            stubborn.process.kill()


def test_given_a_component_already_dead_when_stopped_then_nothing_happens(components):
    tracker = components[0]
    tracker.stop()  # never started
    tracker.start()
    kill(tracker)

    tracker.stop()

    assert tracker.process is not None
    assert tracker.process.returncode == -signal.SIGKILL
