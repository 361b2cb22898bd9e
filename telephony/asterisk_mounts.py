"""The mounts that make a chroot Asterisk see the same files as the host.

Inside the chroot, /proc and /dev are the host's, the state directory is bind-mounted read-write at
its own absolute path and the project checkout read-only at its own absolute path. A path written
into a generated config therefore names the same file on both sides of the chroot.

Mounts outlive the process that made them, so nothing here trusts in-memory bookkeeping: whether a
mount exists is read from /proc/self/mountinfo, and whether an Asterisk still uses the root is read
from /proc/<pid>/root. A lock file serialises mounting, starting and unmounting across processes.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


class AsteriskRuntimeError(Exception):
    """No usable Asterisk, or an Asterisk command failed; the message says what to do."""


class MountError(AsteriskRuntimeError):
    """A mount the chroot needs could not be made or undone safely."""


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo, reduced to what we decide on."""

    mount_point: Path
    fstype: str
    options: frozenset[str]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


@dataclass(frozen=True)
class MountSpec:
    """A mount the chroot needs: ``source`` appears at ``target`` (a host path under the root)."""

    source: str
    target: Path
    fstype: str  # "proc" or "bind"
    read_only: bool = False


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash in mount points as \ooo octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-")
        entries.append(
            MountEntry(
                mount_point=Path(_unescape(fields[4])),
                fstype=fields[sep + 1] if len(fields) > sep + 1 else "",
                options=frozenset(fields[5].split(",")),
            )
        )
    return entries


def current_mounts() -> list[MountEntry]:
    return parse_mountinfo(MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape"))


def mounts_below(path: Path, mounts: Iterable[MountEntry]) -> list[MountEntry]:
    """Mounts strictly inside ``path``, deepest first (the order they must be unmounted in)."""
    inside = [m for m in mounts if m.mount_point != path and m.mount_point.is_relative_to(path)]
    return sorted(inside, key=lambda m: len(m.mount_point.parts), reverse=True)


def path_in_root(root: Path, path: Path) -> Path:
    """Where the absolute ``path`` of the chroot lives on the host.

    Refuses a path that crosses a symbolic link inside the root: Debian's root has absolute links
    such as /var/run -> /run, which the host would resolve to its *own* /run, and a bind mount
    there would land on the host instead of in the chroot.
    """
    if not path.is_absolute():
        raise MountError(f"{path} is not an absolute path")
    host = root
    for part in path.parts[1:]:
        if part == "..":
            raise MountError(f"{path} must not contain '..'")
        host = host / part
        if host.is_symlink():
            raise MountError(
                f"{path} passes through the symbolic link {host} inside the chroot; "
                "choose a state directory and checkout outside /var/run, /lib, /bin and similar"
            )
    return host


def plan_mounts(root: Path, state_dir: Path | None, project_dir: Path | None) -> list[MountSpec]:
    """The mounts for one root, shallowest first so a nested directory is mounted on top of its parent."""
    specs = [
        MountSpec("proc", root / "proc", "proc"),
        MountSpec("/dev", root / "dev", "bind"),
    ]
    if state_dir is not None and project_dir is not None and state_dir == project_dir:
        raise MountError(f"the state directory and the project checkout are both {state_dir}")
    if project_dir is not None:
        specs.append(MountSpec(str(project_dir), path_in_root(root, project_dir), "bind", read_only=True))
    if state_dir is not None:
        specs.append(MountSpec(str(state_dir), path_in_root(root, state_dir), "bind"))
    return sorted(specs, key=lambda s: len(s.target.parts))


def _run_mount(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise MountError(f"{' '.join(argv)} failed: {(result.stderr or result.stdout).strip()}")


def ensure(specs: Iterable[MountSpec]) -> None:
    """Make every mount in ``specs`` that is not there yet; fix a bind left writable by an interruption."""
    for spec in specs:
        mounts = current_mounts()
        existing = [m for m in mounts if m.mount_point == spec.target]
        if existing:
            # The top mount is the one the chroot sees. A target always receives the same source
            # (itself, seen from inside), so presence is enough, but read-only is a second step
            # that an interruption can miss.
            if spec.read_only and not existing[-1].read_only:
                _run_mount(["mount", "-o", "remount,bind,ro", str(spec.target)])
            continue
        hidden = mounts_below(spec.target, mounts)
        if hidden:
            raise MountError(
                f"mounting {spec.source} at {spec.target} would hide {hidden[0].mount_point}; "
                "stop the Asterisk instances of this runtime and release its mounts first"
            )
        if spec.fstype == "bind":
            Path(spec.source).mkdir(parents=True, exist_ok=True)
        spec.target.mkdir(parents=True, exist_ok=True)
        if spec.fstype == "proc":
            _run_mount(["mount", "-t", "proc", "proc", str(spec.target)])
        else:
            _run_mount(["mount", "--bind", spec.source, str(spec.target)])
            if spec.read_only:
                # A read-only bind takes a remount on every kernel this runs on.
                _run_mount(["mount", "-o", "remount,bind,ro", str(spec.target)])


def unmount_below(path: Path) -> None:
    """Unmount everything inside ``path``; raise if anything is left (never delete through a mount)."""
    for entry in mounts_below(path, current_mounts()):
        result = subprocess.run(["umount", str(entry.mount_point)], capture_output=True, check=False)
        if result.returncode != 0:
            # Busy only because some process has its cwd or a file there; detaching is safe once
            # no Asterisk runs from the root, which the caller has checked.
            subprocess.run(["umount", "-l", str(entry.mount_point)], capture_output=True, check=False)
    left = mounts_below(path, current_mounts())
    if left:
        raise MountError(f"could not unmount {', '.join(str(m.mount_point) for m in left)}")


def unmount_unused_state(root: Path, pids: Iterable[int]) -> None:
    """Unmount the read-write binds under ``root`` that no process in ``pids`` names a file in.

    Used while other instances still run from the root: a state directory whose Asterisk has
    stopped is let go, while proc, /dev, the read-only checkout and every state directory that
    holds a running Asterisk's config (or an AGI script it runs) stay.
    """
    named: list[Path] = []
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        named += [root / a.decode(errors="replace").lstrip("/") for a in argv if a.startswith(b"/")]
    keep = {root / "proc", root / "dev"}
    for entry in mounts_below(root, current_mounts()):
        if entry.mount_point in keep or entry.read_only:
            continue
        if any(path.is_relative_to(entry.mount_point) for path in named):
            continue
        # No lazy detach here: a busy mount is in use by something we did not account for.
        subprocess.run(["umount", str(entry.mount_point)], capture_output=True, check=False)


def processes_rooted_at(root: Path) -> list[int]:
    """Pids of live processes whose root directory is ``root`` (Asterisk daemons, AGI scripts)."""
    pids = []
    target = str(root)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == target:
                pids.append(int(entry.name))
        except OSError:
            continue  # gone, a zombie, or not ours to inspect
    return pids


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock across processes; the kernel drops it if the holder is killed."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
