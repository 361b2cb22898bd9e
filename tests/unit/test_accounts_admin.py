"""User administration (API and page), the login page, and who sees which calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from agents_ui.accounts.models import AuditEntry
from agents_ui.app import create_app
from hotline.db import Database, utcnow
from hotline.settings import DatabaseSettings, Settings, SiteSettings
from telephony.models import Call
from tests.unit.accounts_support import ORIGIN, PASSWORD, add_user, log_in


@pytest.fixture
def app_db(tmp_path: Path, db_url: str) -> Iterator[tuple[TestClient, Database]]:
    app = create_app(
        Settings(site=SiteSettings(state_dir=tmp_path / "s"), database=DatabaseSettings(url=db_url))
    )
    with TestClient(app, headers={"origin": ORIGIN}) as client:
        yield client, app.state.db
    app.state.db.dispose()


@pytest.fixture
def admin(app_db: tuple[TestClient, Database]) -> tuple[TestClient, Database, int]:
    client, db = app_db
    admin_id = add_user(db, "root.admin", "administrator")
    log_in(client, "root.admin")
    return client, db, admin_id


def test_given_an_admin_when_they_remove_their_own_admin_role_or_disable_themselves_then_it_is_refused(admin):
    client, db, admin_id = admin

    roles = client.patch(f"/api/users/{admin_id}", json={"roles": ["supervisor"]})
    disable = client.patch(f"/api/users/{admin_id}", json={"active": False})

    assert roles.status_code == disable.status_code == 400
    assert client.get("/api/me").json()["roles"] == ["administrator"]
    with db.unit_of_work() as s:
        refused = s.scalars(select(AuditEntry.action).where(AuditEntry.outcome == "invalid")).all()
    assert refused == ["user.roles", "user.disable"]  # recorded although the change was refused


def test_given_an_admin_when_creating_users_then_rules_apply_and_a_password_reset_ends_sessions(admin):
    client, _, _ = admin
    weak = client.post("/api/users", json={"username": "li.na", "password": "short", "roles": ["agent"]})
    made = client.post(
        "/api/users",
        json={"username": "li.na", "password": PASSWORD, "roles": ["agent"], "extension": "1001"},
    )
    again = client.post("/api/users", json={"username": "LI.NA", "password": PASSWORD, "roles": ["agent"]})
    # Too short is refused by the documented schema (422); a taken name by the rule (400).
    assert (weak.status_code, made.status_code, again.status_code) == (422, 201, 400)

    with TestClient(client.app, headers={"origin": ORIGIN}) as agent:
        log_in(agent, "li.na")
        reset = client.post(
            f"/api/users/{made.json()['id']}/password", json={"password": "a new long password"}
        )
        assert reset.status_code == 204
        assert agent.get("/api/me").status_code == 401
        log_in(agent, "li.na", "a new long password")
    actions = [e["action"] for e in client.get("/api/audit").json()]
    assert {"user.create", "user.password", "login"} <= set(actions)


def test_given_calls_of_two_seats_when_each_role_lists_them_then_agents_see_only_their_own(app_db):
    client, db = app_db
    with db.unit_of_work() as s:
        # A web seat's calls carry the username (the queue member name), a fixed seat's its interface.
        for uid, agent in (
            ("1.1", "PJSIP/seat1001"),
            ("1.2", "PJSIP/seat1002"),
            ("1.3", ""),
            ("1.4", "li.na"),
        ):
            s.add(Call(uniqueid=uid, linkedid=uid, channel="c", agent=agent, started_at=utcnow()))
    add_user(db, "li.na", "agent", extension="1001")
    add_user(db, "no.seat", "agent")
    add_user(db, "zhang.wei", "supervisor")
    add_user(db, "duty", "duty_leader")

    def seen(username: str) -> list[str] | int:
        client.cookies.clear()
        log_in(client, username)
        reply = client.get("/api/calls")
        return (
            sorted(c["uniqueid"] for c in reply.json()["calls"])
            if reply.status_code == 200
            else reply.status_code
        )

    assert seen("li.na") == ["1.1", "1.4"]
    assert seen("no.seat") == []
    assert seen("zhang.wei") == ["1.1", "1.2", "1.3", "1.4"]
    assert seen("duty") == 403


def test_given_the_user_page_when_shown_then_it_is_chinese_by_default_and_english_on_request(admin):
    client, _, _ = admin
    zh = client.get("/users").text
    en = client.get("/users", params={"lang": "en"}).text
    assert '<html lang="zh-CN">' in zh and "用户管理" in zh and "系统管理员" in zh
    assert '<html lang="en">' in en and "Users" in en and "用户管理" not in en


def test_given_the_user_page_when_forms_are_posted_then_users_are_made_and_errors_explained(admin):
    client, _, admin_id = admin
    made = client.post(
        "/users", data={"username": "li.na", "password": PASSWORD, "roles": ["agent"], "lang": "zh-CN"}
    )
    assert "用户已创建。" in made.text and 'data-username="li.na"' in made.text
    own = client.post(f"/users/{admin_id}/active", data={"active": "0"})
    assert "不能停用自己的账号。" in own.text


def test_given_the_login_page_when_a_user_logs_in_then_they_go_where_they_were_going_but_never_off_site(
    app_db,
):
    client, db = app_db
    add_user(db, "zhang.wei", "supervisor")
    page = client.get("/calls", params={"lang": "en"})
    assert page.url.path == "/login" and "用户名" in page.text  # zh-CN: the site language

    back = client.post(
        "/login",
        data={"username": "zhang.wei", "password": PASSWORD, "next": "/calls?lang=en"},
        follow_redirects=False,
    )
    assert (back.status_code, back.headers["location"]) == (303, "/calls?lang=en")
    client.post("/logout")
    away = client.post(
        "/login",
        data={"username": "zhang.wei", "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"
    wrong = client.post("/login", data={"username": "zhang.wei", "password": "nope nope nope"})
    assert wrong.status_code == 401 and "用户名或密码不正确。" in wrong.text


def test_given_the_openapi_document_when_read_then_every_api_route_is_there_with_its_refusals(app_db):
    client, _ = app_db
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/healthz",
        "/api/calls",
        "/api/session",
        "/api/me",
        "/api/users",
        "/api/users/{user_id}",
        "/api/users/{user_id}/password",
        "/api/audit",
        "/api/users/{user_id}/skills",
        "/api/teams",
        "/api/teams/{team_id}",
        "/api/seat",
        "/api/seat/login",
        "/api/seat/logout",
        "/api/seat/pause",
        "/api/seat/unpause",
        "/api/seat/wrap-up",
        "/api/calls/{uniqueid}/pop",
        "/api/calls/{uniqueid}/case-prefill",
        "/api/wallboard",
        "/api/supervise",
        "/api/seat/recording/pause",
        "/api/seat/recording/resume",
        "/api/recordings/search",
        "/api/recordings/{recording_id}",
        "/api/recordings/{recording_id}/peaks",
        "/api/recordings/{recording_id}/access",
        "/api/recordings/{recording_id}/audio",
        "/api/cases",
        "/api/cases/candidates",
        "/api/cases/similar",
        "/api/cases/{number}",
        "/api/cases/{number}/actions/{action}",
        "/api/cases/{number}/calls",
        "/api/cases/{number}/attachments",
        "/api/cases/{number}/attachments/{attachment_id}",
        "/api/case-categories",
        "/api/departments",
        "/api/outbox",
        "/api/outbox/{message_id}",
        "/api/outbox/{message_id}/retry",
        "/api/admin/departments",
        "/api/admin/departments/{department_id}",
        "/api/admin/categories",
        "/api/admin/categories/{category_id}",
        "/api/admin/routing-rules",
        "/api/admin/routing-rules/{rule_id}",
        "/api/admin/department-members",
        "/api/admin/department-members/{user_id}",
        "/api/admin/route-preview",
        "/api/integrations/{system}/updates",
        "/open311/v2/services.{format}",
        "/open311/v2/services/{service_code}.{format}",
        "/open311/v2/requests.{format}",
        "/open311/v2/requests/{service_request_id}.{format}",
        "/open311/v2/tokens/{token_id}.{format}",
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith("/open311/"):
                continue  # Open311 needs no session; its POST answers 403 for a bad api_key
            if (path, method) not in {("/healthz", "get"), ("/api/session", "post")}:
                assert "401" in operation["responses"], (method, path)
    assert {"401", "429"} <= set(paths["/api/session"]["post"]["responses"])
