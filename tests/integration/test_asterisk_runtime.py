"""The real Asterisk runtime: two instances at once from one runtime, crash and restart, mounts.

The configs here are minimal fixtures of this test, not the platform's generated ones: no module
that binds a port is loaded, so the two instances cannot collide.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from asterisk_conf.layout import InstanceLayout
from hotline.settings import Settings, SettingsError, load_settings
from telephony import asterisk_install, asterisk_mounts
from telephony.asterisk_instance import PROJECT_DIR
from telephony.asterisk_runtime import (
    AsteriskInstance,
    AsteriskRuntime,
    AsteriskStartError,
    find_runtime,
)

pytestmark = pytest.mark.integration

MODULES = ("app_echo.so", "app_playback.so", "pbx_config.so", "codec_ulaw.so", "format_wav.so")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError:
        return Settings()


@pytest.fixture(scope="module")
def runtime() -> AsteriskRuntime:
    found = find_runtime(_settings())
    if found is None:
        pytest.fail("no Asterisk runtime is installed: run `.venv/bin/hotline install` as root first")
    if found.kind == "chroot" and os.geteuid() != 0:
        pytest.fail("starting the chroot Asterisk needs root (chroot and mount)")
    return found


def write_minimal_config(layout: InstanceLayout, extra_modules: str = "") -> None:
    layout.create()
    # astmoddir, astdatadir and astvarlibdir stay at Debian's defaults: modules and sounds come
    # from the package; everything the instance writes goes to its own directories.
    layout.asterisk_conf.write_text(
        "[directories]\n"
        f"astetcdir => {layout.etc}\n"
        f"astspooldir => {layout.spool}\n"
        f"astrundir => {layout.run}\n"
        f"astlogdir => {layout.log}\n"
        f"astdbdir => {layout.db}\n"
        f"astkeydir => {layout.keys}\n"
        "[options]\n"
        f"systemname => {layout.instance}\n"
    )
    loads = "".join(f"load = {m}\n" for m in MODULES)
    (layout.etc / "modules.conf").write_text(f"[modules]\nautoload = no\n{loads}{extra_modules}")
    (layout.etc / "logger.conf").write_text("[general]\n[logfiles]\nmessages.log => notice,warning,error\n")
    (layout.etc / "extensions.conf").write_text("[general]\n[default]\nexten => 600,1,Echo()\n")


def asterisk_pids_for(conf: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"asterisk") and str(conf).encode() in argv:
            pids.append(int(entry.name))
    return pids


def state_mounted(runtime: AsteriskRuntime, state_dir: Path) -> bool:
    return runtime.root / str(state_dir).lstrip("/") in runtime.mounts()


def assert_released(runtime: AsteriskRuntime, state_dir: Path) -> None:
    """Our state dir is unmounted; everything is, unless someone else's Asterisk uses the runtime."""
    assert not state_mounted(runtime, state_dir)
    if not runtime.processes():
        assert runtime.mounts() == []


@pytest.fixture
def two_instances(runtime, tmp_path):
    instances = []
    for name in ("t1", "t2"):
        layout = InstanceLayout(tmp_path, name)
        write_minimal_config(layout)
        instances.append(AsteriskInstance(runtime, layout))
    yield instances
    for instance in instances:
        instance.stop(timeout=5)
    runtime.release_mounts()


def test_given_two_layouts_when_started_from_one_runtime_then_both_answer_and_stop_cleanly(
    runtime, two_instances, tmp_path
):
    t1, t2 = two_instances
    t1.start()
    t2.start()

    assert t1.pid is not None and t2.pid is not None and t1.pid != t2.pid
    for instance in (t1, t2):
        assert runtime.version in instance.rx("core show version")
        assert f"System name:                 {instance.layout.instance}" in instance.rx("core show settings")
        assert "app_echo.so" in instance.rx("module show like echo")
        # Asterisk wrote into the state dir through the read-write bind mount.
        assert (instance.layout.log / "messages.log").exists()
    if runtime.kind == "chroot":
        probe = PROJECT_DIR / ".hotline-ro-probe"
        written = subprocess.run(runtime.command(["touch", str(probe)]), capture_output=True, check=False)
        assert written.returncode != 0, "the project checkout must be read-only inside the chroot"
        assert not probe.exists()

    t1_conf, t1_pid = t1.conf, t1.pid
    t1.stop()
    assert asterisk_pids_for(t1_conf) == []
    assert t2.is_running(), "stopping one instance must not touch the other"
    assert runtime.version in t2.rx("core show version")
    if runtime.kind == "chroot":
        assert state_mounted(runtime, tmp_path), "t2's state dir stays mounted while t2 runs"

    t2.stop()
    assert asterisk_pids_for(t2.conf) == []
    assert not t1.is_running() and not t2.is_running()
    assert t1_pid is not None and asterisk_pids_for(t1_conf) == []
    assert_released(runtime, tmp_path)


def test_given_a_killed_instance_when_started_again_then_it_boots_over_the_stale_pid_and_socket(
    runtime, two_instances, tmp_path
):
    t1, _ = two_instances
    t1.start()
    old_pid = t1.pid
    t1.kill()

    assert not t1.is_running()
    assert (t1.layout.run / "asterisk.ctl").exists(), "a crash leaves the control socket behind"
    t1.start()
    assert t1.pid not in (None, old_pid)
    assert runtime.version in t1.rx("core show version")

    restarted_from = t1.pid
    t1.restart()
    assert t1.pid not in (None, restarted_from)
    t1.stop()
    assert_released(runtime, tmp_path)


def test_given_a_required_module_that_does_not_exist_when_started_then_the_error_shows_the_log(
    runtime, tmp_path
):
    layout = InstanceLayout(tmp_path, "broken")
    write_minimal_config(layout, extra_modules="require = res_no_such_module.so\n")
    instance = AsteriskInstance(runtime, layout)

    with pytest.raises(AsteriskStartError) as raised:
        instance.start(timeout=15)

    message = str(raised.value)
    assert "'broken'" in message and "messages.log" in message
    assert "res_no_such_module" in message
    assert not instance.is_running()
    assert asterisk_pids_for(layout.asterisk_conf) == []
    assert_released(runtime, tmp_path)


def test_given_a_cli_command_when_passed_then_it_is_one_argument_not_shell(runtime, two_instances):
    t1, _ = two_instances
    t1.start()
    out = t1.rx("core show version; touch /tmp/hotline-injected")
    assert "No such command" in out or "core show version" in out
    assert not Path("/tmp/hotline-injected").exists()


# -- a fresh install, interrupted twice with kill -9 ------------------------------------------------

INSTALLER = """
import sys
from hotline.settings import load_settings
from telephony.asterisk_runtime import install_runtime
install_runtime(load_settings(), lambda line: print(line, flush=True))
"""


def _installer(root: Path, cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(PROJECT_DIR),
        HOTLINE__ASTERISK__RUNTIME="chroot",
        HOTLINE__ASTERISK__CHROOT_DIR=str(root),
    )
    env.pop("HOTLINE_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-c", INSTALLER], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )


def _kill_after(proc: subprocess.Popen[str], marker: str, delay: float) -> list[str]:
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line.rstrip())
        if marker in line:
            time.sleep(delay)
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


# A real install from the Debian mirror (about 500 MB, a minute or two): the only proof that an
# interrupted install resumes.
def test_given_kill_9_during_debootstrap_and_apt_when_run_again_then_the_install_finishes():
    # Not under pytest's tmp_path: its clean-up would delete through a mount left by a failure.
    base = Path(tempfile.mkdtemp(prefix="hotline-fresh-", dir="/var/tmp"))
    root = base / "asterisk-root"
    try:
        first = _kill_after(_installer(root, base), "debootstrap", 8)
        assert (base / "asterisk-root.partial").exists() and not root.exists(), first

        second = _kill_after(_installer(root, base), "[asterisk] installing", 5)
        assert any("removing the unfinished" in line for line in second), second

        third = _installer(root, base)
        out, _ = third.communicate(timeout=900)
        print("\n--- killed:", *first, "--- killed:", *second, "--- finished:", out, sep="\n")
        assert third.returncode == 0, out
        assert "resuming the install" in out

        runtime = find_runtime(
            Settings.model_validate({"asterisk": {"runtime": "chroot", "chroot_dir": str(root)}})
        )
        assert runtime is not None and runtime.kind == "chroot"
        check = runtime.command([runtime.agi_python, "-c", "import asterisk.agi, pydantic, yaml"])
        assert subprocess.run(check, check=False).returncode == 0
        assert not list((root / "var/cache/apt/archives").glob("*.deb"))
        assert runtime.mounts() == []
    finally:
        asterisk_install.stop_interrupted_install(root)
        for tree in (root, base / "asterisk-root.partial"):
            asterisk_mounts.unmount_below(tree)
        shutil.rmtree(base)
