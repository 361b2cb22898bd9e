"""An administrator on the case-catalogue page, in real headless Chromium against the running
platform: adds a department, adds a category under 城市管理部件 with its time limits and that
department, adds a routing rule for a grid prefix, asks the route tester where a case at that grid
goes (there, by that rule) and where one elsewhere goes (the default), makes a department-staff
user a member, and finds a used department refuse to be deleted. After a reload the page shows what
was saved; the database, routing and the audit log agree. Screenshots:
test-artifacts/screenshots/catalogue-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from agents_ui.accounts import service as accounts
from agents_ui.accounts.models import AuditEntry
from case_bridge import catalogue
from case_bridge.departments import departments_of
from tests.integration.browser import open_page, shot
from tests.integration.harness import Platform

ADMIN_PASSWORD = "目录管理员的密码 is long enough"
STAFF_PASSWORD = "部门人员的密码 is long enough"


@pytest.fixture
def page(artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page() as opened:
        try:
            yield opened
        finally:
            shot(opened, f"catalogue-last-{request.node.name[:60]}", artifacts_dir / "screenshots")


def test_given_an_admin_on_the_catalogue_page_when_they_add_and_route_a_branch_then_page_and_routing_agree(
    platform: Platform, page: Page
) -> None:
    # Fresh names per run: the platform (and its catalogue) lives for the whole session.
    stamp = int(time.time() * 1000) % 10**8
    admin, staff = f"mulu{stamp}", f"bumen{stamp}"
    department, category, grid = f"lighting_{stamp}", f"lamp_tilted_{stamp}", f"Z{stamp}"
    with platform.db.unit_of_work() as session:
        accounts.create_user(
            session, username=admin, password=ADMIN_PASSWORD, roles=["administrator"], display_name="钱管理"
        )
        staff_id = accounts.create_user(
            session,
            username=staff,
            password=STAFF_PASSWORD,
            roles=["department_staff"],
            display_name="孙部门",
        ).id

    # 0. Log in; the catalogue page in Chinese, the shipped departments listed.
    page.goto(f"{platform.web}/admin/catalogue")
    expect(page).to_have_url(re.compile(r"/login\?next=/admin/catalogue$"))
    page.get_by_label("用户名").fill(admin)
    page.get_by_label("密码").fill(ADMIN_PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="登录").click()
    expect(page.locator("h1")).to_contain_text("工单目录管理")
    expect(page.locator('#departments tr[data-code="city_management"]')).to_be_visible()
    shot(page, "catalogue-0-page")

    # 1. A department, by its form.
    departments = page.locator("#departments")
    new_department = page.locator("#new-department")
    new_department.get_by_label("编码").fill(department)
    new_department.get_by_label("名称", exact=True).fill("路灯管理所")
    new_department.get_by_label("英文名称").fill("Street Lighting Office")
    new_department.get_by_role("button", name="添加").click()
    expect(departments.locator(".message")).to_have_text("承办单位已添加。")
    department_row = departments.locator(f'tr[data-code="{department}"]')
    expect(department_row.locator("td.state")).to_have_text("启用")
    shot(page, "catalogue-1-department-added")

    # 2. A category under 城市管理部件 with its limits and the new department as its default.
    categories = page.locator("#categories")
    new_category = page.locator("#new-category")
    new_category.get_by_label("上级分类").select_option("city_component")
    new_category.get_by_label("编码").fill(category)
    new_category.get_by_label("名称", exact=True).fill("灯杆倾斜")
    new_category.get_by_label("类型").select_option("component")
    new_category.get_by_label("办理时限（工作日）").fill("2")
    new_category.get_by_label("紧急时限（小时）").fill("6")
    new_category.get_by_label("默认承办单位").select_option(department)
    new_category.get_by_role("button", name="添加").click()
    expect(categories.locator(".message")).to_have_text("分类已添加。")
    category_row = categories.locator(f'tr.category[data-code="{category}"]')
    expect(category_row.get_by_label("上级分类")).to_have_value("city_component")
    category_row.scroll_into_view_if_needed()
    shot(page, "catalogue-2-category-added")

    # 3. A routing rule: street lights in the grid cells starting with the prefix go to the new
    #    department (elsewhere street lights keep going to their default, 城市管理局).
    rules = page.locator("#rules")
    new_rule = page.locator("#new-rule")
    new_rule.get_by_label("分类").select_option("street_light")
    new_rule.get_by_label("网格编码前缀").fill(f" {grid} ")
    new_rule.get_by_label("承办单位").select_option(department)
    new_rule.get_by_label("备注").fill("试点网格的路灯由路灯管理所负责")
    new_rule.get_by_role("button", name="添加").click()
    expect(rules.locator(".message")).to_have_text("规则已添加。")
    rule_row = rules.locator(f'tr[data-grid="{grid}"]')  # the prefix was stored without the spaces
    expect(rule_row).to_contain_text("路灯管理所")
    rule_id = rule_row.get_attribute("data-rule-id")
    rule_row.scroll_into_view_if_needed()
    shot(page, "catalogue-3-rule-added")

    # 4. The route tester: a street light in that grid goes to the new department, by the rule...
    tester = page.locator("#tester-form")
    result = page.locator("#tester-result")
    tester.get_by_label("分类").select_option("street_light")
    tester.get_by_label("网格编码").fill(f"{grid}0012")
    tester.get_by_role("button", name="测试").click()
    expect(result).to_have_attribute("data-decided-by", "rule")
    expect(result).to_have_attribute("data-department", department)
    expect(result.locator(".goes-to")).to_have_text(f"派往：路灯管理所 ({department})")
    expect(result.locator(".why")).to_contain_text(f"规则 #{rule_id}")
    expect(result.locator(".why")).to_contain_text(f"网格编码以“{grid}”开头")
    shot(page, "catalogue-4-tester-rule")
    # ... one elsewhere to the category's default; and the new category anywhere to its default.
    tester.get_by_label("网格编码").fill("E0101")
    tester.get_by_role("button", name="测试").click()
    expect(result).to_have_attribute("data-decided-by", "default")
    expect(result).to_have_attribute("data-department", "city_management")
    tester.get_by_label("分类").select_option(category)
    tester.get_by_role("button", name="测试").click()
    expect(result).to_have_attribute("data-department", department)
    expect(result.locator(".why")).to_contain_text("灯杆倾斜")

    # 5. The department-staff user serves the new department.
    members = page.locator("#members")
    member_row = members.locator(f'tr[data-username="{staff}"]')
    member_row.locator(f'label[data-department="{department}"] input').check()
    member_row.get_by_role("button", name="保存").click()
    expect(members.locator(".message")).to_have_text("所属单位已保存。")
    member_row.scroll_into_view_if_needed()
    shot(page, "catalogue-5-member-saved")

    # 6. The department cannot be deleted while a rule and a category name it: the page says why.
    page.once("dialog", lambda dialog: dialog.accept())
    department_row.get_by_role("button", name="删除").click()
    expect(departments.locator(".message")).to_contain_text("未保存：")
    expect(departments.locator(".message")).to_contain_text("point them elsewhere first")
    expect(department_row).to_be_visible()
    departments.locator(".message").scroll_into_view_if_needed()
    shot(page, "catalogue-6-delete-refused")

    # 7. Reloaded: every list shows what was saved.
    page.reload()
    department_row = page.locator(f'#departments tr[data-code="{department}"]')
    expect(department_row.locator("td.uses")).to_have_text("在办工单 0 · 人员 1 · 规则 1 · 默认分类 1")
    category_row = page.locator(f'#categories tr.category[data-code="{category}"]')
    expect(category_row.get_by_label("办理时限（工作日）")).to_have_value("2")
    expect(category_row.get_by_label("紧急时限（小时）")).to_have_value("6")
    expect(category_row.get_by_label("默认承办单位")).to_have_value(department)
    expect(category_row.get_by_label("上级分类")).to_have_value("city_component")
    rule_row = page.locator(f'#rules tr[data-rule-id="{rule_id}"]')
    expect(rule_row).to_contain_text("路灯损坏 (street_light)")
    expect(rule_row).to_contain_text(f"{grid}…")
    member_box = page.locator(
        f'#members tr[data-username="{staff}"] label[data-department="{department}"] input'
    )
    expect(member_box).to_be_checked()
    category_row.scroll_into_view_if_needed()
    shot(page, "catalogue-7-reloaded")

    # ... and in English.
    page.goto(f"{platform.web}/admin/catalogue?lang=en")
    expect(page.locator("h1")).to_contain_text("Case catalogue")
    expect(page.locator(f'#departments tr[data-code="{department}"] td.uses')).to_have_text(
        "cases 0 · staff 1 · rules 1 · default for 1"
    )
    shot(page, "catalogue-8-english")

    # 8. What the database holds: the branch, the membership, routing as filing will do it, and
    #    the audit log of every step (the refused delete too).
    with platform.db.unit_of_work() as session:
        lamp = catalogue.category_by_code(session, category)
        lights = catalogue.category_by_code(session, "street_light")
        assert lamp is not None and lights is not None
        assert [c.code for c in catalogue.lineage(session, lamp)] == [category, "city_component"]
        assert (lamp.limit_days, lamp.urgent_hours, lamp.kind) == (2, 6, "component")
        routed = catalogue.route(session, lights, grid_cell=f"{grid}0012")
        assert routed is not None and routed.code == department
        assert [d.code for d in departments_of(session, staff_id)] == [department]
        trail = [
            (e.action, e.outcome)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.actor == admin, AuditEntry.action != "login")
                .order_by(AuditEntry.id)
            )
        ]
    assert trail == [
        ("department.create", "ok"),
        ("category.create", "ok"),
        ("routing_rule.create", "ok"),
        ("department.members", "ok"),
        ("department.delete", "invalid"),
    ]
