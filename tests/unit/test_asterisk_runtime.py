"""The Asterisk runtime's pure logic: versions, mirrors, argv wrapping, mounts and install stages.

Nothing here mounts, chroots or needs root.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from asterisk_conf.layout import InstanceLayout
from hotline.settings import AsteriskSettings, Settings
from telephony import asterisk_install, asterisk_runtime
from telephony.asterisk_install import RootState, Stage, choose_mirror, pending_stages
from telephony.asterisk_mounts import (
    MountError,
    mounts_below,
    parse_mountinfo,
    path_in_root,
    plan_mounts,
)
from telephony.asterisk_runtime import (
    AsteriskInstance,
    AsteriskRuntime,
    AsteriskRuntimeError,
    find_runtime,
    parse_version,
    version_string,
)

DEBIAN_OUT = "Asterisk 22.10.1+dfsg+~cs6.17.60671434-1"


# -- versions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DEBIAN_OUT + "\n", (22, 10, 1)),
        ("Asterisk 20.5.2~dfsg+~cs6.13.40431414-2ubuntu1", (20, 5, 2)),
        ("Asterisk 18.10.0~dfsg+~cs6.10.40431411-2", (18, 10, 0)),
        ("Asterisk certified/20.7-cert1", (20, 7, 0)),
        ("Asterisk 21", (21, 0, 0)),
        ("Asterisk GIT-master-a1b2c3d", None),
        ("", None),
    ],
)
def test_given_asterisk_v_output_when_parsed_then_major_minor_patch(text, expected):
    assert parse_version(text) == expected


def test_given_debian_version_output_then_the_version_word_is_kept_whole():
    assert version_string(DEBIAN_OUT) == "22.10.1+dfsg+~cs6.17.60671434-1"


def _fake_asterisk(tmp_path: Path, output: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "asterisk"
    script.write_text(f"#!/bin/sh\necho '{output}'\n")
    script.chmod(0o755)
    return bin_dir


def _settings(runtime: str, chroot_dir: Path) -> Settings:
    return Settings(asterisk=AsteriskSettings(runtime=runtime, chroot_dir=chroot_dir))


def _fake_chroot(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/asterisk").touch()
    (root / ".hotline-runtime.json").write_text(
        '{"suite": "sid", "mirror": "http://deb.debian.org/debian", "asterisk_version": "22.10.1",'
        ' "packages": {"asterisk": "1:22.10.1"}, "agi_python": "/opt/hotline-agi/bin/python",'
        ' "agi_packages": {}, "installed_at": "2026-01-01T00:00:00Z"}'
    )
    return root


def test_given_system_asterisk_21_when_auto_then_system_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(_fake_asterisk(tmp_path, "Asterisk 21.4.0")))
    runtime = find_runtime(_settings("auto", _fake_chroot(tmp_path)))
    assert runtime is not None
    assert (runtime.kind, runtime.root, runtime.version) == ("system", Path("/"), "21.4.0")
    assert runtime.asterisk_bin == str(tmp_path / "bin/asterisk")


def test_given_system_asterisk_18_when_auto_then_the_chroot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(_fake_asterisk(tmp_path, "Asterisk 18.10.0")))
    runtime = find_runtime(_settings("auto", _fake_chroot(tmp_path)))
    assert runtime is not None
    assert (runtime.kind, runtime.version) == ("chroot", "22.10.1")


def test_given_system_asterisk_18_when_system_required_then_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(_fake_asterisk(tmp_path, "Asterisk 18.10.0")))
    assert find_runtime(_settings("system", _fake_chroot(tmp_path))) is None


def test_given_chroot_without_marker_then_not_a_runtime(tmp_path, monkeypatch):
    monkeypatch.setattr(asterisk_runtime, "system_runtime", lambda: None)
    root = _fake_chroot(tmp_path)
    (root / ".hotline-runtime.json").unlink()
    assert find_runtime(_settings("chroot", root)) is None


def test_given_garbled_marker_then_not_a_runtime(tmp_path):
    root = _fake_chroot(tmp_path)
    (root / ".hotline-runtime.json").write_text('{"suite": "sid"')
    assert find_runtime(_settings("chroot", root)) is None


# -- argv wrapping -----------------------------------------------------------------------------------


def test_given_chroot_runtime_then_argv_runs_inside_the_root():
    runtime = AsteriskRuntime("chroot", Path("/srv/root"), "22.10.1", "/usr/sbin/asterisk")
    argv = runtime.asterisk("-C", "/var/x/asterisk.conf", "-rx", "core show version")
    assert Path(argv[0]).name == "chroot"
    assert argv[1:] == [
        "/srv/root",
        "/usr/sbin/asterisk",
        "-C",
        "/var/x/asterisk.conf",
        "-rx",
        "core show version",
    ]
    assert runtime.agi_python == "/opt/hotline-agi/bin/python"
    assert runtime.env()["PATH"].startswith("/usr/local/sbin")
    assert "VIRTUAL_ENV" not in runtime.env()


def test_given_system_runtime_then_argv_is_unchanged_and_mounts_do_nothing(tmp_path):
    runtime = AsteriskRuntime("system", Path("/"), "21.4.0", "/usr/sbin/asterisk")
    assert runtime.command(["asterisk", "-V"]) == ["asterisk", "-V"]
    assert runtime.agi_python == sys.executable
    runtime.ensure_mounts(tmp_path / "state", tmp_path / "project")
    assert not (tmp_path / "state").exists()
    assert runtime.release_mounts() is True
    assert runtime.mounts() == []


def test_given_cli_command_with_newline_then_refused_before_anything_runs(tmp_path):
    runtime = AsteriskRuntime("chroot", Path("/nonexistent"), "22.10.1")
    instance = AsteriskInstance(runtime, InstanceLayout(tmp_path, "t1"))
    with pytest.raises(ValueError, match="single line"):
        instance.rx("core show version\nmodule unload chan_pjsip.so")


def test_given_pid_file_of_another_process_then_instance_is_not_running(tmp_path):
    layout = InstanceLayout(tmp_path, "t1")
    layout.run.mkdir(parents=True)
    (layout.run / "asterisk.pid").write_text(f"{os.getpid()}\n")  # pytest, not Asterisk
    instance = AsteriskInstance(AsteriskRuntime("system", Path("/"), "21.0.0"), layout)
    assert instance.pid is None
    assert not instance.is_running()


def test_given_no_log_file_then_the_tail_says_why(tmp_path):
    instance = AsteriskInstance(
        AsteriskRuntime("system", Path("/"), "21.0.0"), InstanceLayout(tmp_path, "t1")
    )
    assert "messages.log" in instance.log_tail()


# -- mirrors -----------------------------------------------------------------------------------------

HOST_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_given_deb822_host_sources_then_the_archive_mirror_not_security():
    assert choose_mirror("", [HOST_SOURCES]) == "http://deb.debian.org/debian"


def test_given_security_listed_first_then_still_the_archive_mirror():
    security_first = HOST_SOURCES.split("\n\n")[1] + "\n\n" + HOST_SOURCES.split("\n\n")[0]
    assert choose_mirror("", [security_first]) == "http://deb.debian.org/debian"


def test_given_one_line_sources_with_options_then_its_uri():
    text = (
        "# deb http://old.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/etc/k.gpg] https://mirrors.example.cn/debian/ bookworm main\n"
    )
    assert choose_mirror(text, []) == "https://mirrors.example.cn/debian"


def test_given_disabled_stanza_then_it_is_skipped():
    disabled = "Types: deb\nEnabled: no\nURIs: http://disabled.example/debian\nSuites: bookworm\n"
    assert choose_mirror("", [disabled, HOST_SOURCES]) == "http://deb.debian.org/debian"


def test_given_ubuntu_host_then_debians_own_mirror():
    ubuntu = "Types: deb\nURIs: http://archive.ubuntu.com/ubuntu\nSuites: noble noble-updates\n"
    assert choose_mirror("", [ubuntu]) == "http://deb.debian.org/debian"


def test_given_apt_directory_then_files_of_both_formats_are_read(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(
        HOST_SOURCES.replace("deb.debian.org", "m.example")
    )
    (tmp_path / "sources.list.d/google.list.disabled").write_text("deb http://x.example/debian stable main\n")
    assert asterisk_install.host_mirror(tmp_path) == "http://m.example/debian"


# -- install stages ----------------------------------------------------------------------------------

FRESH = RootState(complete=False, root_exists=False, partial_exists=False, packages_ok=False, venv_ok=False)


def test_given_nothing_installed_then_every_stage_in_order():
    assert pending_stages(FRESH) == [
        Stage.DEBOOTSTRAP,
        Stage.CONFIGURE,
        Stage.PACKAGES,
        Stage.AGI_VENV,
        Stage.CLEAN,
        Stage.MARKER,
    ]


def test_given_an_interrupted_debootstrap_then_it_is_discarded_and_redone():
    stages = pending_stages(
        RootState(False, root_exists=False, partial_exists=True, packages_ok=False, venv_ok=False)
    )
    assert stages[:2] == [Stage.DISCARD_PARTIAL, Stage.DEBOOTSTRAP]


def test_given_hand_built_root_with_asterisk_but_no_python_then_packages_and_venv():
    # dpkg reports python3 missing, so packages_ok is False even though asterisk is there.
    state = RootState(False, root_exists=True, partial_exists=False, packages_ok=False, venv_ok=False)
    assert pending_stages(state) == [
        Stage.CONFIGURE,
        Stage.PACKAGES,
        Stage.AGI_VENV,
        Stage.CLEAN,
        Stage.MARKER,
    ]


def test_given_killed_during_pip_then_only_the_venv_is_redone():
    state = RootState(False, root_exists=True, partial_exists=False, packages_ok=True, venv_ok=False)
    assert pending_stages(state) == [Stage.CONFIGURE, Stage.AGI_VENV, Stage.CLEAN, Stage.MARKER]


def test_given_killed_before_the_marker_then_only_clean_and_marker():
    state = RootState(False, root_exists=True, partial_exists=False, packages_ok=True, venv_ok=True)
    assert pending_stages(state) == [Stage.CONFIGURE, Stage.CLEAN, Stage.MARKER]


def test_given_marker_present_then_nothing_to_do():
    assert pending_stages(RootState(True, True, False, True, True)) == []


def test_given_not_root_when_installing_then_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(asterisk_install, "system_runtime", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(AsteriskRuntimeError, match="needs root"):
        asterisk_install.install_runtime(_settings("auto", tmp_path / "root"), print)


def test_given_system_required_but_missing_when_installing_then_it_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr(asterisk_install, "system_runtime", lambda: None)
    with pytest.raises(AsteriskRuntimeError, match="package manager"):
        asterisk_install.install_runtime(_settings("system", tmp_path / "root"), print)


# -- mounts ------------------------------------------------------------------------------------------

MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
101 27 0:21 / /srv/root/proc rw,relatime - proc proc rw
102 27 0:6 / /srv/root/dev rw,relatime - devtmpfs devtmpfs rw
103 27 254:0 /work/my\\040state /srv/root/work/my\\040state rw,relatime - ext4 /dev/vda rw
104 27 254:0 /work/main /srv/root/work/main ro,relatime - ext4 /dev/vda rw
"""


def test_given_mountinfo_then_escaped_paths_and_read_only_flags():
    entries = parse_mountinfo(MOUNTINFO)
    assert entries[3].mount_point == Path("/srv/root/work/my state")
    assert entries[4].read_only and not entries[3].read_only
    assert entries[1].fstype == "proc"


def test_given_mounts_under_a_root_then_deepest_first_and_root_excluded():
    below = mounts_below(Path("/srv/root"), parse_mountinfo(MOUNTINFO))
    assert Path("/") not in [m.mount_point for m in below]
    assert below[0].mount_point.parts[-2:] in {("work", "my state"), ("work", "main")}
    assert [m.mount_point for m in below][-2:] in (
        [Path("/srv/root/proc"), Path("/srv/root/dev")],
        [Path("/srv/root/dev"), Path("/srv/root/proc")],
    )


def test_given_state_inside_the_checkout_then_the_checkout_is_mounted_first(tmp_path):
    root = tmp_path / "root"
    specs = plan_mounts(root, Path("/work/main/var"), Path("/work/main"))
    assert [(s.source, s.target, s.read_only) for s in specs[2:]] == [
        ("/work/main", root / "work/main", True),
        ("/work/main/var", root / "work/main/var", False),
    ]
    assert {s.fstype for s in specs[:2]} == {"proc", "bind"}


def test_given_state_dir_equal_to_checkout_then_refused(tmp_path):
    with pytest.raises(MountError, match="both"):
        plan_mounts(tmp_path, Path("/work/main"), Path("/work/main"))


def test_given_path_through_an_absolute_link_in_the_root_then_refused(tmp_path):
    # Debian's /var/run -> /run: followed on the host it would mount onto the host's own /run.
    (tmp_path / "var").mkdir()
    (tmp_path / "var/run").symlink_to("/run")
    with pytest.raises(MountError, match="symbolic link"):
        path_in_root(tmp_path, Path("/var/run/hotline"))
    with pytest.raises(MountError, match="absolute"):
        path_in_root(tmp_path, Path("var/lib"))
    assert path_in_root(tmp_path, Path("/var/lib/hotline")) == tmp_path / "var/lib/hotline"
