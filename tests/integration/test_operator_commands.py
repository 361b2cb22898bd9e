"""The operator's commands against the running platform: test call, config reload, status."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.harness import ROOT, Platform, closed_rows_since


def hotline(platform: Platform, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTLINE_CONFIG": str(platform.base / "hotline.toml"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_given_a_newcomer_without_a_trunk_when_they_run_hotline_call_then_a_real_call_is_reported(
    clean_platform: Platform,
) -> None:
    first = clean_platform.last_call_id()
    done = hotline(clean_platform, "call", "--answer", "--seconds", "16", "--caller-id", "13912345678")
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = closed_rows_since(clean_platform, first)
    assert row.caller_number == "13912345678" and row.disposition == "answered"
    assert f"call {row.uniqueid}: answered" in done.stdout
    assert "office_hours -> greeting -> to_agent" in done.stdout
    assert "13912345678" not in done.stdout.replace("caller 13912345678", "")  # only echoed as given


def test_given_changed_settings_when_config_is_rendered_with_reload_then_asterisk_takes_them_live(
    platform: Platform,
) -> None:
    config = platform.base / "hotline.toml"
    original = config.read_text()
    try:
        config.write_text(
            original.replace(
                'name = "second"\nstrategy = "ringall"', 'name = "second"\nstrategy = "leastrecent"'
            )
        )
        done = hotline(platform, "config", "render", "--reload")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "queues.conf" in done.stdout and "reloaded through AMI" in done.stdout
        assert "leastrecent" in platform.rx("queue show second")
    finally:
        config.write_text(original)
        hotline(platform, "config", "render", "--reload")
    assert "ringall" in platform.rx("queue show second")


def test_given_a_bad_setting_when_a_command_starts_then_it_names_the_key_and_changes_nothing(
    platform: Platform,
) -> None:
    env_bad = {
        **os.environ,
        "HOTLINE_CONFIG": str(platform.base / "hotline.toml"),
        "HOTLINE__AGI__PORT": "99999",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "config", "render"],
        cwd=ROOT,
        env=env_bad,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "agi.port" in done.stderr and "Traceback" not in done.stderr


def test_given_the_platform_when_status_is_asked_then_every_component_is_reported(platform: Platform) -> None:
    done = hotline(platform, "status")
    assert done.returncode == 0, done.stdout
    for component in ("asterisk", "ami", "agi", "database"):
        assert f'"{component}"' in done.stdout


def test_given_no_users_when_the_operator_adds_an_administrator_then_they_can_log_in(
    platform: Platform,
) -> None:
    env = {**os.environ, "HOTLINE_CONFIG": str(platform.base / "hotline.toml"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hotline.cli",
            "user",
            "add",
            "ops-admin",
            "--role",
            "administrator",
            "--name",
            "值班管理员",
            "--password-stdin",
        ],
        cwd=ROOT,
        env=env,
        input="a long enough secret\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a long enough secret" not in done.stdout + done.stderr
    import httpx

    with httpx.Client(base_url=platform.web, headers={"Origin": platform.web}) as client:
        refused = client.post("/api/session", json={"username": "ops-admin", "password": "wrong password!"})
        assert refused.status_code == 401
        accepted = client.post(
            "/api/session", json={"username": "ops-admin", "password": "a long enough secret"}
        )
        assert accepted.status_code == 200, accepted.text
        assert client.get("/api/users").status_code == 200
    weak = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "user", "add", "weak", "--role", "agent", "--password-stdin"],
        cwd=ROOT,
        env=env,
        input="short\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert weak.returncode == 2 and "not added" in weak.stdout
