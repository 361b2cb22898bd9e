"""Install the Debian sid chroot that holds Asterisk on hosts without a system Asterisk >= 20.

The install is a list of stages, each of which either checks the state it produces or redoes
itself from scratch, so ``kill -9`` at any moment followed by a new run always finishes:

* debootstrap writes into ``<dir>.partial``, which is renamed only after debootstrap succeeded;
  a ``.partial`` found at start is a half-done debootstrap and is deleted, never trusted;
* packages count as installed only when dpkg says so and ``dpkg --audit`` is clean;
* the AGI venv carries its own completion file, written after pip finished;
* the marker file that ``find_runtime`` looks for is written last, atomically.

Processes of an interrupted run (debootstrap, apt, dpkg keep running when their parent is killed)
carry an environment tag and are killed before a new run touches the directory.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hotline.settings import Settings
from telephony import asterisk_mounts
from telephony.asterisk_runtime import (
    AGI_VENV,
    CHROOT_ASTERISK,
    CHROOT_PATH,
    MARKER_NAME,
    AsteriskRuntime,
    AsteriskRuntimeError,
    RuntimeMarker,
    chroot_runtime,
    system_runtime,
    version_string,
)

SUITE = "sid"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("asterisk", "python3", "python3-venv", "ca-certificates")
AGI_REQUIREMENTS = ("pyst2>=0.5", "pydantic>=2.7,<3", "pyyaml>=6.0")
AGI_IMPORTS = "import asterisk.agi, pydantic, yaml"
VENV_DONE = ".hotline-complete"
# The host's CA bundle, copied in: pip in the chroot must trust what the host trusts (a site's
# TLS-inspecting proxy, a private index), not only Debian's public list.
HOST_CA_IN_ROOT = "/etc/ssl/hotline-host-ca.crt"
INSTALL_TAG = "HOTLINE_RUNTIME_INSTALL"
# Debian's package mirror here is a snapshot whose Release file has expired.
APT_NO_EXPIRY = ("-o", "Acquire::Check-Valid-Until=false")

Progress = Callable[[str], None]


class Stage(enum.Enum):
    DISCARD_PARTIAL = "discard a half-done debootstrap"
    DEBOOTSTRAP = "debootstrap"
    CONFIGURE = "configure apt and services"
    PACKAGES = "install packages"
    AGI_VENV = "AGI venv"
    CLEAN = "apt-get clean"
    MARKER = "marker"


@dataclass(frozen=True)
class RootState:
    """What a probe of the target directory found; the stages follow from it alone."""

    complete: bool
    root_exists: bool
    partial_exists: bool
    packages_ok: bool
    venv_ok: bool


def pending_stages(state: RootState) -> list[Stage]:
    if state.complete:
        return []
    stages = [Stage.DISCARD_PARTIAL] if state.partial_exists else []
    if not state.root_exists:
        stages.append(Stage.DEBOOTSTRAP)
    stages.append(Stage.CONFIGURE)
    if not (state.root_exists and state.packages_ok):
        stages.append(Stage.PACKAGES)
    if not (state.root_exists and state.venv_ok):
        stages.append(Stage.AGI_VENV)
    stages += [Stage.CLEAN, Stage.MARKER]
    return stages


# -- the Debian mirror -------------------------------------------------------------------------------


def _one_line_sources(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for line in text.splitlines():
        match = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if match:
            found.append((match.group(1), [match.group(2)]))
    return found


def _deb822_sources(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        suites = fields.get("suites", "").split()
        found += [(uri, suites) for uri in fields.get("uris", "").split()]
    return found


def choose_mirror(sources_list: str, deb822_files: Iterable[str]) -> str:
    """The host's Debian archive mirror (not its security mirror), or deb.debian.org."""
    candidates = _one_line_sources(sources_list)
    for text in deb822_files:
        candidates += _deb822_sources(text)
    for uri, suites in candidates:
        if not uri.startswith(("http://", "https://", "ftp://", "file:/")):
            continue
        if any(s.endswith("-security") or s.endswith("/updates") for s in suites):
            continue
        # Only a Debian archive carries sid; an Ubuntu or third-party source does not.
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def host_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    def read(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    deb822 = [read(p) for p in sorted((apt_dir / "sources.list.d").glob("*.sources"))]
    one_line = [read(apt_dir / "sources.list")]
    one_line += [read(p) for p in sorted((apt_dir / "sources.list.d").glob("*.list"))]
    return choose_mirror("\n".join(one_line), deb822)


# -- the installer -----------------------------------------------------------------------------------


def host_ca_bundle() -> Path | None:
    paths = ssl.get_default_verify_paths()
    candidates = [os.environ.get(k) for k in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")]
    candidates += [paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def stop_interrupted_install(root: Path) -> int:
    """Kill what an interrupted install into ``root`` left running; they would write into the tree
    a new run redoes. Returns how many processes were killed."""
    tag = f"{INSTALL_TAG}={root}".encode()
    victims = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if tag in (entry / "environ").read_bytes().split(b"\0"):
                victims.append(int(entry.name))
        except OSError:
            continue
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}/environ").exists() for pid in victims):
        time.sleep(0.05)  # gone from /proc once the kernel has closed their files
    return len(victims)


def partial_dir(root: Path) -> Path:
    return root.with_name(root.name + ".partial")


class _Installer:
    def __init__(self, root: Path, mirror: str, progress: Progress) -> None:
        self.root = root
        self.mirror = mirror
        self.progress = progress
        self.log = root.parent / f".{root.name}.install.log"
        self.runtime = AsteriskRuntime("chroot", root, "", CHROOT_ASTERISK)

    def run(self, argv: list[str], *, timeout: float = 1800) -> str:
        """Run a command, its output appended to the install log; raise with the log's tail on failure."""
        env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        env[INSTALL_TAG] = str(self.root)
        with self.log.open("ab") as log:
            log.write(f"\n$ {' '.join(argv)}\n".encode())
            log.flush()
            result = subprocess.run(
                argv, stdout=subprocess.PIPE, stderr=log, env=env, timeout=timeout, check=False
            )
            log.write(result.stdout)
        if result.returncode != 0:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-25:])
            raise AsteriskRuntimeError(
                f"{' '.join(argv)} failed (exit {result.returncode}); full log: {self.log}\n{tail}"
            )
        return result.stdout.decode(errors="replace")

    def chroot(self, *argv: str, timeout: float = 1800) -> str:
        return self.run(self.runtime.command(list(argv)), timeout=timeout)

    def kill_leftovers(self) -> None:
        stopped = stop_interrupted_install(self.root)
        if stopped:
            self.progress(f"[asterisk] stopped {stopped} processes left by an interrupted install")

    def probe(self) -> RootState:
        root_exists = (self.root / "usr/bin/dpkg").exists()
        if self.root.exists() and not root_exists:
            raise AsteriskRuntimeError(
                f"{self.root} exists but holds no Debian system; move it away or set asterisk.chroot_dir"
            )
        packages_ok = venv_ok = False
        if root_exists:
            packages_ok = self.packages_ok()
            venv_ok = self.venv_ok()
        return RootState(
            complete=chroot_runtime(self.root) is not None,
            root_exists=root_exists,
            partial_exists=partial_dir(self.root).exists(),
            packages_ok=packages_ok,
            venv_ok=venv_ok,
        )

    def packages_ok(self) -> bool:
        query = self.runtime.command(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *PACKAGES])
        listed = subprocess.run(query, capture_output=True, text=True, env=self.runtime.env(), check=False)
        installed = {line.split()[0] for line in listed.stdout.splitlines() if line.split()[1:2] == ["ii"]}
        audit = subprocess.run(
            self.runtime.command(["dpkg", "--audit"]), capture_output=True, text=True, check=False
        )
        return installed >= set(PACKAGES) and audit.returncode == 0 and not audit.stdout.strip()

    def venv_ok(self) -> bool:
        if not (self.root / AGI_VENV.lstrip("/") / VENV_DONE).exists():
            return False
        check = self.runtime.command([f"{AGI_VENV}/bin/python", "-c", AGI_IMPORTS])
        return subprocess.run(check, capture_output=True, env=self.runtime.env(), check=False).returncode == 0

    # -- stages ------------------------------------------------------------------------------------

    def discard_partial(self) -> None:
        partial = partial_dir(self.root)
        self.progress(f"[asterisk] removing the unfinished {partial}")
        asterisk_mounts.unmount_below(partial)  # debootstrap mounts proc and sys in its target
        shutil.rmtree(partial)

    def debootstrap(self) -> None:
        if shutil.which("debootstrap", path=CHROOT_PATH) is None:
            self.progress("[asterisk] installing debootstrap with apt-get (about 20 s)...")
            self.run(["apt-get", *APT_NO_EXPIRY, "update"])
            self.run(["apt-get", "install", "-y", "debootstrap"])
        partial = partial_dir(self.root)
        self.progress(f"[asterisk] debootstrap {SUITE} from {self.mirror} (about 30 s)...")
        self.run(["debootstrap", "--variant=minbase", SUITE, str(partial), self.mirror])
        asterisk_mounts.unmount_below(partial)
        partial.rename(self.root)

    def configure(self) -> None:
        # Package scripts must not start Asterisk: instances are started with their own configs.
        _write(self.root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
        _write(self.root / "etc/apt/sources.list", f"deb {self.mirror} {SUITE} main\n", 0o644)
        # The chroot shares the host's network, so it resolves names the way the host does.
        resolv = Path("/etc/resolv.conf")
        if resolv.exists():
            _write(self.root / "etc/resolv.conf", resolv.read_text(encoding="utf-8"), 0o644)
        bundle = host_ca_bundle()
        if bundle is not None:
            _write(self.root / HOST_CA_IN_ROOT.lstrip("/"), bundle.read_text(encoding="utf-8"), 0o644)

    def packages(self) -> None:
        self.progress("[asterisk] apt-get update in the chroot (about 10 s)...")
        self.chroot("dpkg", "--configure", "-a")  # finishes what a killed dpkg left unconfigured
        self.chroot("apt-get", *APT_NO_EXPIRY, "update")
        self.progress(f"[asterisk] installing {' '.join(PACKAGES)} (about 30 s)...")
        self.chroot("apt-get", "install", "-y", "-o", "Dpkg::Options::=--force-confold", *PACKAGES)

    def agi_venv(self) -> None:
        self.progress(f"[asterisk] creating {AGI_VENV} with {' '.join(AGI_REQUIREMENTS)} (about 20 s)...")
        venv = self.root / AGI_VENV.lstrip("/")
        if venv.exists():
            shutil.rmtree(venv)  # half-built by an interrupted run: pip cannot be trusted to mend it
        self.chroot("python3", "-m", "venv", AGI_VENV)
        pip = [f"{AGI_VENV}/bin/python", "-m", "pip", "--disable-pip-version-check"]
        if (self.root / HOST_CA_IN_ROOT.lstrip("/")).exists():
            pip += ["--cert", HOST_CA_IN_ROOT]
        index = os.environ.get("PIP_INDEX_URL", "")
        if index.startswith(("http://", "https://")):
            pip += ["--index-url", index]  # the chroot shares the host's network, so its index too
        self.chroot(*pip, "install", "--no-cache-dir", *AGI_REQUIREMENTS)
        self.chroot(f"{AGI_VENV}/bin/python", "-c", AGI_IMPORTS)
        (venv / VENV_DONE).touch()

    def clean(self) -> None:
        self.chroot("apt-get", "clean")

    def marker(self) -> RuntimeMarker:
        version = version_string(self.chroot("asterisk", "-V").strip())
        listed = self.chroot("dpkg-query", "-W", "-f=${Package} ${Version}\n", *PACKAGES)
        frozen = self.chroot(f"{AGI_VENV}/bin/python", "-m", "pip", "freeze", "--disable-pip-version-check")
        marker = RuntimeMarker(
            suite=SUITE,
            mirror=self.mirror,
            asterisk_version=version,
            packages={name: ver for name, _, ver in (line.partition(" ") for line in listed.splitlines())},
            agi_python=f"{AGI_VENV}/bin/python",
            agi_packages={n: v for n, _, v in (line.partition("==") for line in frozen.splitlines()) if v},
            installed_at=datetime.now(UTC),
        )
        _write(self.root / MARKER_NAME, marker.model_dump_json(indent=2) + "\n", 0o644)
        return marker


def _write(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` atomically; a symbolic link there is replaced, never followed to the host."""
    path.parent.mkdir(parents=True, exist_ok=True)  # /etc/ssl, before ca-certificates is installed
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    tmp.chmod(mode)
    tmp.replace(path)


def install_runtime(settings: Settings, progress: Progress) -> AsteriskRuntime:
    """Return the runtime settings ask for, installing the chroot first if needed.

    Safe to run again at any time: a finished runtime is returned at once, an interrupted install
    is resumed. Installing needs root.
    """
    choice = settings.asterisk.runtime
    if choice in ("system", "auto"):
        found = system_runtime()
        if found is not None:
            progress(f"[asterisk] using the system Asterisk {found.version} ({found.asterisk_bin})")
            return found
        if choice == "system":
            raise AsteriskRuntimeError(
                "asterisk.runtime is 'system' but no Asterisk >= 20 is on PATH; install it with the "
                "host's package manager, or set asterisk.runtime to 'auto' to use a Debian sid chroot"
            )
    root = settings.asterisk.chroot_dir.resolve()
    ready = chroot_runtime(root)
    if ready is not None:
        progress(f"[asterisk] runtime ready: Asterisk {ready.version} in {root}")
        return ready
    if os.geteuid() != 0:
        raise AsteriskRuntimeError(
            f"installing Asterisk into {root} needs root (debootstrap, chroot, mount); "
            "run this command as root, e.g. with sudo"
        )
    mirror = settings.asterisk.debian_mirror.rstrip("/") or host_mirror()
    root.parent.mkdir(parents=True, exist_ok=True)
    with asterisk_mounts.locked(root.parent / f".{root.name}.install.lock"):
        installer = _Installer(root, mirror, progress)
        installer.kill_leftovers()
        state = installer.probe()
        stages = pending_stages(state)
        if state.root_exists and stages:
            progress(f"[asterisk] resuming the install in {root}")
        try:
            _run_stages(installer, stages)
        finally:
            installer.runtime.release_mounts()
    runtime = chroot_runtime(root)
    if runtime is None:
        raise AsteriskRuntimeError(f"the install in {root} ended without its marker; see {installer.log}")
    progress(f"[asterisk] runtime ready: Asterisk {runtime.version} in {root}")
    return runtime


def _run_stages(installer: _Installer, stages: list[Stage]) -> None:
    for stage in stages:
        if stage is Stage.DISCARD_PARTIAL:
            installer.discard_partial()
        elif stage is Stage.DEBOOTSTRAP:
            installer.debootstrap()
        elif stage is Stage.CONFIGURE:
            installer.configure()
            installer.runtime.ensure_mounts(None, None)  # proc and dev for maintainer scripts and pip
        elif stage is Stage.PACKAGES:
            installer.packages()
        elif stage is Stage.AGI_VENV:
            installer.agi_venv()
        elif stage is Stage.CLEAN:
            installer.clean()
        elif stage is Stage.MARKER:
            installer.marker()
