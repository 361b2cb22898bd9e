"""A case's whole life through its pages, in real headless Chromium against the running platform.

Real parts: Debian's Chromium, the web process with the cases API, the database, and for the
first test a real call — a sipp caller on the "desk" trunk saying (espeak-ng English) "The
street light on main road is broken", answered in the agent console's softphone, recorded by
Asterisk and transcribed by the workers (pocketsphinx). Each step is a click or a keystroke
where a person would make it; what is asserted is what the person sees (status words, timeline
lines, the buttons offered, the refusal's words).

    a  an agent files the case in the console during the call; the case page shows the call
       linked and, once made, its transcript
    b  the department's staff find it in their portal, sign for it, reply with a photo
    c  the agent verifies and closes it, and records the citizen's verdict
    d  the return path: the department returns it with a reason, the dispatcher sends it to
       another department, which finds it in its portal
    e  the extension path: the department asks for 3 more working days, a supervisor approves on
       the case page, the deadline moves
    f  a reply sent back while the agent's page was open (the API's refusal in the page), then a
       closed case reopened
    g  the list: words and filters, an overdue case in red, department staff sent to their portal

Screenshots: test-artifacts/screenshots/cases-*.png.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from case_bridge.models import Case
from hotline.db import utcnow
from recording.models import Recording, Transcript
from tests.integration.browser import open_page, open_pages, shot
from tests.integration.cases_browser_support import (
    EnglishCaller,
    act_by_api,
    action_button,
    add_person,
    case_of,
    expect_status,
    file_case,
    fill_dialog,
    log_in,
    small_png,
    take,
    timeline_line,
)
from tests.integration.harness import Platform, closed_rows_since, poll
from tests.integration.seats_support import SEAT_PASSWORD, add_seat_user, seat_state
from tests.integration.seats_support import log_in as seat_log_in

SEAT_AGENT, SEAT_EXT = "tang.hui", "2601"  # nobody else in the suite uses these
CALLER = "13600136000"
CALLER_SAYS = "The street light on main road is broken. The street light on main road is broken."
TRANSCRIPT_SECONDS = 150.0  # the recorder, then the ASR worker, after the call ends
CITY = "城市管理局"  # street_light's default department (case_bridge/defaults.toml)
EAST = "东城区人民政府"
# The timeline of a case filed on a call and handled to the end, in order.
LIFE = ("intake", "file", "dispatch", "sign_for", "start_handling", "reply", "close", "evaluate")


@pytest.fixture(scope="module")
def people(platform: Platform) -> dict[str, str]:
    """One person of each side: an agent (the dispatcher too), a supervisor, the street-light
    department's staff, and the east district's."""
    return {
        "agent": add_person(platform, "zuoxi", "agent", display_name="王坐席"),
        "supervisor": add_person(platform, "banzhang", "supervisor", display_name="李班长"),
        "city": add_person(platform, "chengguan", "department_staff", departments=("city_management",)),
        "east": add_person(platform, "dongcheng", "department_staff", departments=("east_district",)),
    }


@pytest.fixture
def page(artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page() as opened:
        try:
            yield opened
        finally:
            shot(opened, f"cases-last-{request.node.name[:60]}", artifacts_dir / "screenshots")


def department_row(page: Page, number: str) -> Locator:
    return page.locator(f'#queue tbody tr[data-number="{number}"]')


def from_portal_to_case(page: Page, number: str, tab: str) -> None:
    """In the portal: open the tab, find the case's row, click its number."""
    page.get_by_role("tab", name=re.compile(f"^{tab}")).click()
    row = department_row(page, number)
    expect(row).to_be_visible()
    with page.expect_navigation(wait_until="load"):
        row.get_by_role("link", name=number).click()
    expect(page.locator("#case")).to_be_visible()


# ----- a, b, c: a real call becomes a case, handled, closed, evaluated ------------------------------


@pytest.fixture
def seat(platform: Platform) -> Iterator[str]:
    """The console's agent (a softphone seat answering the desk queue); out of the queue after."""
    if seat_state(SEAT_AGENT) is None:
        add_seat_user(platform, SEAT_AGENT, SEAT_EXT, "agent", skills={"desk": 0})
    try:
        yield SEAT_AGENT
    finally:
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.Client(base_url=platform.web, headers={"origin": platform.web}, timeout=10) as api,
        ):
            api.post("/api/session", json={"username": SEAT_AGENT, "password": SEAT_PASSWORD})
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (seat_state(SEAT_AGENT) or {}).get("state") != "logged_out":
                if (seat_state(SEAT_AGENT) or {}).get("state") != "on_call":
                    api.post("/api/seat/logout")
                time.sleep(0.5)


def transcript_of(platform: Platform, uniqueid: str) -> Transcript | None:
    with platform.db.unit_of_work() as session:
        return session.scalar(
            select(Transcript)
            .join(Recording, Recording.id == Transcript.recording_id)
            .where(Recording.call_uniqueid == uniqueid)
        )


def test_given_a_real_call_when_the_agent_files_it_then_the_department_replies_and_the_agent_closes_it(
    platform: Platform, people: dict[str, str], seat: str, tmp_path: Path
) -> None:
    photo = small_png(tmp_path / "light-fixed.png")
    with open_pages(2, media=True) as (console, department):
        try:
            # a1. The agent's console: softphone registered, seat available.
            seat_log_in(console, platform.web, seat, "/agent")
            expect(console.locator("#sip-status")).to_have_attribute(
                "data-state", "registered", timeout=15_000
            )
            console.locator("#btn-login").click()
            expect(console.locator("#seat-state")).to_have_attribute("data-state", "available")

            # a2. A citizen calls; the agent answers; the case form opens with the caller's number.
            first = platform.last_call_id()
            caller = EnglishCaller(
                platform, tmp_path / "caller", caller=CALLER, text=CALLER_SAYS, quiet=7, seconds=45
            )
            expect(console.locator("#incoming")).to_be_visible(timeout=20_000)
            console.locator("#btn-answer").click()
            answered = time.monotonic()
            expect(console.locator("#seat-state")).to_have_attribute("data-state", "on_call")
            uniqueid = ((seat_state(seat) or {}).get("call") or {}).get("caller")
            assert uniqueid, seat_state(seat)
            expect(console.locator("#case-card")).to_have_attribute("data-uniqueid", uniqueid)
            expect(console.locator("#case-caller")).to_have_text(CALLER)

            # a3. While the citizen talks, the agent fills the form and files: filed and dispatched.
            console.locator("#case-category").select_option("street_light")
            console.locator("#case-title").fill("主干道路灯不亮")
            console.locator("#case-content").fill("市民来电：主干道的路灯坏了，晚上一片漆黑。")
            console.locator("#case-address").fill("主干道 18 号")
            console.locator("#btn-case-file").click()
            filed = console.locator("#case-filed-number")
            expect(filed).to_be_visible()
            number = filed.inner_text()
            expect(console.locator("#case-status")).to_contain_text("已派遣")
            shot(console, "cases-a1-console-filed")

            # The citizen has said it all (7 s quiet, then the sentence twice): the agent hangs up.
            time.sleep(max(0.0, answered + 16 - time.monotonic()))
            console.locator("#btn-hangup").click()
            expect(console.locator("#seat-state")).to_have_attribute("data-state", "wrap_up")
            console.locator("#disposition").select_option("resolved")
            console.locator("#btn-wrapup-done").click()
            expect(console.locator("#seat-state")).to_have_attribute("data-state", "available")
            console.locator("#btn-logout").click()
            expect(console.locator("#seat-state")).to_have_attribute("data-state", "logged_out")
            caller.join(60)
            (call,) = closed_rows_since(platform, first)
            assert call.uniqueid == uniqueid

            # a4. The case number in the console opens the case page: the call is linked to it.
            with console.expect_navigation(wait_until="load"):
                filed.click()
            expect(console).to_have_url(re.compile(rf"/cases/{number}\b"))
            expect_status(console, "已派遣")
            facts = console.locator("#facts")
            expect(facts.locator('[data-field="category"]')).to_have_text("路灯损坏")
            expect(facts.locator('[data-field="department"]')).to_have_text(CITY)
            expect(timeline_line(console, "dispatch")).to_contain_text(f"派遣 至 {CITY}")
            linked = console.locator(f'#calls li[data-uniqueid="{uniqueid}"]')
            expect(linked).to_be_visible()
            shot(console, "cases-a2-case-page-call-linked")

            # a5. Once the workers have transcribed the recording, the page shows what was said.
            poll("the call's transcript", lambda: transcript_of(platform, uniqueid), TRANSCRIPT_SECONDS)
            expect(linked.locator(".transcript")).to_contain_text(
                re.compile("street light", re.IGNORECASE), timeout=20_000
            )
            expect(linked.locator(".recording-link")).to_have_attribute(
                "href", re.compile(r"^/recordings/\d+")
            )
            shot(console, "cases-a3-transcript")

            # b1. The department's staff: their portal lists the case to sign for.
            log_in(department, platform, people["city"], "/department")
            expect(department).to_have_url(re.compile(r"/department"))
            expect(department.locator("#my-departments")).to_contain_text(CITY)
            expect(department_row(department, number)).to_be_visible()
            expect(department_row(department, number)).to_contain_text("已派遣")
            shot(department, "cases-b1-department-to-sign")

            # b2. From the row to the case: sign for it.
            from_portal_to_case(department, number, "待签收")
            expect(action_button(department, "签收")).to_be_visible()
            expect(action_button(department, "退单")).to_be_visible()
            take(department, "签收")
            expect_status(department, "已签收")
            expect(timeline_line(department, "sign_for")).to_contain_text(people["city"])
            for words in ("答复", "退单", "申请延期"):
                expect(action_button(department, words)).to_be_visible()

            # b3. The reply, with a photo of the repaired light.
            action_button(department, "答复").click()
            fill_dialog(department, text="已更换灯泡，路灯恢复正常。", files=[photo])
            shot(department, "cases-b2-reply-dialog")
            department.locator("#action-dialog").get_by_role("button", name="确定").click()
            expect(department.locator("#action-dialog")).to_be_hidden(timeout=15_000)
            expect_status(department, "已答复")
            expect(department.locator('#facts [data-field="reply_text"]')).to_have_text(
                "已更换灯泡，路灯恢复正常。"
            )
            attachment = department.locator("#attachments a", has_text="light-fixed.png")
            expect(attachment).to_be_visible()
            download = department.request.get(platform.web + (attachment.get_attribute("href") or ""))
            assert download.status == 200 and download.body() == photo.read_bytes()
            expect(timeline_line(department, "reply")).to_contain_text("答复")
            expect(department.locator("#no-actions")).to_be_visible()  # now it is the hotline's turn
            shot(department, "cases-b3-replied")

            # c. The agent verifies the reply and closes the case, then records the verdict.
            console.reload()
            expect_status(console, "已答复")
            expect(action_button(console, "退回重办")).to_be_visible()
            take(console, "核实结案", note="回访市民，确认路灯已修复")
            expect_status(console, "已办结")
            take(console, "评价", satisfaction="满意", note="市民表示满意")
            expect_status(console, "已评价")
            expect(console.locator('#facts [data-field="satisfaction"]')).to_have_text("满意 — 市民表示满意")
            lines = console.locator("#timeline tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.action)"
            )
            assert [a for a in lines if a in LIFE] == list(LIFE), lines
            expect(console.locator("#attachments a", has_text="light-fixed.png")).to_be_visible()
            shot(console, "cases-c1-evaluated")
            console.locator("#timeline").scroll_into_view_if_needed()
            shot(console, "cases-c2-timeline")
        finally:
            shot(console, "cases-last-console")
            shot(department, "cases-last-department")


# ----- d: returned, redispatched to another department -----------------------------------------------


def test_given_a_wrongly_routed_case_when_the_department_returns_it_then_the_dispatcher_sends_it_elsewhere(
    platform: Platform, people: dict[str, str], page: Page
) -> None:
    number = file_case(platform, people["agent"], title="东城区某小区门口路灯不亮")["number"]

    # The street-light department opens it from its portal and returns it, saying why.
    log_in(page, platform, people["city"], "/department")
    from_portal_to_case(page, number, "待签收")
    action_button(page, "退单").click()
    page.locator("#action-dialog").get_by_role("button", name="确定").click()
    expect(page.locator("#dialog-error")).to_have_text("请填写原因。")  # nothing sent without one
    fill_dialog(page, reason="该小区路灯属东城区物业管理，不属于本单位")
    page.locator("#action-dialog").get_by_role("button", name="确定").click()
    expect(page.locator("#action-dialog")).to_be_hidden()
    expect_status(page, "已退单")
    expect(timeline_line(page, "return")).to_contain_text("该小区路灯属东城区物业管理，不属于本单位")
    shot(page, "cases-d1-returned")
    page.locator("#timeline").scroll_into_view_if_needed()
    shot(page, "cases-d1-returned-timeline")

    # The dispatcher finds it in the case list by its status, and dispatches it to the district.
    page.context.clear_cookies()
    log_in(page, platform, people["agent"], "/cases")
    page.get_by_label("状态").select_option(label="已退单")
    page.get_by_role("button", name="查询").click()
    row = page.locator(f'#results tbody tr[data-number="{number}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("已退单")
    shot(page, "cases-d2-list-returned")
    with page.expect_navigation(wait_until="load"):
        row.get_by_role("link", name=number).click()
    take(page, "派遣", department=EAST)
    expect_status(page, "已派遣")
    expect(page.locator('#facts [data-field="department"]')).to_have_text(EAST)
    expect(timeline_line(page, "dispatch")).to_contain_text(f"派遣 至 {EAST}")
    shot(page, "cases-d3-redispatched")

    # The district's staff find it waiting to be signed for.
    page.context.clear_cookies()
    log_in(page, platform, people["east"], "/department")
    expect(department_row(page, number)).to_be_visible()
    shot(page, "cases-d4-east-portal")


# ----- e: an extension asked for and approved --------------------------------------------------------


def test_given_a_department_asking_for_three_more_days_when_a_supervisor_approves_then_the_deadline_moves(
    platform: Platform, people: dict[str, str], page: Page
) -> None:
    number = file_case(platform, people["agent"], title="主干道一排路灯需更换线路")["number"]
    act_by_api(platform, people["city"], number, "sign_for")
    before = case_of(platform, people["agent"], number)["due_at"]

    log_in(page, platform, people["city"], f"/cases/{number}")
    expect_status(page, "已签收")
    take(page, "申请延期", days="3", reason="需更换地下线路，等待材料到货")
    expect(page.locator("#flags")).to_contain_text("延期待批")
    expect(page.locator("#extension-note")).to_contain_text("3 个工作日")
    expect(action_button(page, "申请延期")).to_have_count(0)  # one request at a time
    shot(page, "cases-e1-extension-asked")

    page.context.clear_cookies()
    log_in(page, platform, people["supervisor"], f"/cases/{number}")
    expect(page.locator("#extension-note")).to_contain_text("需更换地下线路，等待材料到货")
    old_due = page.locator("#due-at").inner_text()
    shot(page, "cases-e2-supervisor-sees-request")
    take(page, "同意延期", note="同意，请按期完成")
    after = case_of(platform, people["agent"], number)["due_at"]
    assert after > before, (before, after)
    expect(page.locator("#due-at")).not_to_have_text(old_due)
    expect(page.locator("#extension-note")).to_be_hidden()
    expect(timeline_line(page, "approve_extension")).to_contain_text("同意延期 新时限")
    expect_status(page, "已签收")  # an extension moves the deadline, not the case
    shot(page, "cases-e3-extension-approved")


# ----- f: a refusal in the page, then a closed case reopened -----------------------------------------


def test_given_a_stale_page_when_the_agent_closes_then_the_refusal_shows_and_a_closed_case_can_be_reopened(
    platform: Platform, people: dict[str, str], page: Page
) -> None:
    number = file_case(platform, people["agent"], title="路灯白天也亮着")["number"]
    act_by_api(platform, people["city"], number, "sign_for")
    act_by_api(platform, people["city"], number, "reply", text="已调整路灯时控开关。")

    log_in(page, platform, people["agent"], f"/cases/{number}")
    expect_status(page, "已答复")
    # Meanwhile a supervisor finds the reply wanting and sends it back.
    act_by_api(platform, people["supervisor"], number, "reject_reply", reason="请附现场照片")
    action_button(page, "核实结案").click()
    page.locator("#action-dialog").get_by_role("button", name="确定").click()
    expect(page.locator("#dialog-error")).to_contain_text("未能办理：")
    expect(page.locator("#dialog-error")).to_contain_text("handling")
    shot(page, "cases-f1-refused")
    page.locator("#action-dialog").get_by_role("button", name="取消").click()
    expect_status(page, "办理中")  # the page read the case again after the refusal
    expect(timeline_line(page, "reject_reply")).to_contain_text("请附现场照片")

    # The department replies again; the agent closes; the citizen calls back unhappy: reopened.
    act_by_api(platform, people["city"], number, "reply", text="已调整时控开关，附现场照片。")
    page.reload()
    take(page, "核实结案", note="已核实")
    expect_status(page, "已办结")
    take(page, "重新办理", reason="市民来电反映路灯白天仍然亮着")
    expect_status(page, "已派遣")
    expect(timeline_line(page, "reopen")).to_contain_text("市民来电反映路灯白天仍然亮着")
    expect(page.locator('#facts [data-field="counts"]')).to_contain_text("重办 1 次")
    shot(page, "cases-f2-reopened")
    page.locator("#timeline").scroll_into_view_if_needed()
    shot(page, "cases-f3-reopened-timeline")


# ----- g: the list, overdue in red, department staff sent to their portal -----------------------------


def test_given_cases_when_staff_search_and_filter_then_overdue_shows_in_red_and_departments_use_their_portal(
    platform: Platform, people: dict[str, str], page: Page
) -> None:
    late = file_case(platform, people["agent"], title="桥下路灯不亮 overdue check")["number"]
    fresh = file_case(platform, people["agent"], title="公园路灯闪烁 list check")["number"]
    with platform.db.unit_of_work() as session:
        row = session.scalars(select(Case).where(Case.number == late)).one()
        row.due_at = utcnow() - timedelta(hours=2)  # as if two hours past its deadline
        row.calendar_guessed = "2099"  # as if counted into a year whose holidays are not known

    log_in(page, platform, people["supervisor"], "/cases")
    expect(page.locator("#results")).to_be_visible()
    page.get_by_label("关键词").fill("路灯")
    page.get_by_label("只看超期").check()
    page.get_by_role("button", name="查询").click()
    late_row = page.locator(f'#results tbody tr[data-number="{late}"]')
    expect(late_row).to_be_visible()
    expect(late_row.locator("td.overdue")).to_contain_text("已超期")
    expect(page.locator(f'#results tbody tr[data-number="{fresh}"]')).to_have_count(0)
    expect(late_row.locator("td.overdue")).to_have_css("color", "rgb(180, 35, 24)")
    shot(page, "cases-g1-overdue-in-red")

    # The same search in English, from the address bar.
    page.locator("a.lang[data-lang='en']").click()
    expect(page.locator("h1")).to_contain_text("Cases")
    expect(page.get_by_label("Overdue only")).to_be_checked()
    expect(late_row.locator("td.overdue")).to_contain_text("Overdue")
    shot(page, "cases-g2-list-en")

    # The late case's page: the deadline in red, marked overdue, and said to be provisional.
    with page.expect_navigation(wait_until="load"):
        late_row.get_by_role("link", name=late).click()
    expect(page.locator("#due-at")).to_have_class(re.compile(r"\boverdue\b"))
    expect(page.locator("#flags")).to_contain_text("Overdue")
    expect(page.locator("#calendar-note")).to_contain_text("the holiday calendar of 2099 is not published")
    shot(page, "cases-g3-case-overdue-en")

    # Department staff asking for the list land in their portal, the overdue case in its tab.
    page.context.clear_cookies()
    log_in(page, platform, people["city"], "/cases")
    expect(page).to_have_url(re.compile(r"/department\?lang="))
    page.get_by_role("tab", name=re.compile("^已超期")).click()
    expect(department_row(page, late)).to_be_visible()
    expect(department_row(page, fresh)).to_have_count(0)
    expect(page.locator('[data-count="overdue"]')).not_to_have_text("")
    shot(page, "cases-g4-department-overdue")
