"""Given `hotline run`, when it has started, then every component reports healthy."""

from __future__ import annotations

import httpx

from tests.integration.harness import Platform


def test_given_hotline_run_when_started_then_healthz_reports_every_component_ok(platform: Platform) -> None:
    health = platform.health()
    assert health["status"] == "ok", health
    assert set(health["checks"]) == {"asterisk", "ami", "agi", "seats", "database", "recordings"}
    assert all(check["ok"] for check in health["checks"].values())
    # The recording workers run beside the rest: recorder, transcription and their clock.
    for component in ("recorder", "asr", "beat"):
        assert platform.component_pid(component) > 0


def test_given_the_platform_when_asterisk_is_asked_then_our_generated_config_is_live(
    platform: Platform,
) -> None:
    endpoints = platform.rx("pjsip show endpoints")
    assert "carrier" in endpoints and "seat1001" in endpoints
    assert "anonymous" not in endpoints
    queues = platform.rx("queue show main")
    assert "main has 0 calls" in queues
    assert "hotline-fallback" in platform.rx("dialplan show hotline-fallback")


def test_given_the_platform_when_the_calls_page_is_opened_then_it_asks_for_a_login_in_chinese(
    platform: Platform,
) -> None:
    page = httpx.get(f"{platform.web}/", timeout=5, follow_redirects=True)
    assert page.status_code == 200
    assert page.url.path == "/login"
    assert "登录" in page.text
