"""The cases API on a migrated SQLite database, as each role uses it.

An agent files a street-light case; it is routed to the city-management bureau, whose staff
(city.staff) sign for it and reply with a photo; the agent closes it and records the citizen's
verdict. Alongside: the return path, an extension, reopening, the refusals with their reasons
and statuses, what another department (water.staff) may and may not see, idempotent filing,
duplicates and the knowledge of closed cases. Actions and refusals are checked on the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agents_ui.accounts import sessions
from agents_ui.accounts.models import AuditEntry, Role, User
from agents_ui.accounts.permissions import COOKIE
from agents_ui.app import create_app
from case_bridge import catalogue
from case_bridge.deadlines import calendar_of
from case_bridge.departments import add_member
from case_bridge.models import Case, CaseAttachment
from case_bridge.working_days import extend_deadline
from hotline.case_settings import CaseSettings
from hotline.db import Database
from hotline.settings import AgentSettings, DatabaseSettings, RedisSettings, Settings, SiteSettings
from tests.unit.accounts_support import ORIGIN, add_user
from tests.unit.test_recording_search import Said, add_recorded_call

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a PNG's signature: what the upload checks
STREET_LIGHT = {
    "content": "人民路12号路灯不亮，晚上很黑",
    "title": "人民路路灯不亮",
    "category": "street_light",
    "caller_number": "13812345678",
    "caller_name": "张先生",
    "address": "人民路12号",
    "street": "人民路街道",
    "grid_cell": "E0102",
}
PEOPLE = {
    "li.agent": (Role.AGENT,),
    "wang.lead": (Role.SUPERVISOR,),
    "zhao.admin": (Role.ADMINISTRATOR,),
    "duty.leader": (Role.DUTY_LEADER,),
    "city.staff": (Role.DEPARTMENT_STAFF,),
    "water.staff": (Role.DEPARTMENT_STAFF,),
}


@dataclass
class Site:
    app: FastAPI
    settings: Settings
    db: Database
    clients: dict[str, TestClient] = field(default_factory=dict)

    def as_(self, username: str) -> TestClient:
        if username not in self.clients:
            client = TestClient(self.app, headers={"origin": ORIGIN})
            with self.db.unit_of_work() as session:
                user = session.scalar(select(User).where(User.username == username))
                assert user is not None
                client.cookies.set(COOKIE, sessions.start(session, user=user, source_ip="testclient"))
            self.clients[username] = client
        return self.clients[username]

    def file(self, username: str = "li.agent", key: str | None = None, **fields: Any) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        reply = self.as_(username).post("/api/cases", json={**STREET_LIGHT, **fields}, headers=headers)
        assert reply.status_code in (200, 201), reply.text
        return reply.json()

    def act(self, username: str, number: str, action: str, **body: Any) -> Any:
        return self.as_(username).post(f"/api/cases/{number}/actions/{action}", json=body)

    def done(self, username: str, number: str, action: str, **body: Any) -> dict[str, Any]:
        reply = self.act(username, number, action, **body)
        assert reply.status_code == 200, f"{action}: {reply.status_code} {reply.text}"
        found: dict[str, Any] = reply.json()
        return found

    def case(self, username: str, number: str) -> dict[str, Any]:
        reply = self.as_(username).get(f"/api/cases/{number}")
        assert reply.status_code == 200, reply.text
        found: dict[str, Any] = reply.json()
        return found

    def audit(self, prefix: str = "case.") -> list[AuditEntry]:
        with self.db.unit_of_work() as session:
            return list(
                session.scalars(
                    select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
                )
            )


def build_site(tmp_path: Path, db_url: str, *, full_numbers_for_agents: bool = True) -> Site:
    settings = Settings(
        site=SiteSettings(state_dir=tmp_path / "state"),
        database=DatabaseSettings(url=db_url),
        redis=RedisSettings(url="redis://127.0.0.1:1/0"),
        agents=AgentSettings(full_numbers_for_agents=full_numbers_for_agents),
    )
    app = create_app(settings)
    db: Database = app.state.db
    with db.unit_of_work() as session:
        catalogue.seed_defaults(session)
    ids = {name: add_user(db, name, *roles) for name, roles in PEOPLE.items()}
    with db.unit_of_work() as session:
        add_member(session, user_id=ids["city.staff"], department_code="city_management")
        add_member(session, user_id=ids["water.staff"], department_code="water")
    return Site(app, settings, db)


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Iterator[Site]:
    built = build_site(tmp_path, db_url)
    yield built
    built.db.dispose()


def actions(case: dict[str, Any]) -> set[str]:
    return set(case["actions"])


def timeline(case: dict[str, Any]) -> list[str]:
    return [event["action"] for event in case["timeline"]]


# ----- the whole way -------------------------------------------------------------------------------
def test_given_a_street_light_case_when_filed_then_it_is_routed_dispatched_and_worked_to_its_evaluation(site):
    made = site.file()
    number = made["number"]

    assert made["status"] == "dispatched"
    assert made["department"]["code"] == "city_management"
    assert made["category"]["code"] == "street_light"
    assert made["due_at"] and made["sign_due_at"] and made["local"]["due_at"]
    assert made["zone"] == "Asia/Shanghai"
    # The agent may move it elsewhere or file nothing more; the department's buttons are not theirs.
    assert actions(made) == {"redispatch"}

    city = site.case("city.staff", number)
    assert actions(city) == {"sign_for", "return"}
    signed = site.done("city.staff", number, "sign_for")
    assert signed["status"] == "signed" and signed["signed_at"]
    assert actions(signed) == {"start_handling", "reply", "return", "request_extension"}

    upload = site.as_("city.staff").post(
        f"/api/cases/{number}/attachments",
        params={"filename": "路灯修好了.png"},
        content=PNG,
        headers={"content-type": "image/png"},
    )
    assert upload.status_code == 201, upload.text
    photo = upload.json()
    replied = site.done(
        "city.staff", number, "reply", text="已更换灯泡，路灯恢复正常", attachments=[photo["id"]]
    )
    assert replied["status"] == "replied" and replied["reply_text"] == "已更换灯泡，路灯恢复正常"
    reply_event = next(e for e in replied["timeline"] if e["action"] == "reply")
    assert replied["attachments"][0]["event_id"] == reply_event["id"]
    assert replied["attachments"][0]["url"] == f"/api/cases/{number}/attachments/{photo['id']}"

    agent_view = site.case("li.agent", number)
    assert actions(agent_view) == {"close", "reject_reply"}
    download = site.as_("li.agent").get(agent_view["attachments"][0]["url"])
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert "filename*=UTF-8''%E8%B7%AF%E7%81%AF" in download.headers["content-disposition"]
    assert download.headers["content-disposition"].startswith("attachment;")

    closed = site.done("li.agent", number, "close", reason="回访核实已修复")
    assert closed["status"] == "closed" and closed["closed_at"]
    evaluated = site.done("li.agent", number, "evaluate", satisfaction="satisfied", reason="市民满意")
    assert evaluated["status"] == "evaluated" and evaluated["satisfaction"] == "satisfied"
    assert timeline(evaluated) == [
        "intake", "file", "dispatch", "sign_for", "start_handling", "reply", "close", "evaluate",
    ]  # fmt: skip
    by = {e["action"]: (e["actor"], e["party"]) for e in evaluated["timeline"]}
    assert by["sign_for"] == ("city.staff", "department") and by["close"] == ("li.agent", "hotline")
    assert [(a.action, a.actor, a.outcome) for a in site.audit()] == [
        ("case.create", "li.agent", "ok"),
        ("case.sign_for", "city.staff", "ok"),
        ("case.attach", "city.staff", "ok"),
        ("case.reply", "city.staff", "ok"),
        ("case.close", "li.agent", "ok"),
        ("case.evaluate", "li.agent", "ok"),
    ]


def test_given_a_wrongly_routed_case_when_the_department_returns_it_then_the_dispatcher_sends_it_on(site):
    number = site.file()["number"]

    refused = site.act("city.staff", number, "return")
    returned = site.done("city.staff", number, "return", reason="不属于本单位职责")
    offered = actions(site.case("li.agent", number))
    again = site.act("li.agent", number, "redispatch", department="water", reason="改派")
    sent = site.done("li.agent", number, "dispatch", department="water")
    moved = site.done("wang.lead", number, "redispatch", department="city_management", reason="核实非其职责")

    assert refused.status_code == 409
    assert refused.json() == {"detail": "a reason is required", "action": "return"}
    assert returned["status"] == "returned" and returned["returns"] == 1
    assert offered == {"dispatch", "merge"}
    # A returned case is dispatched again, not redispatched: the path's action must be the one.
    assert again.status_code == 409 and again.json()["action"] == "redispatch"
    assert sent["status"] == "dispatched" and sent["department"]["code"] == "water"
    assert moved["department"]["code"] == "city_management"
    assert timeline(moved)[-3:] == ["return", "dispatch", "redispatch"]


def test_given_a_routed_dispatch_when_no_department_is_named_then_routing_chooses_it(site):
    number = site.file(dispatch=False)["number"]

    assert site.case("li.agent", number)["status"] == "filed"
    sent = site.done("li.agent", number, "dispatch")

    assert sent["department"]["code"] == "city_management"


def test_given_an_extension_request_when_a_supervisor_approves_then_the_deadline_moves_by_working_days(site):
    number = site.file()["number"]
    site.done("city.staff", number, "sign_for")
    before = site.case("li.agent", number)

    asked = site.done("city.staff", number, "request_extension", days=3, reason="需更换电缆，材料未到")
    offered = actions(site.case("wang.lead", number))
    by_agent = site.act("li.agent", number, "approve_extension")
    approved = site.done("wang.lead", number, "approve_extension")

    assert asked["extension_pending"] and asked["extension_days"] == 3
    assert {"approve_extension", "refuse_extension"} <= offered
    assert by_agent.status_code == 403
    expected = extend_deadline(
        calendar_of(CaseSettings()),
        datetime.fromisoformat(before["due_at"]),
        3,
        site.settings.site.zone,
    ).due_at
    assert datetime.fromisoformat(approved["due_at"]) == expected
    assert not approved["extension_pending"] and approved["extensions_granted"] == 1
    event = next(e for e in approved["timeline"] if e["action"] == "approve_extension")
    assert event["data"]["days"] == 3 and event["actor"] == "wang.lead" and event["party"] == "supervisor"
    refuse = site.act("wang.lead", number, "refuse_extension", reason="no request")
    assert refuse.status_code == 409 and refuse.json()["detail"] == "no extension request is waiting"


def test_given_an_unsatisfied_citizen_when_the_case_is_reopened_then_it_is_back_with_its_department(site):
    number = site.file()["number"]
    site.done("city.staff", number, "sign_for")
    site.done("city.staff", number, "reply", text="已维修")
    site.done("li.agent", number, "close")
    site.done("li.agent", number, "evaluate", satisfaction="unsatisfied", reason="灯还是不亮")

    reopened = site.done("li.agent", number, "reopen", reason="回访不满意，灯仍不亮")

    assert reopened["status"] == "dispatched" and reopened["reopens"] == 1
    assert reopened["department"]["code"] == "city_management" and reopened["closed_at"] is None
    assert "sign_for" in actions(site.case("city.staff", number))


def test_given_a_duty_leader_when_a_case_is_pressed_then_they_act_as_a_supervisor(site):
    number = site.file()["number"]

    pressed = site.done("duty.leader", number, "supervise", reason="群众多次来电")
    close_try = site.act("duty.leader", number, "close")
    ended = site.done("duty.leader", number, "end_supervision")

    assert pressed["supervised"] and pressed["supervision_reason"] == "群众多次来电"
    assert close_try.status_code == 403
    assert not ended["supervised"]
    listed = site.as_("duty.leader").get("/api/cases", params={"supervised": "true"}).json()
    assert listed["cases"] == []


# ----- refusals ------------------------------------------------------------------------------------
def test_given_actions_the_case_or_the_role_does_not_allow_then_each_is_refused_with_its_reason(site):
    number = site.file()["number"]

    cases = {
        "agent signs for": site.act("li.agent", number, "sign_for"),
        "close a dispatched case": site.act("li.agent", number, "close"),
        "dispatch again": site.act("li.agent", number, "dispatch", department="water"),
        "other department signs for": site.act("water.staff", number, "sign_for"),
        "empty reply": site.act("city.staff", number, "reply", text=""),
        "merge into nothing": site.act("li.agent", number, "merge", into="2026010100001"),
        "days missing": site.act("city.staff", number, "request_extension", reason="x"),
        "no such case": site.act("li.agent", "2020010100001", "close"),
        "unknown department": site.act("wang.lead", number, "redispatch", department="nowhere", reason="x"),
    }
    status = {name: reply.status_code for name, reply in cases.items()}

    assert status == {
        "agent signs for": 403,
        "close a dispatched case": 409,
        "dispatch again": 409,
        "other department signs for": 403,
        "empty reply": 422,
        "merge into nothing": 422,
        "days missing": 422,
        "no such case": 404,
        "unknown department": 422,
    }
    assert cases["close a dispatched case"].json() == {
        "detail": "the case is dispatched; only possible when replied",
        "action": "close",
    }
    assert (
        cases["other department signs for"].json()["detail"] == f"case {number} is not with your department"
    )
    assert cases["empty reply"].json()["detail"][0]["loc"] == ["body", "text"]
    assert cases["unknown department"].json()["detail"][0]["loc"] == ["body", "department"]
    refusals = [(a.action, a.actor, a.outcome) for a in site.audit() if a.outcome != "ok"]
    assert ("case.sign_for", "li.agent", "refused") in refusals
    assert ("case.reply", "city.staff", "invalid") in refusals
    assert ("case.close", "li.agent", "refused") in refusals
    assert len(refusals) == len(cases)
    # Nothing a refusal began is left behind.
    assert site.case("li.agent", number)["status"] == "dispatched"


def test_given_a_merge_when_the_case_repeats_an_open_one_then_it_is_folded_into_it(site):
    first = site.file()["number"]
    second = site.file(intake_only=True)["number"]

    assert site.case("li.agent", second)["status"] == "intake"
    merged = site.done("li.agent", second, "merge", into=first)

    assert merged["status"] == "merged" and merged["merged_into"] == first
    assert "merged_in" in timeline(site.case("li.agent", first))


def test_given_details_when_corrected_then_only_while_the_case_is_with_the_hotline(site):
    number = site.file(dispatch=False)["number"]

    changed = site.as_("li.agent").patch(
        f"/api/cases/{number}", json={"title": "人民路两盏路灯不亮", "urgency": "urgent"}
    )
    site.done("li.agent", number, "dispatch")
    too_late = site.as_("li.agent").patch(f"/api/cases/{number}", json={"title": "改"})
    by_department = site.as_("city.staff").patch(f"/api/cases/{number}", json={"title": "改"})
    unknown = site.as_("wang.lead").patch(f"/api/cases/{number}", json={"category": "no_such"})

    assert changed.status_code == 200 and changed.json()["title"] == "人民路两盏路灯不亮"
    assert changed.json()["urgency"] == "urgent" and timeline(changed.json())[-1] == "edit"
    assert too_late.status_code == 409 and "fixed once dispatched" in too_late.json()["detail"]
    assert by_department.status_code == 403
    assert unknown.status_code == 409  # the case has left the hotline: nothing is looked at


def test_given_a_bad_new_case_when_filed_then_the_field_is_named(site):
    client = site.as_("li.agent")

    empty = client.post("/api/cases", json={"content": "", "title": ""})
    unknown = client.post("/api/cases", json={"content": "x", "category": "no_such"})
    extra = client.post("/api/cases", json={"content": "x", "colour": "red"})
    by_department = site.as_("city.staff").post("/api/cases", json={"content": "x"})

    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "content"]
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "category"]
    assert extra.status_code == 422
    assert by_department.status_code == 403


# ----- who sees what -------------------------------------------------------------------------------
def test_given_department_staff_when_they_look_then_only_their_departments_cases_with_numbers_masked(site):
    light = site.file()["number"]
    water = site.file(
        content="小区停水一整天", title="停水", category="water_outage", caller_number="13912345678"
    )["number"]

    listed = site.as_("water.staff").get("/api/cases").json()
    own = site.as_("water.staff").get(f"/api/cases/{water}")
    other = site.as_("water.staff").get(f"/api/cases/{light}")
    other_file = site.as_("water.staff").post(
        f"/api/cases/{light}/attachments",
        params={"filename": "x.png"},
        content=PNG,
        headers={"content-type": "image/png"},
    )

    assert [c["number"] for c in listed["cases"]] == [water]
    assert listed["cases"][0]["caller_number"] == "139****5678" and listed["cases"][0]["caller_masked"]
    assert own.status_code == 200 and own.json()["caller_number"] == "139****5678"
    assert other.status_code == 404
    assert other_file.status_code == 404
    asked_for_other = site.as_("water.staff").get("/api/cases", params={"department": "city_management"})
    assert asked_for_other.json()["cases"] == []


@pytest.mark.parametrize(
    ("who", "full_for_agents", "seen"),
    [
        ("li.agent", True, "13812345678"),
        ("li.agent", False, "138****5678"),
        ("wang.lead", False, "13812345678"),
        ("zhao.admin", False, "13812345678"),
        ("duty.leader", True, "138****5678"),
        ("city.staff", True, "138****5678"),
    ],
)
def test_given_each_role_when_a_case_is_read_then_the_callers_number_is_whole_only_for_those_who_need_it(
    tmp_path, db_url, who, full_for_agents, seen
):
    built = build_site(tmp_path, db_url, full_numbers_for_agents=full_for_agents)
    try:
        number = built.file("wang.lead")["number"]
        assert built.case(who, number)["caller_number"] == seen
        listed = built.as_(who).get("/api/cases").json()["cases"]
        assert listed[0]["caller_number"] == seen
    finally:
        built.db.dispose()


def test_given_a_linked_call_when_the_case_is_read_then_its_recording_transcript_and_key_phrases_come_with_it(
    site,
):
    with site.db.unit_of_work() as session:
        add_recorded_call(
            session,
            "1763700000.1",
            datetime(2026, 11, 21, 1, 0, tzinfo=UTC),
            said=[Said("caller", "人民路的路灯坏了"), Said("agent", "好的，马上登记")],
            phrases=[("路灯", "street_light", False, 600)],
        )
    number = site.file(calls=["1763700000.1"])["number"]

    repeat = site.as_("li.agent").post(f"/api/cases/{number}/calls", json={"uniqueid": "1763700000.2"})
    case = site.case("city.staff", number)

    assert repeat.status_code == 200 and timeline(repeat.json())[-1] == "link_call"
    first, second = case["calls"]
    assert first["uniqueid"] == "1763700000.1" and first["recording"]["status"] == "complete"
    assert first["transcript"]["text"] == "caller: 人民路的路灯坏了\nagent: 好的，马上登记"
    assert [p["phrase"] for p in first["key_phrases"]] == ["路灯"]
    assert first["caller"] == "138****5678"  # masked for the department, as the case's caller
    assert (
        second["uniqueid"] == "1763700000.2" and second["recording"] is None and second["started_at"] is None
    )


# ----- filing once ---------------------------------------------------------------------------------
def test_given_an_idempotency_key_when_the_same_case_is_filed_twice_then_one_case_and_200_the_second_time(
    site,
):
    client = site.as_("li.agent")

    first = client.post("/api/cases", json=STREET_LIGHT, headers={"Idempotency-Key": "form-42"})
    again = client.post("/api/cases", json=STREET_LIGHT, headers={"Idempotency-Key": "form-42"})
    other = client.post("/api/cases", json=STREET_LIGHT, headers={"Idempotency-Key": "form-43"})

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json()["number"] == again.json()["number"] != other.json()["number"]
    with site.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2
    assert [a.action for a in site.audit()] == ["case.create", "case.create"]


# ----- attachments ---------------------------------------------------------------------------------
def test_given_files_when_attached_then_only_allowed_kinds_that_are_what_they_say_and_not_too_big(site):
    number = site.file()["number"]
    client = site.as_("city.staff")

    def upload(kind: str, content: bytes, name: str = "a.bin") -> int:
        reply = client.post(
            f"/api/cases/{number}/attachments",
            params={"filename": name},
            content=content,
            headers={"content-type": kind},
        )
        return int(reply.status_code)

    assert upload("application/pdf", b"%PDF-1.7 a letter", "回复函.pdf") == 201
    assert upload("text/plain", "处理说明".encode(), "说明.txt") == 201
    assert upload("text/html", b"<script>alert(1)</script>") == 415
    assert upload("image/png", b"GIF89a not a png") == 415
    assert upload("image/png", b"") == 415
    assert upload("image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024)) == 413
    assert upload("image/png", PNG, "../../etc/passwd") == 422
    with site.db.unit_of_work() as session:
        stored = list(session.scalars(select(CaseAttachment)))
    assert [a.filename for a in stored] == ["回复函.pdf", "说明.txt"]
    assert all(Path(a.path).parent == site.settings.state_dir / "attachments" / number for a in stored)
    missing = site.as_("li.agent").get(f"/api/cases/{number}/attachments/999")
    assert missing.status_code == 404


def test_given_an_attachment_of_another_case_when_a_reply_names_it_then_the_reply_is_refused(site):
    first = site.file()["number"]
    second = site.file()["number"]
    photo = (
        site.as_("city.staff")
        .post(
            f"/api/cases/{first}/attachments",
            params={"filename": "p.png"},
            content=PNG,
            headers={"content-type": "image/png"},
        )
        .json()
    )
    site.done("city.staff", second, "sign_for")

    refused = site.act("city.staff", second, "reply", text="已修复", attachments=[photo["id"]])

    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "attachments"]
    assert site.case("city.staff", second)["status"] == "signed"


# ----- the list, duplicates, knowledge, the catalogue ---------------------------------------------
def test_given_cases_when_listed_then_filters_and_pages_follow_the_search(site):
    numbers = [site.file(caller_number=f"1381234{n:04d}")["number"] for n in range(5)]
    site.done("city.staff", numbers[0], "sign_for")
    client = site.as_("wang.lead")

    first = client.get("/api/cases", params={"limit": 2}).json()
    second = client.get("/api/cases", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    signed = client.get("/api/cases", params=[("status", "signed"), ("status", "handling")]).json()
    tail = client.get("/api/cases", params={"caller": "0003"}).json()
    words = client.get("/api/cases", params={"words": "人民路 路灯"}).json()
    bad_cursor = client.get("/api/cases", params={"cursor": "1-0"})
    bad_category = client.get("/api/cases", params={"category": "no_such"})
    bad_date = client.get("/api/cases", params={"created_from": "1000-01-01"})

    assert [c["number"] for c in first["cases"]] == numbers[::-1][:2] and first["has_more"]
    assert [c["number"] for c in second["cases"]] == numbers[::-1][2:4]
    assert [c["number"] for c in signed["cases"]] == [numbers[0]]
    assert [c["number"] for c in tail["cases"]] == [numbers[3]]
    assert len(words["cases"]) == 5
    assert bad_cursor.status_code == 422 and bad_category.status_code == 422 and bad_date.status_code == 422
    assert bad_category.json()["detail"][0]["loc"] == ["query", "category"]


def test_given_a_new_call_when_candidates_are_asked_then_the_callers_open_cases_come_with_why(site):
    earlier = site.file()["number"]
    wages = {"content": "公司拖欠工资三个月", "title": "欠薪", "category": "unpaid_wages"}
    place = {"street": "东华街道", "grid_cell": "E0900", "address": "东华路1号"}
    elsewhere = site.file(caller_number="13900000000", **place, **wages)["number"]
    params = {"caller": "13812345678", "street": "人民路街道", "grid_cell": "E0102", "text": "人民路路灯不亮"}

    found = site.as_("li.agent").get("/api/cases/candidates", params=params)
    excluded = site.as_("li.agent").get("/api/cases/candidates", params={**params, "exclude": earlier})
    by_department = site.as_("city.staff").get("/api/cases/candidates", params=params)

    assert found.status_code == 200
    first = found.json()["candidates"][0]
    assert first["number"] == earlier
    assert first["reasons"] == ["same_caller", "same_place", "similar_text"] and first["similarity"] > 0.3
    assert elsewhere not in [c["number"] for c in found.json()["candidates"]]
    assert excluded.json()["candidates"] == []
    assert by_department.status_code == 403


def test_given_closed_cases_when_similar_ones_are_asked_then_how_and_how_fast_they_were_resolved(site):
    number = site.file()["number"]
    site.done("city.staff", number, "sign_for")
    site.done("city.staff", number, "reply", text="已更换灯泡")
    site.done("li.agent", number, "close")
    site.file(content="解放路路灯不亮")  # open: not knowledge yet

    found = site.as_("duty.leader").get(
        "/api/cases/similar", params={"text": "人民路路灯不亮了", "category": "street_light"}
    )
    any_category = site.as_("li.agent").get(
        "/api/cases/similar", params={"text": "人民路路灯不亮了", "category": ""}
    )
    by_department = site.as_("city.staff").get("/api/cases/similar", params={"text": "路灯"})

    assert found.status_code == 200
    [resolved] = found.json()["cases"]
    assert resolved["number"] == number and resolved["reply_text"] == "已更换灯泡"
    assert (
        resolved["same_category"] and resolved["hours"] is not None and resolved["working_days"] is not None
    )
    assert resolved["department"]["code"] == "city_management"
    assert [c["number"] for c in any_category.json()["cases"]] == [number]
    assert by_department.status_code == 403


def test_given_the_catalogue_when_read_then_the_tree_with_limits_and_default_departments(site):
    tree = site.as_("water.staff").get("/api/case-categories").json()["categories"]
    departments = site.as_("duty.leader").get("/api/departments").json()["departments"]

    light = next(c for c in tree if c["code"] == "street_light")
    parent = next(c for c in tree if c["code"] == light["parent"])
    assert light["leaf"] and not parent["leaf"] and parent["parent"] == "city_component"
    assert (light["limit_days"], light["default_department"]) == (3, "city_management")
    assert {"code": "water", "name": "自来水公司", "name_en": "Water Supply Company"} in departments


def test_given_no_login_when_the_cases_are_asked_for_then_401(site):
    client = TestClient(site.app, headers={"origin": ORIGIN})

    assert client.get("/api/cases").status_code == 401
    assert client.post("/api/cases", json=STREET_LIGHT).status_code == 401
    assert client.get("/api/departments").status_code == 401


def test_given_an_attachment_on_disk_gone_when_downloaded_then_404_not_a_crash(site):
    number = site.file()["number"]
    photo = (
        site.as_("city.staff")
        .post(
            f"/api/cases/{number}/attachments",
            params={"filename": "p.png"},
            content=PNG,
            headers={"content-type": "image/png"},
        )
        .json()
    )
    with site.db.unit_of_work() as session:
        stored = session.get(CaseAttachment, photo["id"])
        assert stored is not None
        Path(stored.path).unlink()

    gone = site.as_("li.agent").get(photo["url"])

    assert gone.status_code == 404
