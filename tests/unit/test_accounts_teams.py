"""Teams (班组): the service, the API, the Users page, the skills editor's assets, migration 0004,
and the resource rule: a supervisor sees their own team's calls (every call in no team)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from agents_ui.accounts import service
from agents_ui.accounts.models import AgentSkill, AuditEntry, LoginSession, Team, User
from agents_ui.app import create_app
from agents_ui.i18n import LANGUAGES, translator
from hotline.db import Database, utcnow
from hotline.migrate import alembic_config, include_name, upgrade
from hotline.models import Base
from hotline.settings import DatabaseSettings, QueueSettings, Settings, SiteSettings
from telephony.models import Call
from tests.unit.accounts_support import ORIGIN, add_user, log_in

UI = Path(__file__).resolve().parents[2] / "agents_ui"
SCRIPT = UI / "static" / "users" / "users.js"
QUEUES = (QueueSettings(name="main", title="综合受理"), QueueSettings(name="tax", title="税务"))
ADMIN = service.Actor(username="root.admin", source_ip="10.0.0.9")


@pytest.fixture
def app_db(tmp_path: Path, db_url: str) -> Iterator[tuple[TestClient, Database]]:
    app = create_app(
        Settings(
            site=SiteSettings(state_dir=tmp_path / "s"), database=DatabaseSettings(url=db_url), queues=QUEUES
        )
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


def audit_rows(db: Database, prefix: str = "team.") -> list[tuple[str, str, str, str]]:
    with db.unit_of_work() as s:
        return [
            (e.action, e.target, e.outcome, e.detail)
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
            )
        ]


def team_of(db: Database, username: str) -> int | None:
    with db.unit_of_work() as s:
        return s.scalar(select(User.team_id).where(User.username == username))


# ----- the service ---------------------------------------------------------------------------------


def test_given_teams_when_created_renamed_and_deleted_then_each_change_is_audited(db):
    with db.unit_of_work() as s:
        team = service.create_team(s, name=" 一班 ", display_name="受理一班", actor=ADMIN)
        team_id = team.id
        assert (team.name, team.label) == ("一班", "受理一班")
    with db.unit_of_work() as s:
        service.rename_team(s, team_id=team_id, name="A班", display_name="", actor=ADMIN)
        service.rename_team(s, team_id=team_id, name="A班", actor=ADMIN)  # no change, no row
    with db.unit_of_work() as s:
        assert [(t.name, t.label) for t in service.list_teams(s)] == [("A班", "A班")]
        service.delete_team(s, team_id=team_id, actor=ADMIN)
    with db.unit_of_work() as s:
        assert service.list_teams(s) == []

    assert audit_rows(db) == [
        ("team.create", "一班", "ok", "display name 受理一班"),
        ("team.update", "一班", "ok", "name 一班 -> A班; display name 受理一班 -> -"),
        ("team.delete", "A班", "ok", ""),
    ]
    with db.unit_of_work() as s:
        assert {e.actor for e in s.scalars(select(AuditEntry))} == {"root.admin"}
        assert {e.source_ip for e in s.scalars(select(AuditEntry))} == {"10.0.0.9"}


@pytest.mark.parametrize(
    ("name", "code"),
    [("", "team_name_invalid"), ("   ", "team_name_invalid"), ("x" * 65, "team_name_invalid"),
     ("a\tb", "team_name_invalid"), ("ONE", "team_name_taken"), ("one", "team_name_taken")],
)  # fmt: skip
def test_given_a_bad_or_taken_team_name_when_creating_then_it_is_refused(db, name, code):
    with db.unit_of_work() as s:
        service.create_team(s, name="One")
    with pytest.raises(service.AccountError) as refused, db.unit_of_work() as s:
        service.create_team(s, name=name)
    assert refused.value.code == code


def test_given_two_teams_when_one_is_renamed_to_the_other_then_it_is_refused_but_its_own_name_is_fine(db):
    with db.unit_of_work() as s:
        first = service.create_team(s, name="一班").id
        service.create_team(s, name="二班")
    with pytest.raises(service.AccountError, match="another team"), db.unit_of_work() as s:
        service.rename_team(s, team_id=first, name="二班", actor=ADMIN)
    with db.unit_of_work() as s:
        service.rename_team(s, team_id=first, name="一班", display_name="first", actor=ADMIN)
    with pytest.raises(service.TeamNotFound), db.unit_of_work() as s:
        service.rename_team(s, team_id=first + 100, name="x", actor=ADMIN)


def test_given_a_team_with_a_member_when_deleted_then_it_is_refused_until_the_member_moves(db):
    agent = add_user(db, "li.na", "agent", extension="1001")
    with db.unit_of_work() as s:
        team = service.create_team(s, name="一班").id
        service.assign_team(s, user_id=agent, team_id=team, actor=ADMIN)
    with pytest.raises(service.TeamNotEmpty) as refused, db.unit_of_work() as s:
        service.delete_team(s, team_id=team, actor=ADMIN)
    assert refused.value.members == 1 and "move them" in str(refused.value)

    with db.unit_of_work() as s:
        service.assign_team(s, user_id=agent, team_id=None, actor=ADMIN)
        service.delete_team(s, team_id=team, actor=ADMIN)
    assert team_of(db, "li.na") is None
    with db.unit_of_work() as s:
        moves = s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "user.update")).all()
    assert moves == ["team - -> 一班", "team 一班 -> -"]


def test_given_a_user_when_created_in_a_team_then_it_is_recorded_and_an_unknown_team_is_refused(db):
    with db.unit_of_work() as s:
        team = service.create_team(s, name="一班").id
        made = service.create_user(
            s, username="li.na", password="long enough pw", roles=["agent"], display_name="", team_id=team
        )
        assert made.team_id == team
    with pytest.raises(service.AccountError) as refused, db.unit_of_work() as s:
        service.create_user(
            s, username="wang", password="long enough pw", roles=["agent"], display_name="", team_id=999
        )
    assert refused.value.code == "team_unknown"
    with db.unit_of_work() as s:
        created = s.scalar(select(AuditEntry.detail).where(AuditEntry.action == "user.create"))
    assert created == "roles=agent team=一班"


# ----- the resource rule ---------------------------------------------------------------------------


def two_teams(db: Database) -> dict[str, int]:
    """Team A: li.na (fixed-seat style names) and wang.fang (web seat); team B: zhao.lei.
    Supervisors: ban.a (team A), ban.b (team B), ban.free (no team); an administrator."""
    ids = {
        "li.na": add_user(db, "li.na", "agent", extension="1001"),
        "wang.fang": add_user(db, "wang.fang", "agent", extension="1002"),
        "zhao.lei": add_user(db, "zhao.lei", "agent", extension="2001"),
        "ban.a": add_user(db, "ban.a", "supervisor"),
        "ban.b": add_user(db, "ban.b", "supervisor", "agent", extension="2009"),
        "ban.free": add_user(db, "ban.free", "supervisor"),
        "boss": add_user(db, "boss", "administrator", "supervisor"),
    }
    with db.unit_of_work() as s:
        team_a = service.create_team(s, name="A").id
        team_b = service.create_team(s, name="B").id
        for name, team in [("li.na", team_a), ("wang.fang", team_a), ("ban.a", team_a)]:
            service.assign_team(s, user_id=ids[name], team_id=team, actor=ADMIN)
        for name, team in [("zhao.lei", team_b), ("ban.b", team_b), ("boss", team_a)]:
            service.assign_team(s, user_id=ids[name], team_id=team, actor=ADMIN)
        # Every form a call's agent column takes: interface, endpoint, extension, web seat username.
        for uid, agent in [
            ("101.1", "PJSIP/seat1001"),
            ("101.2", "seat1001"),
            ("101.3", "1001"),
            ("101.4", "wang.fang"),
            ("102.1", "PJSIP/seat2001"),
            ("102.2", "zhao.lei"),
            ("102.3", "ban.b"),
            ("109.1", ""),  # nobody answered (abandoned, IVR only)
            ("109.2", "PJSIP/seat9999"),  # a desk phone from the settings, no account
        ]:
            s.add(Call(uniqueid=uid, linkedid=uid, channel="c", agent=agent, started_at=utcnow()))
    return ids


EVERY_CALL = ["101.1", "101.2", "101.3", "101.4", "102.1", "102.2", "102.3", "109.1", "109.2"]


def test_given_agents_in_two_teams_when_each_lists_calls_then_a_supervisor_sees_their_team_only(app_db):
    client, db = app_db
    two_teams(db)

    def seen(username: str) -> list[str]:
        client.cookies.clear()
        log_in(client, username)
        reply = client.get("/api/calls")
        assert reply.status_code == 200, reply.text
        assert reply.json()["total"] == len(reply.json()["calls"])
        return sorted(c["uniqueid"] for c in reply.json()["calls"])

    assert seen("ban.a") == ["101.1", "101.2", "101.3", "101.4"]
    assert seen("ban.b") == ["102.1", "102.2", "102.3"]  # their own seat's call included
    assert seen("ban.free") == EVERY_CALL  # a small site has no teams: all calls
    assert seen("boss") == EVERY_CALL  # an administrator sees everything, team or not
    assert seen("li.na") == ["101.1", "101.2", "101.3"]  # an agent: their own seat, never the team's
    assert seen("zhao.lei") == ["102.1", "102.2"]


def test_given_an_agent_moved_to_another_team_then_their_calls_follow_them(app_db):
    client, db = app_db
    ids = two_teams(db)
    with db.unit_of_work() as s:
        team_b = s.scalar(select(Team.id).where(Team.name == "B"))
        service.assign_team(s, user_id=ids["li.na"], team_id=team_b, actor=ADMIN)
    log_in(client, "ban.b")

    calls = sorted(c["uniqueid"] for c in client.get("/api/calls").json()["calls"])

    assert calls == ["101.1", "101.2", "101.3", "102.1", "102.2", "102.3"]


def test_given_the_helper_then_it_names_the_seats_a_user_may_see_or_none_for_all(db):
    ids = two_teams(db)
    with db.unit_of_work() as s:
        names = {u: service.team_agent_names(s, s.get(User, i)) for u, i in ids.items()}

    assert names["ban.free"] is None and names["boss"] is None
    assert names["ban.a"] == frozenset(
        {"li.na", "1001", "seat1001", "PJSIP/seat1001"}
        | {"wang.fang", "1002", "seat1002", "PJSIP/seat1002"}
        | {"ban.a", "boss"}  # members without a seat: only their username
    )
    assert names["li.na"] == frozenset({"li.na", "1001", "seat1001", "PJSIP/seat1001"})
    assert "zhao.lei" in (names["ban.b"] or ()) and "li.na" not in (names["ban.b"] or ())


def test_given_a_team_supervisor_when_popping_calls_then_only_their_teams_calls_open(app_db):
    client, db = app_db
    two_teams(db)

    def pop(username: str, uniqueid: str) -> int:
        client.cookies.clear()
        log_in(client, username)
        return int(client.get(f"/api/calls/{uniqueid}/pop").status_code)

    assert [pop("ban.a", u) for u in ("101.1", "101.4", "102.1", "109.1")] == [200, 200, 404, 404]
    assert [pop("ban.free", u) for u in ("101.1", "102.1", "109.1")] == [200, 200, 200]
    assert [pop("ban.b", u) for u in ("102.3", "102.1", "101.1")] == [200, 200, 404]


def test_given_a_team_supervisor_on_the_calls_page_then_it_says_whose_calls_it_shows(app_db):
    client, db = app_db
    two_teams(db)
    with db.unit_of_work() as s:
        team_a = s.scalars(select(Team).where(Team.name == "A")).one()
        team_a.display_name = "受理一班"

    log_in(client, "ban.a")
    assert "只显示本班组（受理一班）成员接听的来电。" in client.get("/calls").text
    client.cookies.clear()
    log_in(client, "ban.free")
    assert 'id="team-scope"' not in client.get("/calls").text


# ----- the API -------------------------------------------------------------------------------------


def test_given_an_admin_when_managing_teams_through_the_api_then_statuses_and_audit_rows_match(admin):
    client, db, _ = admin
    made = client.post("/api/teams", json={"name": "一班", "display_name": "受理一班"})
    assert made.status_code == 201
    team = made.json()
    assert team == {"id": team["id"], "name": "一班", "display_name": "受理一班", "members": 0}

    assert client.post("/api/teams", json={"name": "一班"}).status_code == 400
    assert client.post("/api/teams", json={"name": ""}).status_code == 422  # the document says 1-64
    assert client.post("/api/teams", json={"name": "x" * 65}).status_code == 422

    agent = client.post(
        "/api/users",
        json={"username": "li.na", "password": "long enough pw", "roles": ["agent"], "team_id": team["id"]},
    )
    assert agent.status_code == 201 and agent.json()["team_id"] == team["id"]
    unknown = client.post(
        "/api/users",
        json={"username": "wang", "password": "long enough pw", "roles": ["agent"], "team_id": 999},
    )
    assert unknown.status_code == 400 and "no team" in unknown.json()["detail"]

    listed = client.get("/api/teams").json()
    assert [(t["name"], t["members"]) for t in listed] == [("一班", 1)]
    assert {u["username"]: u["team_id"] for u in client.get("/api/users").json()} == {
        "root.admin": None,
        "li.na": team["id"],
    }

    renamed = client.patch(f"/api/teams/{team['id']}", json={"name": "A班"})
    assert renamed.status_code == 200
    assert renamed.json() == {"id": team["id"], "name": "A班", "display_name": "受理一班", "members": 1}
    assert client.patch("/api/teams/999", json={"name": "x"}).status_code == 404

    refused = client.delete(f"/api/teams/{team['id']}")
    assert refused.status_code == 409 and "1 member" in refused.json()["detail"]
    assert client.delete("/api/teams/999").status_code == 404

    kept = client.patch(f"/api/users/{agent.json()['id']}", json={"display_name": "Li Na"})
    assert kept.json()["team_id"] == team["id"]  # a change without team_id leaves the team alone
    out = client.patch(f"/api/users/{agent.json()['id']}", json={"team_id": None})
    assert out.status_code == 200 and out.json()["team_id"] is None
    assert client.patch(f"/api/users/{agent.json()['id']}", json={"team_id": 999}).status_code == 400
    assert client.delete(f"/api/teams/{team['id']}").status_code == 204
    assert client.get("/api/teams").json() == []

    assert audit_rows(db) == [
        ("team.create", "一班", "ok", "display name 受理一班"),
        ("team.update", "一班", "ok", "name 一班 -> A班"),
        ("team.delete", "A班", "invalid", "1 member(s) left"),  # kept although the request was refused
        ("team.delete", "A班", "ok", ""),
    ]
    assert [a["action"] for a in client.get("/api/audit").json()][:2] == ["team.delete", "user.update"]


def test_given_the_openapi_document_then_the_team_routes_document_their_refusals(app_db):
    client, _ = app_db
    paths = client.get("/openapi.json").json()["paths"]

    assert set(paths["/api/teams"]) == {"get", "post"}
    assert set(paths["/api/teams/{team_id}"]) == {"patch", "delete"}
    assert {"400", "401", "403"} <= set(paths["/api/teams"]["post"]["responses"])
    assert {"400", "401", "403", "404"} <= set(paths["/api/teams/{team_id}"]["patch"]["responses"])
    assert set(paths["/api/teams/{team_id}"]["delete"]["responses"]) == {
        "204",
        "401",
        "403",
        "404",
        "409",
        "422",
    }
    user_out = client.get("/openapi.json").json()["components"]["schemas"]["UserOut"]
    assert "team_id" in user_out["properties"] and "team_id" in user_out["required"]


# ----- the Users page ------------------------------------------------------------------------------


def test_given_the_users_page_when_teams_are_made_renamed_and_deleted_then_it_explains_each_outcome(admin):
    client, db, _ = admin
    agent = add_user(db, "li.na", "agent", extension="1001")

    made = client.post("/teams", data={"name": "一班", "display_name": "", "lang": "zh-CN"})
    assert "班组已创建。" in made.text and 'data-team="一班"' in made.text
    with db.unit_of_work() as s:
        team = s.scalars(select(Team)).one().id
    taken = client.post("/teams", data={"name": "一班", "lang": "en"})
    assert "Another team has that name." in taken.text

    moved = client.post(
        f"/users/{agent}",
        data={"display_name": "Li", "extension": "1001", "roles": "agent", "team_id": str(team)},
    )
    assert "已保存。" in moved.text and team_of(db, "li.na") == team
    client.post(f"/users/{agent}", data={"display_name": "Li Na", "extension": "1001", "roles": "agent"})
    assert team_of(db, "li.na") == team  # a form without the selector leaves the team alone

    renamed = client.post(f"/teams/{team}", data={"name": "一班", "display_name": "受理一班"})
    assert "班组已保存。" in renamed.text and ">受理一班</option>" in renamed.text

    refused = client.post(f"/teams/{team}/delete", data={"lang": "zh-CN"})
    assert "该班组还有成员，不能删除。" in refused.text

    client.post(
        f"/users/{agent}",
        data={"display_name": "Li Na", "extension": "1001", "roles": "agent", "team_id": ""},
    )
    assert team_of(db, "li.na") is None
    deleted = client.post(f"/teams/{team}/delete", data={"lang": "en"})
    assert "Team deleted." in deleted.text and "No teams yet." in deleted.text


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.words = ""
        self._in_words = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_words = tag == "script" and dict(attrs).get("id") == "words"

    def handle_endtag(self, tag: str) -> None:
        self._in_words = False

    def handle_data(self, data: str) -> None:
        if self._in_words:
            self.words += data


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.mark.parametrize("language", LANGUAGES)
def test_given_the_users_page_then_each_agent_has_a_skills_editor_with_every_queue(admin, language):
    client, db, _ = admin
    agent = add_user(db, "li.na", "agent", extension="1001")
    add_user(db, "zhang.wei", "supervisor")
    client.post(f"/api/users/{agent}/skills", json={"skills": {"tax": 7}})

    page = parse(client.get("/users", params={"lang": language}).text)

    forms = [a for tag, a in page.tags if tag == "form" and "skills" in (a.get("class") or "").split()]
    assert [f["data-user-id"] for f in forms] == [str(agent)]  # only those who answer queues
    assert forms[0]["data-main-queue"] == "main"
    boxes = {
        a["value"]: "checked" in a for tag, a in page.tags if tag == "input" and a.get("name") == "queue"
    }
    assert boxes == {"main": False, "tax": True}
    penalties = [
        (a["value"], "disabled" in a) for tag, a in page.tags if tag == "input" and a.get("name") == "penalty"
    ]
    assert penalties == [("0", True), ("7", False)]
    assert json.loads(page.words) == {
        k: v for k, v in translator(language).items() if k.startswith("skills_")
    }
    assert ("script", {"type": "module", "src": "/static/users/users.js"}) in page.tags
    selects = [a for tag, a in page.tags if tag == "select"]
    assert len(selects) == 4 and all(s["name"] == "team_id" for s in selects)  # new user + 3 users


def test_given_an_agent_without_skills_then_the_editor_shows_the_main_queue_they_really_answer(admin):
    client, db, _ = admin
    add_user(db, "li.na", "agent", extension="1001")

    page = parse(client.get("/users").text)

    boxes = {
        a["value"]: "checked" in a for tag, a in page.tags if tag == "input" and a.get("name") == "queue"
    }
    assert boxes == {"main": True, "tax": False}


def test_the_skills_script_parses_as_an_es_module_and_asks_only_for_words_that_exist():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: scripts/bootstrap.sh installs nodejs")
    source = SCRIPT.read_text(encoding="utf-8")
    checked = subprocess.run(
        [node, "--check", "--input-type=module"], input=source, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr

    asked = set(re.findall(r"""["'](skills_\w+)["']""", source))
    assert {"skills_saved", "skills_saved_main", "skills_failed", "skills_penalty_invalid"} <= asked
    assert asked <= translator("en").keys()
    assert "/api/users/${form.dataset.userId}/skills" in source


def test_every_team_and_skills_word_is_in_both_languages_with_the_same_placeholders():
    keys = [k for k in translator("en") if k.startswith(("team", "skills", "err_team", "done_team"))]
    keys += ["no_team", "no_teams", "new_team", "penalty", "save_skills", "delete", "calls_team_scope"]
    zh, en = translator("zh-CN"), translator("en")
    for key in keys:
        assert zh[key] != en[key] or key == "delete", key
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key


# ----- migration 0004 ------------------------------------------------------------------------------


def test_given_a_database_at_0003_with_users_when_upgraded_to_0004_and_back_then_nothing_is_lost(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003")
    engine = create_engine(url, poolclass=NullPool)  # rows as an 0003 platform wrote them
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, password_hash, roles, extension, active, "
                "created_at, password_changed_at) VALUES (7, 'li.na', 'Li Na', 'x', 'agent', '1001', 1, "
                "'2026-11-21 00:00:00', '2026-11-21 00:00:00')"
            )
        )
        conn.execute(text("INSERT INTO agent_skills (user_id, queue, penalty) VALUES (7, 'main', 3)"))
        conn.execute(
            text(
                "INSERT INTO login_sessions (token_hash, user_id, created_at, last_seen_at, end_reason, "
                "source_ip) VALUES ('t', 7, '2026-11-21 00:00:00', '2026-11-21 00:00:00', '', '')"
            )
        )
    engine.dispose()
    agent = 7

    upgrade(url)  # the users table is rebuilt on SQLite (a foreign key is added)
    database = Database(url)
    try:
        with database.unit_of_work() as s:
            user = s.scalars(select(User)).one()
            assert (user.username, user.extension, user.team_id) == ("li.na", "1001", None)
            assert s.scalars(select(AgentSkill.penalty)).all() == [3]
            assert s.scalars(select(LoginSession.user_id)).all() == [agent]
            team = service.create_team(s, name="一班")
            service.assign_team(s, user_id=agent, team_id=team.id, actor=ADMIN)
    finally:
        database.dispose()

    command.downgrade(alembic_config(url), "0003")
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username, extension FROM users")).all() == [("li.na", "1001")]
        assert conn.execute(text("SELECT count(*) FROM agent_skills")).scalar() == 1
    engine.dispose()


def test_given_a_migrated_sqlite_database_then_it_matches_the_models(db_url):
    # Server defaults are compared on PostgreSQL (test_data_layer_postgres): SQLite reflects '' badly.
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()
