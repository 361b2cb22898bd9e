"""Web seats for the integration tests: accounts with extensions, and a logged-in browser page."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import redis
from playwright.sync_api import Page

from agents_ui.accounts import service
from telephony import seat_bus
from telephony.sipp.runner import CallerId
from tests.integration.harness import REDIS_PORT, Platform, place_calls, poll

SEAT_PASSWORD = "坐席的密码 long enough"


def redis_client() -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=REDIS_PORT, decode_responses=True, socket_timeout=5)


def seat_state(username: str) -> dict[str, Any] | None:
    raw = redis_client().hget(seat_bus.AGENTS_HASH, username)
    return json.loads(raw) if raw else None


def add_seat_user(
    platform: Platform, username: str, extension: str, *roles: str, skills: dict[str, int]
) -> None:
    """An account with a softphone; returns once Asterisk knows its endpoint and the board its seat."""
    with platform.db.unit_of_work() as session:
        user = service.create_user(
            session,
            username=username,
            password=SEAT_PASSWORD,
            roles=list(roles),
            display_name=f"{username} 坐席",
            extension=extension,
        )
        if skills:
            service.set_skills(session, user_id=user.id, skills=skills, actor=service.CLI)
    redis_client().publish(seat_bus.CONFIG_CHANNEL, "agents")
    poll(
        f"endpoint seat{extension} in Asterisk",
        lambda: (
            ("Unable to find" not in (out := platform.rx(f"pjsip show endpoint seat{extension}")) and out)
            or None
        ),
        timeout=20,
    )
    poll(f"{username}'s seat on the board", lambda: seat_state(username), timeout=20)


def log_in(page: Page, web: str, username: str, next_path: str) -> None:
    page.goto(f"{web}/login?next={next_path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(SEAT_PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="登录").click()


class CallInBackground:
    """A sipp caller on a trunk (``desk`` unless told), talking for ``seconds`` unless the agent
    hangs up first, in a thread of its own while the test drives the browsers."""

    def __init__(
        self,
        platform: Platform,
        work: Path,
        seconds: float,
        *,
        caller: str,
        trunk: str = "desk",
        text: str = "我家门口的路灯坏了",
    ) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = place_calls(
                    platform, trunk, work, callers=[CallerId(caller)], text=text, talk_seconds=seconds
                )
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run, name=f"{trunk}-caller", daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the sipp caller did not finish"
        if self.error is not None:
            raise AssertionError(f"the sipp caller failed: {self.error!r}") from self.error
