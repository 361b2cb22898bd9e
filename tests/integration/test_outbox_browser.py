"""An administrator on the outbox page, in real headless Chromium against the running platform:
a webhook to the grid platform was given up (the receiver was down), the administrator finds it
among the dead messages, reads its delivery log, and — the receiver back — sends it again; it
arrives once. Screenshots: test-artifacts/screenshots/outbox-*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from agents_ui.accounts import service as accounts
from case_bridge import service
from case_bridge.lifecycle import Party
from case_bridge.models import CaseSource, DeliveryAttempt, OutboxMessage, OutboxStatus
from case_bridge.timeline import Actor
from hotline.db import utcnow
from tests.integration.browser import open_page, shot
from tests.integration.case_receiver import case_receiver
from tests.integration.harness import HOOK_PORT, HOOK_SECRET, Platform, poll

PASSWORD = "发件箱管理员的密码 long enough"


@pytest.fixture
def page(artifacts_dir: Path) -> Iterator[Page]:
    with open_page() as opened:
        try:
            yield opened
        finally:
            shot(opened, "outbox-last", artifacts_dir / "screenshots")


def test_given_a_dead_webhook_when_the_administrator_retries_it_on_the_page_then_it_arrives_once(
    platform: Platform, page: Page, artifacts_dir: Path
) -> None:
    admin = f"outbox{int(time.time() * 1000) % 10**8}"
    with platform.db.unit_of_work() as session:
        accounts.create_user(
            session, username=admin, password=PASSWORD, roles=["administrator"], display_name="周管理"
        )
        case, _ = service.create_case(
            session,
            service.NewCase(source=CaseSource.PHONE, content="暴露垃圾 rubbish", category_code="rubbish"),
            actor=Actor("agent-it", Party.HOTLINE),
            settings=platform.settings,
        )
        number = case.number
        # The outbox tried while nobody listened and gave up: as after its last attempt.
        dispatch = session.scalars(
            select(OutboxMessage).where(OutboxMessage.case_id == case.id, OutboxMessage.event == "dispatch")
        ).one()
        dispatch.status = OutboxStatus.DEAD
        dispatch.attempts = 12
        dispatch.last_error = "connection refused"
        session.add(
            DeliveryAttempt(
                message_id=dispatch.id,
                at=utcnow() - timedelta(minutes=5),
                ok=False,
                detail="connection refused",
            )
        )
        dead_id = dispatch.id

    page.goto(f"{platform.web}/login?next=/admin/outbox")
    page.get_by_label("用户名").fill(admin)
    page.get_by_label("密码").fill(PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="登录").click()
    expect(page.locator("h1")).to_contain_text("消息发送队列")

    page.locator('select[name="status"]').select_option("dead")
    page.locator('input[name="case"]').fill(number)
    page.get_by_role("button", name="筛选").click()
    row = page.locator(f'#messages tbody tr[data-message-id="{dead_id}"]')
    expect(row).to_contain_text("已放弃")
    expect(row).to_contain_text("connection refused")
    row.get_by_role("button", name="发送记录").click()
    expect(page.locator(f'tr.log[data-message-id="{dead_id}"]')).to_contain_text("connection refused")
    shot(page, "outbox-dead", artifacts_dir / "screenshots")

    with case_receiver(HOOK_PORT, HOOK_SECRET) as grid:
        row.get_by_role("button", name="重新发送").click()
        expect(page.locator("#status")).to_contain_text("已重新排队")
        poll(
            "the retried dispatch at the grid platform", lambda: "case.dispatch" in grid.events_of(number), 20
        )
        poll(
            "the message marked sent",
            lambda: _status(platform, dead_id) == OutboxStatus.SENT,
            20,
        )
        page.locator('select[name="status"]').select_option("sent")
        page.get_by_role("button", name="筛选").click()
        expect(page.locator(f'#messages tbody tr[data-message-id="{dead_id}"]')).to_contain_text("已发送")
        shot(page, "outbox-sent", artifacts_dir / "screenshots")
        time.sleep(2)  # the outbox keeps running: the retried message must not come twice
        assert grid.events_of(number).count("case.dispatch") == 1


def _status(platform: Platform, message_id: int) -> str | None:
    with platform.db.unit_of_work() as session:
        row = session.get(OutboxMessage, message_id)
        return row.status if row else None
