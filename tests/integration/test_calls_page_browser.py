"""A supervisor's path through the calls page, in a real headless Chromium against the platform.

The page is read the way a person reads it: the text Chromium renders, the links clicked, the
page's own 10 s refresh awaited. Screenshots go to test-artifacts/screenshots/calls-*.png.

The page reloads itself every 10 s, so it is only read right after a load (its own refresh, a
click or goto): never while a reload may be under way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from agents_ui.accounts import service
from telephony.models import Call
from telephony.sipp.runner import CallerId
from tests.integration.browser import open_page, shot
from tests.integration.harness import Platform, closed_rows_since, place_calls, seat_agent

CALLER = "13800138000"
MASKED = "138****8000"
SITE_ZONE = ZoneInfo("Asia/Shanghai")  # the test platform's [site] timezone
SHOWN = "%Y-%m-%d %H:%M:%S"
REFRESH_SECONDS = 10  # <meta http-equiv="refresh"> in calls.html
SUPERVISOR_PASSWORD = "班长的密码 is long enough"


def a_supervisor(platform: Platform) -> str:
    """A supervisor account made the way `hotline user add` makes one; a fresh name per test."""
    username = f"banzhang{int(time.time() * 1000) % 10**9}"
    with platform.db.unit_of_work() as session:
        service.create_user(
            session,
            username=username,
            password=SUPERVISOR_PASSWORD,
            roles=["supervisor"],
            display_name="王班长",
        )
    return username


@pytest.fixture
def page(artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page() as opened:
        try:
            yield opened
        finally:
            # What the page showed at the end, passed or failed: the first thing to look at.
            shot(opened, f"calls-last-{request.node.name[:60]}", artifacts_dir / "screenshots")


def next_load(page: Page, timeout: float) -> None:
    """Wait for the page's own meta refresh to load the page again."""
    with page.expect_navigation(wait_until="load", timeout=timeout * 1000):
        pass


def refresh_until_row(page: Page, uniqueid: str, timeout: float = 3 * REFRESH_SECONDS) -> Locator:
    """Let the page refresh itself until the call's row shows as ended; return that row."""
    row = page.locator(f'#calls tbody tr[data-uniqueid="{uniqueid}"]')
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no ended row {uniqueid} after {timeout:.0f}s of page refreshes")
        next_load(page, min(left, REFRESH_SECONDS + 5))
        if row.count() and row.locator("td.d-in_progress").count() == 0:
            return row


def expect_current_language(page: Page, name: str, other: str) -> None:
    expect(page.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name=other, exact=True)).not_to_have_attribute("aria-current", "page")


def cells_by_header(page: Page, row: Locator) -> dict[str, str]:
    headers = [h.strip() for h in page.locator("#calls thead th").all_inner_texts()]
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert len(headers) == len(cells), (headers, cells)
    return dict(zip(headers, cells, strict=True))


def shown_time(call: Call) -> str:
    return call.started_at.astimezone(SITE_ZONE).strftime(SHOWN)


def test_given_a_supervisor_on_the_calls_page_when_a_call_is_answered_then_it_shows_masked_in_local_time(
    clean_platform: Platform, page: Page, tmp_path: Path
) -> None:
    platform = clean_platform
    username = a_supervisor(platform)

    # 0. Not logged in: the home page sends the browser to the login page, in Chinese.
    reply = page.goto(f"{platform.web}/")
    assert reply is not None and reply.status == 200
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page).to_have_title(re.compile(r"^登录 · "))
    shot(page, "calls-0-login-zh")

    # A wrong password first: a plain message, still on the login page.
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("not the password")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("用户名或密码不正确。")

    # 1. Logged in, the home page in Chinese by default: the list of calls or the empty-state text.
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(SUPERVISOR_PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{platform.web}/")
    expect(page.locator("#me")).to_contain_text("王班长")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page).to_have_title(re.compile(r"^最近来电 · "))
    expect(page.locator("h1")).to_contain_text("最近来电")
    expect(page.locator("#calls, #no-calls")).to_be_visible()  # exactly one of the two
    if page.locator("#no-calls").count():
        expect(page.locator("#no-calls")).to_have_text("还没有来电。")
    else:
        expect(page.locator("#calls thead")).to_contain_text("来电号码")
    expect(page.get_by_text("时间按时区 Asia/Shanghai")).to_be_visible()
    expect_current_language(page, "中文", "English")
    shot(page, "calls-1-home-zh")

    # 2. A citizen calls, an agent answers; the page, left open, refreshes itself and shows it.
    first = platform.last_call_id()
    with seat_agent(platform, "1001", tmp_path / "agent", hold_seconds=2) as agent:
        place_calls(
            platform,
            "carrier",
            tmp_path / "caller",
            talk_seconds=20,
            callers=[CallerId(CALLER, "张三")],
        )
        agent.wait_for(1)
    [call] = closed_rows_since(platform, first)
    assert call.disposition == "answered", (call.disposition, call.end_reason)
    assert call.caller_number == CALLER
    assert call.ivr_path == "office_hours,greeting,to_agent" and call.queue == "main"

    row = refresh_until_row(page, call.uniqueid)
    top = page.locator("#calls tbody tr").first
    expect(top).to_have_attribute("data-uniqueid", call.uniqueid)  # newest first
    shown = cells_by_header(page, row)
    assert shown["来电号码"] == MASKED
    assert shown["结果"] == "已接听"
    assert shown["语音导航路径"] == "office_hours → greeting → to_agent"
    assert shown["队列"] == "main"
    assert shown["中继"] == "carrier"
    assert "1001" in shown["坐席"]
    assert shown["来电时间"] == shown_time(call)
    assert shown["来电时间"] != call.started_at.astimezone(UTC).strftime(SHOWN)  # site time, not UTC
    assert CALLER not in page.locator("body").inner_text()
    assert CALLER not in page.content()  # nor anywhere in the markup (attributes, comments)
    shot(page, "calls-2-answered-zh")

    # 3. English on request, by the link; and back to Chinese.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="English", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]lang=en(&|$)"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_title(re.compile(r"^Recent calls · "))
    expect(page.locator("h1")).to_contain_text("Recent calls")
    expect_current_language(page, "English", "中文")
    top = page.locator("#calls tbody tr").first
    expect(top).to_have_attribute("data-uniqueid", call.uniqueid)
    shown = cells_by_header(page, top)
    assert shown["Outcome"] == "Answered"
    assert shown["Caller"] == MASKED
    assert shown["Queue"] == "main"
    assert shown["Started"] == shown_time(call)
    assert CALLER not in page.content()
    shot(page, "calls-3-answered-en")

    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="中文", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_contain_text("最近来电")
    top = page.locator("#calls tbody tr").first
    expect(top).to_have_attribute("data-uniqueid", call.uniqueid)
    expect(top.locator("td").last).to_have_text("已接听")
    shot(page, "calls-4-back-to-zh")

    # 4. The health link: the platform's JSON says every part is up.
    with page.expect_navigation(wait_until="load") as navigation:
        page.get_by_role("link", name="系统状态", exact=True).click()
    response = navigation.value
    assert response is not None and response.status == 200
    assert response.url.endswith("/healthz")
    health = json.loads(page.locator("body").inner_text())
    assert health["status"] == "ok", health
    assert all(check["ok"] for check in health["checks"].values()), health
    shot(page, "calls-5-health")

    # 5. Log out: back to the login page, and the calls page asks for a login again.
    page.go_back(wait_until="load")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"{platform.web}/calls")
    expect(page).to_have_url(re.compile(r"/login\?next=/calls$"))
    assert CALLER not in page.content()
    shot(page, "calls-6-logged-out")
