"""An administrator's path through the Users page, in a real headless Chromium against the platform:
make a team (班组), put an agent in it, set the agent's queues with the skills editor, and find the
team refuse to be deleted while the agent is in it. What the page did is checked through the API
and in the database. Screenshots go to test-artifacts/screenshots/users-admin-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from agents_ui.accounts import service
from agents_ui.accounts.models import AgentSkill, AuditEntry, Team, User
from tests.integration.browser import open_page, shot
from tests.integration.harness import DESK_QUEUE, Platform

ADMIN_PASSWORD = "管理员的密码 is long enough"
AGENT_PASSWORD = "坐席的密码 is long enough"


def accounts(platform: Platform) -> tuple[str, str, str]:
    """(administrator, agent, team name): fresh names per test, made as `hotline user add` makes them."""
    stamp = int(time.time() * 1000) % 10**8
    admin, agent = f"admin{stamp}", f"zuoxi{stamp}"
    with platform.db.unit_of_work() as session:
        service.create_user(
            session, username=admin, password=ADMIN_PASSWORD, roles=["administrator"], display_name="李管理"
        )
        service.create_user(
            session,
            username=agent,
            password=AGENT_PASSWORD,
            roles=["agent"],
            display_name="王坐席",
            extension=f"7{stamp % 1000:03d}",
        )
    return admin, agent, f"一班{stamp}"


@pytest.fixture
def page(artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page() as opened:
        try:
            yield opened
        finally:
            shot(opened, f"users-admin-last-{request.node.name[:60]}", artifacts_dir / "screenshots")


def submit(page: Page, button: Locator) -> None:
    """Click a form's button and wait for the redirect back to the Users page to load."""
    with page.expect_navigation(wait_until="load"):
        button.click()


def skill(row: Locator, queue: str) -> tuple[Locator, Locator]:
    line = row.locator(f'.skill[data-queue="{queue}"]')
    return line.get_by_role("checkbox"), line.locator('input[name="penalty"]')


def test_given_an_admin_on_the_users_page_when_they_make_a_team_and_set_an_agents_skills_then_both_are_stored(
    platform: Platform, page: Page
) -> None:
    admin, agent, team_name = accounts(platform)

    # 0. Log in; the Users page in Chinese, with its Teams section still empty of this team.
    page.goto(f"{platform.web}/users")
    expect(page).to_have_url(re.compile(r"/login\?next=/users$"))
    page.get_by_label("用户名").fill(admin)
    page.get_by_label("密码").fill(ADMIN_PASSWORD)
    submit(page, page.get_by_role("button", name="登录"))
    expect(page).to_have_url(f"{platform.web}/users")
    expect(page.locator("h1")).to_contain_text("用户管理")
    expect(page.locator("#teams h2")).to_have_text("班组")
    expect(page.locator("#teams")).to_contain_text("班长只能查看本班组成员接听的来电")
    shot(page, "users-admin-0-page")

    # 1. A new team, by its form.
    new_team = page.locator("#new-team")
    new_team.get_by_label("班组名称").fill(team_name)
    new_team.get_by_label("显示名称（可不填）").fill("受理一班")
    submit(page, new_team.get_by_role("button", name="创建"))
    expect(page.locator("#done")).to_have_text("班组已创建。")
    team_row = page.locator(f'#team-list tr[data-team="{team_name}"]')
    expect(team_row.locator(".members")).to_have_text("0")
    shot(page, "users-admin-1-team-created")

    # 2. The agent into the team: the row's team selector, then the row's Save.
    row = page.locator(f'#users tr[data-username="{agent}"]')
    user_form = row.locator("form.user-form")
    user_form.get_by_label("班组").select_option(label="受理一班")
    submit(page, user_form.get_by_role("button", name="保存"))
    expect(page.locator("#done")).to_have_text("已保存。")
    expect(row.locator("form.user-form").get_by_label("班组")).to_have_value(re.compile(r"^\d+$"))
    expect(team_row.locator(".members")).to_have_text("1")
    shot(page, "users-admin-2-agent-in-team")

    # 3. Skills: no rows yet, so the editor shows the main queue the agent answers today. Add the
    #    desk queue first (penalty 0), main after it (penalty 5); saved by the page's script.
    main_box, main_penalty = skill(row, "main")
    desk_box, desk_penalty = skill(row, DESK_QUEUE)
    expect(main_box).to_be_checked()
    expect(desk_box).not_to_be_checked()
    expect(desk_penalty).to_be_disabled()
    desk_box.check()
    expect(desk_penalty).to_be_enabled()
    desk_penalty.fill("0")
    main_penalty.fill("5")
    row.get_by_role("button", name="保存技能").click()
    status = row.locator(".skills-status")
    expect(status).to_have_text("技能已保存，坐席下次签入时生效。")
    expect(status).to_have_attribute("data-state", "saved")
    shot(page, "users-admin-3-skills-saved")

    # A penalty out of range is caught before anything is sent.
    desk_penalty.fill("101")
    row.get_by_role("button", name="保存技能").click()
    expect(status).to_have_text("优先级须为 0 到 100 之间的整数。")
    desk_penalty.fill("0")

    # 4. The team cannot be deleted while the agent is in it; the page says what to do.
    submit(page, team_row.get_by_role("button", name="删除"))
    expect(page.locator("#error")).to_contain_text("该班组还有成员，不能删除。")
    expect(team_row).to_be_visible()
    shot(page, "users-admin-4-delete-refused")

    # 5. Reloaded, in English: the team, the agent's team and skills are as saved.
    page.goto(f"{platform.web}/users?lang=en")
    row = page.locator(f'#users tr[data-username="{agent}"]')
    expect(page.locator("#teams h2")).to_have_text("Teams")
    expect(row.locator("form.user-form").get_by_label("Team")).to_have_value(re.compile(r"^\d+$"))
    main_box, main_penalty = skill(row, "main")
    desk_box, desk_penalty = skill(row, DESK_QUEUE)
    expect(main_box).to_be_checked()
    expect(main_penalty).to_have_value("5")
    expect(desk_box).to_be_checked()
    expect(desk_penalty).to_have_value("0")
    expect(skill(row, "second")[0]).not_to_be_checked()
    expect(row.get_by_role("button", name="Save skills")).to_be_visible()
    row.scroll_into_view_if_needed()
    shot(page, "users-admin-5-reloaded-en")

    # 6. What the API and the database hold.
    users = {u["username"]: u for u in page.request.get(f"{platform.web}/api/users").json()}
    teams = {t["name"]: t for t in page.request.get(f"{platform.web}/api/teams").json()}
    team = teams[team_name]
    assert (team["display_name"], team["members"]) == ("受理一班", 1)
    assert users[agent]["team_id"] == team["id"]
    with platform.db.unit_of_work() as session:
        agent_id = session.scalars(select(User.id).where(User.username == agent)).one()
        stored = {
            s.queue: s.penalty
            for s in session.scalars(select(AgentSkill).where(AgentSkill.user_id == agent_id))
        }
        assert session.scalars(select(Team.display_name).where(Team.id == team["id"])).one() == "受理一班"
        trail = [
            (e.action, e.outcome)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.actor == admin, AuditEntry.action != "login")
                .order_by(AuditEntry.id)
            )
        ]
    assert stored == {"main": 5, DESK_QUEUE: 0}
    assert trail == [
        ("team.create", "ok"),
        ("user.update", "ok"),
        ("user.skills", "ok"),
        ("team.delete", "invalid"),
    ]

    # 7. Every queue unticked: saved as "no skills", and the editor shows the main queue again.
    main_box.uncheck()
    desk_box.uncheck()
    row.get_by_role("button", name="Save skills").click()
    expect(row.locator(".skills-status")).to_have_text(
        "Saved: no queue ticked, so the agent answers the main queue."
    )
    expect(main_box).to_be_checked()
    expect(desk_box).not_to_be_checked()
    with platform.db.unit_of_work() as session:
        assert session.scalars(select(AgentSkill).where(AgentSkill.user_id == agent_id)).all() == []
    shot(page, "users-admin-6-skills-cleared-en")
