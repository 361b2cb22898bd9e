"""The case catalogue's API and page (agents_ui.catalogue_api) through TestClient, on a migrated
SQLite copy with the shipped catalogue: administrators only, every change and every refused change
on the audit log, refusals answered 404 / 409 / 422 as documented, and a refusal leaving nothing
half-done even though its audit row is committed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from agents_ui.accounts.models import AuditEntry
from agents_ui.app import create_app
from case_bridge import catalogue
from case_bridge.models import Case, Category, DepartmentMember
from hotline.db import Database
from hotline.settings import DatabaseSettings, Settings, SiteSettings
from tests.unit.accounts_support import ORIGIN, add_user, log_in


@pytest.fixture
def app_db(tmp_path: Path, db_url: str) -> Iterator[tuple[TestClient, Database]]:
    app = create_app(
        Settings(site=SiteSettings(state_dir=tmp_path / "s"), database=DatabaseSettings(url=db_url))
    )
    with app.state.db.unit_of_work() as session:
        catalogue.seed_defaults(session)
    with TestClient(app, headers={"origin": ORIGIN}) as client:
        yield client, app.state.db
    app.state.db.dispose()


@pytest.fixture
def admin(app_db: tuple[TestClient, Database]) -> tuple[TestClient, Database]:
    client, db = app_db
    add_user(db, "root.admin", "administrator")
    log_in(client, "root.admin")
    return client, db


def trail(db: Database) -> list[tuple[str, str, str]]:
    """(action, target, outcome) of the administrator's catalogue acts, oldest first."""
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.actor == "root.admin", AuditEntry.action != "login")
        )
        return [(e.action, e.target, e.outcome) for e in rows]


def by_code(rows: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(row for row in rows if row["code"] == code)


def test_given_other_roles_when_they_call_the_catalogue_then_they_are_refused_and_nothing_is_written(app_db):
    client, db = app_db
    anonymous = client.post("/api/admin/departments", json={"code": "sneaky", "name": "偷偷加的"})
    assert anonymous.status_code == 401
    for role in ("agent", "supervisor", "department_staff", "duty_leader"):
        username = f"not.admin.{role}".replace("_", "-")
        add_user(db, username, role)
        log_in(client, username)
        assert client.get("/api/admin/departments").status_code == 403, role
        assert client.post("/api/admin/departments", json={"code": "sneaky", "name": "偷"}).status_code == 403
        assert client.get("/api/admin/route-preview").status_code == 403
        page = client.get("/admin/catalogue", follow_redirects=False)
        assert page.status_code == 403, role
    with db.unit_of_work() as session:
        assert catalogue.department_by_code(session, "sneaky") is None


def test_given_an_admin_when_they_build_a_branch_of_the_catalogue_then_each_step_answers_and_is_audited(
    admin,
):
    client, db = admin
    staff_id = add_user(db, "bumen.zhao", "department_staff")

    department = client.post(
        "/api/admin/departments",
        json={"code": "lighting_office", "name": "路灯管理所", "name_en": "Street Lighting Office"},
    )
    category = client.post(
        "/api/admin/categories",
        json={
            "code": "lamp_post_tilted",
            "parent": "city_component",
            "name": "灯杆倾斜",
            "kind": "component",
            "limit_days": 2,
            "urgent_hours": 6,
            "default_department": "lighting_office",
        },
    )
    rule = client.post(
        "/api/admin/routing-rules",
        json={"category": "lamp_post_tilted", "grid_prefix": " W07 ", "department": "west_district"},
    )
    preview = client.get(
        "/api/admin/route-preview", params={"category": "lamp_post_tilted", "grid_cell": "W070012"}
    )
    elsewhere = client.get(
        "/api/admin/route-preview", params={"category": "lamp_post_tilted", "grid_cell": "E01"}
    )
    members = client.put(
        f"/api/admin/department-members/{staff_id}", json={"departments": ["lighting_office"]}
    )

    assert [r.status_code for r in (department, category, rule, preview, elsewhere, members)] == [
        201,
        201,
        201,
        200,
        200,
        200,
    ]
    assert department.json()["active"] is True
    made = category.json()
    assert (made["parent"], made["depth"], made["limit_days"], made["urgent_hours"]) == (
        "city_component",
        1,
        2,
        6,
    )
    assert made["default_department"] == "lighting_office"
    assert (rule.json()["grid_prefix"], rule.json()["category"]) == ("W07", "lamp_post_tilted")
    answer = preview.json()
    assert (answer["decided_by"], answer["department"]["code"], answer["rule"]["id"]) == (
        "rule",
        "west_district",
        rule.json()["id"],
    )
    assert (answer["via_category"], answer["lineage"]) == (
        "lamp_post_tilted",
        ["lamp_post_tilted", "city_component"],
    )
    default = elsewhere.json()
    assert (default["decided_by"], default["department"]["code"], default["rule"]) == (
        "default",
        "lighting_office",
        None,
    )
    assert members.json()["departments"] == ["lighting_office"]

    listed = by_code(client.get("/api/admin/departments").json(), "lighting_office")
    assert (listed["members"], listed["categories"], listed["routing_rules"]) == (1, 1, 0)
    assert by_code(client.get("/api/admin/categories").json(), "lamp_post_tilted")["depth"] == 1
    assert rule.json() in client.get("/api/admin/routing-rules").json()
    staff = next(m for m in client.get("/api/admin/department-members").json() if m["user_id"] == staff_id)
    assert (staff["department_staff"], staff["departments"]) == (True, ["lighting_office"])
    assert trail(db) == [
        ("department.create", "department:lighting_office", "ok"),
        ("category.create", "category:lamp_post_tilted", "ok"),
        ("routing_rule.create", f"routing_rule:{rule.json()['id']}", "ok"),
        ("department.members", "user:bumen.zhao", "ok"),
    ]


def test_given_bad_values_when_sent_then_422_names_the_field_in_fastapis_shape_and_rule_refusals_are_audited(
    admin,
):
    client, db = admin

    too_long = client.post("/api/admin/categories", json={"code": "slow", "name": "慢", "limit_days": 61})
    no_parent = client.post(
        "/api/admin/categories", json={"code": "orphan", "name": "孤儿", "parent": "nowhere"}
    )
    no_department = client.post("/api/admin/routing-rules", json={"grid_prefix": "Q", "department": "nobody"})
    nothing = client.post("/api/admin/routing-rules", json={"department": "water"})
    unknown = client.get("/api/admin/route-preview", params={"category": "no_such"})

    assert [r.status_code for r in (too_long, no_parent, no_department, nothing, unknown)] == [422] * 5
    assert too_long.json()["detail"][0]["loc"] == ["body", "limit_days"]  # by the schema
    assert no_parent.json()["detail"] == [
        {"loc": ["body", "parent"], "msg": "no category nowhere", "type": "value_error"}
    ]
    assert no_department.json()["detail"][0]["loc"] == ["body", "department"]
    assert nothing.json()["detail"][0]["loc"] == ["body", "category"]
    assert unknown.json()["detail"][0]["loc"] == ["query", "category"]
    # Refused by the catalogue's rules: on the audit log; refused by the schema: never reached it.
    assert trail(db) == [
        ("category.create", "category:orphan", "invalid"),
        ("routing_rule.create", "routing_rule:*", "invalid"),
        ("routing_rule.create", "routing_rule:*", "invalid"),
    ]


def test_given_conflicts_when_sent_then_409_says_why_and_404_is_for_rows_that_do_not_exist(admin):
    client, db = admin
    taken = client.post("/api/admin/departments", json={"code": "water", "name": "又一个自来水公司"})
    missing = client.patch("/api/admin/departments/99999", json={"name": "无"})
    gone_rule = client.delete("/api/admin/routing-rules/99999")
    west = by_code(client.get("/api/admin/departments").json(), "west_district")
    routed_to = client.patch(f"/api/admin/departments/{west['id']}", json={"active": False})
    component = by_code(client.get("/api/admin/categories").json(), "city_component")
    loop = client.patch(f"/api/admin/categories/{component['id']}", json={"parent": "street_light"})
    agent_id = add_user(db, "zuoxi.wu", "agent")
    not_staff = client.put(f"/api/admin/department-members/{agent_id}", json={"departments": ["water"]})
    no_user = client.put("/api/admin/department-members/99999", json={"departments": []})

    assert [r.status_code for r in (taken, missing, gone_rule, routed_to, loop, not_staff, no_user)] == [
        409,
        404,
        404,
        409,
        409,
        409,
        404,
    ]
    assert taken.json() == {"detail": "code: water is taken"}
    assert routed_to.json()["detail"].startswith("active: 2 routing rules and 0 active categories send cases")
    assert loop.json()["detail"].startswith("parent: street_light lies inside city_component's branch")
    assert not_staff.json() == {"detail": "departments: zuoxi.wu does not hold the department_staff role"}
    # Taking a user out of every department is allowed whatever their role.
    assert (
        client.put(f"/api/admin/department-members/{agent_id}", json={"departments": []}).status_code == 200
    )
    assert trail(db) == [
        ("department.create", "department:water", "invalid"),
        ("department.update", "department:west_district", "invalid"),
        ("category.move", "category:city_component", "invalid"),
        ("department.members", "user:zuoxi.wu", "invalid"),
    ]


def test_given_a_patch_that_moves_and_then_is_refused_when_sent_then_the_move_is_undone_too(admin):
    client, db = admin
    closed = client.post(
        "/api/admin/departments", json={"code": "closed_office", "name": "撤销的科室"}
    ).json()
    assert client.patch(f"/api/admin/departments/{closed['id']}", json={"active": False}).status_code == 200
    lights = by_code(client.get("/api/admin/categories").json(), "street_light")

    refused = client.patch(
        f"/api/admin/categories/{lights['id']}",
        json={"parent": "road_traffic", "default_department": "closed_office"},
    )

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "default_department"]
    after = by_code(client.get("/api/admin/categories").json(), "street_light")
    assert (after["parent"], after["default_department"]) == ("public_facilities", "city_management")
    with db.unit_of_work() as session:
        stored = session.scalars(select(Category).where(Category.code == "street_light")).one()
        assert catalogue.lineage(session, stored)[1].code == "public_facilities"
    assert trail(db)[-1] == ("category.move", "category:street_light", "invalid")


def test_given_rows_cases_use_when_deleted_then_refused_with_deactivate_instead_and_unused_rows_go(admin):
    client, db = admin
    used = client.post("/api/admin/departments", json={"code": "used_office", "name": "办过案的科室"}).json()
    spare = client.post("/api/admin/departments", json={"code": "spare_office", "name": "备用科室"}).json()
    kiosk = client.post("/api/admin/categories", json={"code": "kiosk", "name": "报刊亭"}).json()
    with db.unit_of_work() as session:
        session.add(
            Case(
                number="2026112100001",
                source="phone",
                status="dispatched",
                department_id=used["id"],
                category_id=kiosk["id"],
                content="报刊亭占道",
            )
        )

    refused_department = client.delete(f"/api/admin/departments/{used['id']}")
    refused_category = client.delete(f"/api/admin/categories/{kiosk['id']}")
    deactivated = client.patch(f"/api/admin/departments/{used['id']}", json={"active": False})
    category_off = client.patch(f"/api/admin/categories/{kiosk['id']}", json={"active": False})
    deleted = client.delete(f"/api/admin/departments/{spare['id']}")

    assert refused_department.status_code == refused_category.status_code == 409
    assert refused_department.json()["detail"].endswith("deactivate it instead")
    assert refused_category.json()["detail"].endswith("deactivate it instead")
    assert (deactivated.status_code, deactivated.json()["active"], deactivated.json()["cases"]) == (
        200,
        False,
        1,
    )
    assert (category_off.status_code, category_off.json()["active"]) == (200, False)
    assert deleted.status_code == 204
    codes = {d["code"] for d in client.get("/api/admin/departments").json()}
    assert "used_office" in codes and "spare_office" not in codes
    assert trail(db)[-5:] == [
        ("department.delete", "department:used_office", "invalid"),
        ("category.delete", "category:kiosk", "invalid"),
        ("department.update", "department:used_office", "ok"),
        ("category.update", "category:kiosk", "ok"),
        ("department.delete", "department:spare_office", "ok"),
    ]


def test_given_members_when_a_department_is_deleted_then_they_go_with_it_and_the_detail_says_what_changed(
    admin,
):
    client, db = admin
    staff_id = add_user(db, "bumen.qian", "department_staff")
    spare = client.post("/api/admin/departments", json={"code": "spare_office", "name": "备用科室"}).json()
    client.put(f"/api/admin/department-members/{staff_id}", json={"departments": ["spare_office", "water"]})
    moved = client.put(f"/api/admin/department-members/{staff_id}", json={"departments": ["gas", "water"]})

    assert moved.json()["departments"] == ["gas", "water"]
    assert client.delete(f"/api/admin/departments/{spare['id']}").status_code == 204
    with db.unit_of_work() as session:
        kept = session.scalars(select(DepartmentMember).where(DepartmentMember.user_id == staff_id)).all()
        details = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "department.members").order_by(AuditEntry.id)
        ).all()
    assert len(kept) == 2
    assert details == ["+spare_office +water", "+gas -spare_office"]


def test_given_the_page_when_opened_then_admins_get_it_in_chinese_or_english_and_others_log_in_first(app_db):
    client, db = app_db
    away = client.get("/admin/catalogue", follow_redirects=False)
    assert (away.status_code, away.headers["location"]) == (303, "/login?next=/admin/catalogue")

    add_user(db, "root.admin", "administrator")
    log_in(client, "root.admin")
    chinese = client.get("/admin/catalogue")
    english = client.get("/admin/catalogue?lang=en")

    assert chinese.status_code == english.status_code == 200
    assert "<title>工单目录管理" in chinese.text and "派单测试：这件工单会派给谁？" in chinese.text
    assert "<title>Case catalogue" in english.text and "Where would this case go?" in english.text
    assert "/static/catalogue/catalogue.js" in chinese.text
    assert client.get("/static/catalogue/catalogue.js").status_code == 200
