"""Which Asterisk the platform runs, and how to run a command with it.

Two kinds of runtime exist. A *system* Asterisk (>= 20) installed by the host's package manager is
used as is. Where the host has none (Debian 12 ships no Asterisk), a Debian sid chroot holds one;
commands are wrapped in ``chroot ROOT`` and the state directory and project checkout are
bind-mounted at their own absolute paths, so a path means the same file inside and outside.

A chroot counts as installed only when its marker file exists: the installer writes it as its
very last step (see ``telephony.asterisk_install``), so an interrupted install is never mistaken
for a finished one.

This module is the public face: ``find_runtime``, ``install_runtime``, ``AsteriskRuntime`` and
``AsteriskInstance`` (from ``telephony.asterisk_instance``) are all importable from here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hotline.settings import Settings
from telephony import asterisk_mounts
from telephony.asterisk_instance import AsteriskCommandError, AsteriskInstance, AsteriskStartError
from telephony.asterisk_mounts import AsteriskRuntimeError, MountError

__all__ = [
    "AsteriskCommandError",
    "AsteriskInstance",
    "AsteriskRuntime",
    "AsteriskRuntimeError",
    "AsteriskStartError",
    "MountError",
    "find_runtime",
    "install_runtime",
    "parse_version",
]

MIN_MAJOR = 20
MARKER_NAME = ".hotline-runtime.json"
AGI_VENV = "/opt/hotline-agi"
CHROOT_ASTERISK = "/usr/sbin/asterisk"
# Commands in the chroot get a fixed environment: the host's (a venv's PATH, PYTHONPATH, pip
# settings pointing at host-only paths) means nothing in there and can break the tools.
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_VERSION_RE = re.compile(r"Asterisk\s+(?:certified[/-])?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) from ``asterisk -V`` output; None for builds without a number (GIT-...)."""
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    return (int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0))


def version_string(text: str) -> str:
    """The version word of ``asterisk -V`` output, e.g. ``22.10.1+dfsg+~cs6.17.60671434-1``."""
    words = text.split()
    return words[1] if len(words) > 1 and words[0] == "Asterisk" else text.strip()


class RuntimeMarker(BaseModel):
    """What the installer put into a chroot; its presence means the install finished."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    format: int = 1
    suite: str
    mirror: str
    asterisk_version: str
    packages: dict[str, str]
    agi_python: str
    agi_packages: dict[str, str]
    installed_at: datetime


def read_marker(root: Path) -> RuntimeMarker | None:
    try:
        text = (root / MARKER_NAME).read_text(encoding="utf-8")
        return RuntimeMarker.model_validate_json(text)
    except (OSError, ValidationError):
        return None


@dataclass(frozen=True)
class AsteriskRuntime:
    kind: Literal["system", "chroot"]
    root: Path
    version: str
    asterisk_bin: str = "asterisk"

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return parse_version(f"Asterisk {self.version}")

    @property
    def agi_python(self) -> str:
        """Interpreter for classic (process-per-call) AGI scripts, as Asterisk must name it."""
        return f"{AGI_VENV}/bin/python" if self.kind == "chroot" else sys.executable

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as it must be run to execute inside this runtime."""
        if self.kind == "system":
            return list(argv)
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        # GNU chroot stops reading its own options at NEWROOT, so argv's flags reach the command.
        return [chroot, str(self.root), *argv]

    def asterisk(self, *args: str) -> list[str]:
        return self.command([self.asterisk_bin, *args])

    def env(self) -> dict[str, str]:
        if self.kind == "system":
            return dict(os.environ)
        return {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}

    # -- mounts (chroot only) ----------------------------------------------------------------------

    @property
    def _lock_file(self) -> Path:
        return self.root.parent / f".{self.root.name}.mounts.lock"

    @contextmanager
    def mounted(self, state_dir: Path, project_dir: Path) -> Iterator[None]:
        """Ensure the mounts and keep them safe from ``release_mounts`` until the block ends.

        Start an Asterisk inside the block: once it runs, its root keeps the mounts in place.
        """
        if self.kind == "system":
            yield
            return
        with asterisk_mounts.locked(self._lock_file):
            asterisk_mounts.ensure(asterisk_mounts.plan_mounts(self.root, state_dir, project_dir))
            yield

    def ensure_mounts(self, state_dir: Path | None, project_dir: Path | None) -> None:
        """proc, /dev, and the state dir (rw) and project (ro) at their own paths. Idempotent."""
        if self.kind == "system":
            return
        with asterisk_mounts.locked(self._lock_file):
            asterisk_mounts.ensure(asterisk_mounts.plan_mounts(self.root, state_dir, project_dir))

    def processes(self) -> list[int]:
        """Pids running inside this chroot (none for a system runtime: it has no root of its own)."""
        return [] if self.kind == "system" else asterisk_mounts.processes_rooted_at(self.root)

    def release_mounts(self) -> bool:
        """Unmount what no Asterisk from this root needs any more; True when nothing is left.

        With no process left in the root, everything goes. Otherwise only the state directories
        of instances that have stopped are unmounted: other instances keep running undisturbed.
        """
        if self.kind == "system":
            return True
        with asterisk_mounts.locked(self._lock_file):
            running = asterisk_mounts.processes_rooted_at(self.root)
            if running:
                asterisk_mounts.unmount_unused_state(self.root, running)
                return False
            asterisk_mounts.unmount_below(self.root)
            return True

    def mounts(self) -> list[Path]:
        if self.kind == "system":
            return []
        below = asterisk_mounts.mounts_below(self.root, asterisk_mounts.current_mounts())
        return [m.mount_point for m in below]


def _system_asterisk() -> str | None:
    # Root's PATH normally holds the sbin directories, a user's often does not.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin"])
    return shutil.which("asterisk", path=search)


def system_runtime() -> AsteriskRuntime | None:
    """The host's own Asterisk, if it is at least version 20."""
    binary = _system_asterisk()
    if binary is None:
        return None
    try:
        result = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = parse_version(result.stdout)
    if result.returncode != 0 or version is None or version[0] < MIN_MAJOR:
        return None
    return AsteriskRuntime("system", Path("/"), version_string(result.stdout), binary)


def chroot_runtime(chroot_dir: Path) -> AsteriskRuntime | None:
    """The chroot at ``chroot_dir`` if its install finished."""
    root = chroot_dir.resolve()
    marker = read_marker(root)
    if marker is None or not (root / CHROOT_ASTERISK.lstrip("/")).exists():
        return None
    return AsteriskRuntime("chroot", root, marker.asterisk_version, CHROOT_ASTERISK)


def find_runtime(settings: Settings) -> AsteriskRuntime | None:
    """The runtime settings.asterisk.runtime asks for, or None if it is not installed."""
    choice = settings.asterisk.runtime
    if choice in ("system", "auto"):
        found = system_runtime()
        if found is not None or choice == "system":
            return found
    return chroot_runtime(settings.asterisk.chroot_dir)


def install_runtime(settings: Settings, progress: Callable[[str], None]) -> AsteriskRuntime:
    """Find or install the runtime; see ``telephony.asterisk_install.install_runtime``."""
    # Imported here: the installer builds on this module, and most callers only ever find.
    from telephony.asterisk_install import install_runtime as install

    return install(settings, progress)
