"""One running Asterisk: its own asterisk.conf, run, log and spool directories, started from a runtime.

Several instances can run at once from one runtime; each is told apart by its ``-C`` config file,
and every CLI command goes to its own control socket in ``layout.run``.

Asterisk runs as root without ``-U``/``-G``: in the chroot, dropping privileges takes away the
capability to read Debian's asterisk-owned files. ``asterisk -C CONF`` forks into the background at
once, before loading modules, so "started" means ``core waitfullybooted`` answered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from asterisk_conf.layout import InstanceLayout
from telephony.asterisk_mounts import AsteriskRuntimeError

if TYPE_CHECKING:
    # Only a type here: asterisk_runtime re-exports this module's classes.
    from telephony.asterisk_runtime import AsteriskRuntime

PROJECT_DIR = Path(__file__).resolve().parents[1]
_FORBIDDEN_IN_COMMAND = ("\r", "\n", "\0")


class AsteriskStartError(AsteriskRuntimeError):
    """Asterisk did not boot; the message carries the end of its log."""


class AsteriskCommandError(AsteriskRuntimeError):
    """A CLI command could not be delivered (Asterisk down, socket missing)."""


def _process_state(pid: int) -> str | None:
    """The one-letter state from /proc/<pid>/stat, None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may itself hold spaces or parentheses.
    return stat.rpartition(")")[2].split()[0]


def _alive(pid: int) -> bool:
    # A daemonised Asterisk's parent is init, which may reap it late; a zombie has stopped already.
    return _process_state(pid) not in (None, "Z", "X")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class AsteriskInstance:
    def __init__(
        self, runtime: AsteriskRuntime, layout: InstanceLayout, project_dir: Path = PROJECT_DIR
    ) -> None:
        self.runtime = runtime
        self.layout = layout
        self.project_dir = project_dir.resolve()

    def __repr__(self) -> str:
        return f"AsteriskInstance({self.layout.instance!r}, {self.runtime.kind}, pid={self.pid})"

    @property
    def conf(self) -> Path:
        return self.layout.asterisk_conf

    @property
    def pid_file(self) -> Path:
        # astrundir is our own absolute path, bind-mounted at the same place, so the host reads the
        # pid file where Asterisk wrote it (not under the chroot's /var/run -> /run link).
        return self.layout.run / "asterisk.pid"

    @property
    def pid(self) -> int | None:
        """The pid of this instance's Asterisk if it runs, else None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid):
            return None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # After a crash the pid may belong to another process, even another instance's Asterisk.
        if not argv or not argv[0].endswith(b"asterisk") or str(self.conf).encode() not in argv:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid is not None

    def log_tail(self, lines: int = 30) -> str:
        path = self.layout.log / "messages.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return f"({path} is missing: logger.conf has no messages.log, or Asterisk never got that far)"
        return "\n".join(text.splitlines()[-lines:])

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.runtime.asterisk("-C", str(self.conf), *args),
            capture_output=True,
            text=True,
            env=self.runtime.env(),
            timeout=timeout,
            check=False,
        )

    def rx(self, command: str, timeout: float = 10.0) -> str:
        """Run one CLI command in this instance and return its output."""
        if any(c in command for c in _FORBIDDEN_IN_COMMAND):
            raise ValueError("a CLI command must be a single line")
        try:
            result = self._run(["-rx", command], timeout)
        except subprocess.TimeoutExpired as exc:
            raise AsteriskCommandError(f"{self.layout.instance}: {command!r} took over {timeout} s") from exc
        if result.returncode != 0:
            said = (result.stdout + result.stderr).strip()
            raise AsteriskCommandError(f"{self.layout.instance}: {command!r} failed: {said}")
        return result.stdout

    def start(self, timeout: float = 30.0) -> None:
        """Start Asterisk and return once it is fully booted; do nothing if it already runs."""
        if self.is_running():
            return
        if not self.conf.is_file():
            raise AsteriskStartError(f"{self.conf} does not exist; generate the Asterisk config first")
        self.layout.run.mkdir(parents=True, exist_ok=True)
        self.layout.log.mkdir(parents=True, exist_ok=True)
        # Left by a crash; removed so a dead pid in it cannot be taken for the new daemon dying.
        self.pid_file.unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        with (
            tempfile.TemporaryFile() as output,
            self.runtime.mounted(self.layout.state_dir, self.project_dir),
        ):
            # Output goes to a file, not a pipe: the daemon would otherwise hold the pipe open.
            launched = subprocess.run(
                self.runtime.asterisk("-C", str(self.conf)),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=self.runtime.env(),
                timeout=timeout,
                check=False,
            )
            output.seek(0)
            said = output.read().decode(errors="replace").strip()
        if launched.returncode != 0:
            self._fail(f"asterisk -C {self.conf} exited with {launched.returncode}: {said}")
        self._wait_booted(deadline, said)

    def _wait_booted(self, deadline: float, said: str) -> None:
        launched_at = time.monotonic()
        seen_running = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("it did not finish booting in time", said)
            try:
                # Fails at once until the control socket exists, then blocks until boot completes.
                result = self._run(["-rx", "core waitfullybooted"], remaining)
            except subprocess.TimeoutExpired:
                continue
            if result.returncode == 0 and "fully booted" in result.stdout:
                return
            # Exit status 0 with no answer: the console lost Asterisk while waiting (it is exiting).
            lost = result.returncode == 0
            if self.is_running():
                seen_running = True
            elif seen_running or lost or time.monotonic() - launched_at > 5:
                self._fail("it exited while booting", said)
            time.sleep(0.1)

    def _fail(self, why: str, said: str = "") -> None:
        self._kill_quietly()
        self.runtime.release_mounts()
        extra = f"\nasterisk said: {said}" if said else ""
        raise AsteriskStartError(
            f"Asterisk {self.layout.instance!r} ({self.conf}) did not start: {why}.{extra}\n"
            f"last lines of {self.layout.log / 'messages.log'}:\n{self.log_tail()}"
        )

    def _kill_quietly(self) -> None:
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)

    def stop(self, timeout: float = 20.0, release_mounts: bool = True) -> None:
        """Stop Asterisk (``core stop now``, SIGKILL after ``timeout``) and free the runtime's mounts.

        The mounts stay while any other Asterisk runs from the same root.
        """
        pid = self.pid
        if pid is not None:
            # A console that does not answer is what the SIGKILL below is for.
            with contextlib.suppress(AsteriskCommandError):
                self.rx("core stop now", timeout=min(timeout, 10.0))
            if not _wait_gone(pid, timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5)
            self.pid_file.unlink(missing_ok=True)
        if release_mounts:
            self.runtime.release_mounts()

    def kill(self) -> None:
        """SIGKILL Asterisk as a crash would: no shutdown, the pid file and socket are left behind."""
        pid = self.pid
        if pid is None:
            raise AsteriskCommandError(f"{self.layout.instance}: Asterisk is not running")
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5)

    def restart(self, timeout: float = 30.0) -> None:
        self.stop(release_mounts=False)
        self.start(timeout)
