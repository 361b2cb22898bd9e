"""Logging in and out: cookies, expiry, lockout, CSRF, the audit trail, and what never reaches a log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from agents_ui.accounts import lockout, passwords, sessions
from agents_ui.accounts.models import AuditEntry, AuditLogIsAppendOnly, LoginSession, LoginThrottle, User
from agents_ui.app import create_app
from hotline.db import Database, utcnow
from hotline.logs import JsonFormatter
from hotline.settings import DatabaseSettings, Settings, SiteSettings
from telephony.models import Call
from tests.unit.accounts_support import ORIGIN, PASSWORD, add_user, log_in

WRONG = "not the password at all"


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    app = create_app(
        Settings(site=SiteSettings(state_dir=tmp_path / "s"), database=DatabaseSettings(url=db_url))
    )
    with TestClient(app, headers={"origin": ORIGIN}) as test_client:
        yield test_client
    app.state.db.dispose()


@pytest.fixture
def db(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


def attempt(client: TestClient, username: str, password: str) -> int:
    return int(client.post("/api/session", json={"username": username, "password": password}).status_code)


def audit_rows(db: Database) -> list[tuple[str, str, str, str]]:
    with db.unit_of_work() as s:
        return [
            (e.actor, e.action, e.outcome, e.detail)
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


# ----- passwords ---------------------------------------------------------------------------------


def test_given_a_password_when_hashed_twice_then_salts_differ_and_both_verify():
    first, second = passwords.hash_password(PASSWORD), passwords.hash_password(PASSWORD)

    assert first != second and first.startswith("scrypt$32768$8$1$")
    assert passwords.verify_password(PASSWORD, first) and passwords.verify_password(PASSWORD, second)
    assert not passwords.verify_password(WRONG, first)
    assert not passwords.verify_password(PASSWORD, "md5$whatever")


@pytest.mark.parametrize(
    ("password", "code"), [("short", "password_short"), ("zhang.wei1", "password_is_username")]
)
def test_given_a_weak_password_when_checked_then_it_is_refused(password, code):
    with pytest.raises(passwords.PasswordRejected) as refused:
        passwords.check_rules(password, "ZHANG.WEI1")
    assert refused.value.code == code


def test_given_a_hash_with_old_parameters_when_the_user_logs_in_then_it_is_rehashed(client, db):
    user_id = add_user(db, "li.na", "agent")
    with db.unit_of_work() as s:
        s.get(User, user_id).password_hash = passwords.hash_password(
            PASSWORD, passwords.ScryptCost(2**10, 8, 1)
        )

    assert attempt(client, "li.na", PASSWORD) == 200

    with db.unit_of_work() as s:
        stored = s.get(User, user_id).password_hash
    assert not passwords.needs_rehash(stored) and passwords.verify_password(PASSWORD, stored)


# ----- sessions ----------------------------------------------------------------------------------


def test_given_a_login_when_it_succeeds_then_the_cookie_is_httponly_strict_and_only_a_hash_is_stored(
    client, db
):
    add_user(db, "li.na", "agent", extension="1001")

    reply = client.post("/api/session", json={"username": "Li.Na ", "password": PASSWORD})

    assert reply.status_code == 200
    assert reply.json()["roles"] == ["agent"] and reply.json()["extension"] == "1001"
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    token = client.cookies["hotline_session"]
    with db.unit_of_work() as s:
        stored = s.scalars(select(LoginSession.token_hash)).all()
    assert stored == [sessions.hash_token(token)] and token not in stored
    assert client.get("/api/me").json()["username"] == "li.na"


def test_given_https_when_logging_in_then_the_cookie_is_secure(tmp_path, db_url):
    app = create_app(
        Settings(site=SiteSettings(state_dir=tmp_path / "s"), database=DatabaseSettings(url=db_url))
    )
    add_user(app.state.db, "li.na", "agent")
    with TestClient(app, base_url="https://testserver", headers={"origin": "https://testserver"}) as secure:
        reply = secure.post("/api/session", json={"username": "li.na", "password": PASSWORD})
    app.state.db.dispose()
    assert "secure" in reply.headers["set-cookie"].lower()


def test_given_a_logout_when_the_old_cookie_is_sent_again_then_it_is_refused(client, db):
    add_user(db, "li.na", "agent")
    log_in(client, "li.na")
    token = client.cookies["hotline_session"]

    assert client.delete("/api/session").status_code == 204
    client.cookies.set("hotline_session", token)  # a copy kept by an attacker

    assert client.get("/api/me").status_code == 401
    assert ("li.na", "logout", "ok", "") in audit_rows(db)


@pytest.mark.parametrize(
    ("column", "age"),
    [("last_seen_at", sessions.IDLE_TIMEOUT), ("created_at", sessions.ABSOLUTE_TIMEOUT)],
)
def test_given_an_expired_session_when_used_then_it_is_refused(client, db, column, age):
    add_user(db, "li.na", "agent")
    log_in(client, "li.na")
    with db.unit_of_work() as s:
        s.execute(update(LoginSession).values({column: utcnow() - age - timedelta(seconds=1)}))

    assert client.get("/api/me").status_code == 401
    assert client.get("/calls", follow_redirects=False).headers["location"] == "/login?next=/calls"
    assert client.get("/api/me").status_code == 401  # and stays refused


def test_given_a_busy_session_when_used_within_the_idle_limit_then_it_stays_alive():
    now = utcnow()
    login = LoginSession(token_hash="x", user_id=1, created_at=now, last_seen_at=now)
    later = now + sessions.IDLE_TIMEOUT - timedelta(seconds=1)
    assert sessions._expired(login, later) == ""
    login.last_seen_at = later
    assert sessions._expired(login, later + sessions.IDLE_TIMEOUT - timedelta(seconds=1)) == ""
    assert sessions._expired(login, now + sessions.ABSOLUTE_TIMEOUT) == "absolute"


def test_given_a_user_disabled_by_an_admin_when_their_cookie_is_used_then_it_is_refused(client, db, tmp_path):
    agent_id = add_user(db, "li.na", "agent")
    add_user(db, "root.admin", "administrator")
    log_in(client, "li.na")
    with TestClient(client.app, headers={"origin": ORIGIN}) as admin:
        log_in(admin, "root.admin")
        assert admin.patch(f"/api/users/{agent_id}", json={"active": False}).status_code == 200

    assert client.get("/api/me").status_code == 401
    assert attempt(client, "li.na", PASSWORD) == 401  # same answer as a wrong password


# ----- refusals and lockout ----------------------------------------------------------------------


def test_given_an_unknown_user_or_a_wrong_password_when_logging_in_then_the_answers_are_identical(client, db):
    add_user(db, "li.na", "agent")

    unknown = client.post("/api/session", json={"username": "nobody", "password": WRONG})
    wrong = client.post("/api/session", json={"username": "li.na", "password": WRONG})

    assert (
        (unknown.status_code, unknown.json())
        == (wrong.status_code, wrong.json())
        == (
            401,
            {"detail": "wrong username or password"},
        )
    )
    assert [r[:3] for r in audit_rows(db)][-2:] == [
        ("nobody", "login", "refused"),
        ("li.na", "login", "refused"),
    ]


def test_given_five_failures_when_the_right_password_is_tried_then_it_is_locked_with_a_retry_time(client, db):
    add_user(db, "li.na", "agent")
    assert [attempt(client, "li.na", WRONG) for _ in range(4)] == [401] * 4

    fifth = client.post("/api/session", json={"username": "li.na", "password": WRONG})
    locked = client.post("/api/session", json={"username": "li.na", "password": PASSWORD})

    assert fifth.status_code == 429 and locked.status_code == 429
    assert 25 <= int(locked.headers["retry-after"]) <= 30
    assert audit_rows(db)[-1] == ("li.na", "login", "refused", "locked")
    # An unknown name is locked the same way: a lockout does not tell that the name exists.
    assert [attempt(client, "nobody", WRONG) for _ in range(5)] == [401] * 4 + [429]

    with db.unit_of_work() as s:  # the lock runs out
        s.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert attempt(client, "li.na", PASSWORD) == 200


def test_given_repeated_failures_when_locks_grow_then_they_double_up_to_fifteen_minutes():
    lengths = [lockout.lock_length(n, 5).total_seconds() for n in range(4, 12)]
    assert lengths == [0, 30, 60, 120, 240, 480, 900, 900]
    assert lockout.lock_length(10**6, 5) == lockout.LONGEST_LOCK


def test_given_many_usernames_tried_from_one_address_when_a_new_one_is_tried_then_the_address_is_locked(
    client, db
):
    add_user(db, "li.na", "agent")
    codes = [attempt(client, f"guess{i}", WRONG) for i in range(lockout.IP_FREE_TRIES)]

    assert codes[-1] == 429 and set(codes[:-1]) == {401}
    assert attempt(client, "li.na", PASSWORD) == 429


# ----- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"origin": "https://evil.example"}, {"referer": "https://evil.example/x"}]
)
def test_given_a_cross_site_post_when_it_arrives_then_it_is_refused(client, db, headers):
    add_user(db, "li.na", "agent")
    del client.headers["origin"]

    reply = client.post("/api/session", json={"username": "li.na", "password": PASSWORD}, headers=headers)

    assert reply.status_code == 403
    assert "hotline_session" not in client.cookies


def test_given_a_same_site_referer_and_no_origin_when_posting_then_it_is_accepted(client, db):
    add_user(db, "li.na", "agent")
    del client.headers["origin"]
    reply = client.post(
        "/api/session",
        json={"username": "li.na", "password": PASSWORD},
        headers={"referer": f"{ORIGIN}/login"},
    )
    assert reply.status_code == 200


# ----- the audit log and the logs ----------------------------------------------------------------


def test_given_an_audit_row_when_the_code_tries_to_change_or_delete_it_then_the_flush_is_refused(client, db):
    add_user(db, "li.na", "agent")
    with pytest.raises(AuditLogIsAppendOnly), db.unit_of_work() as s:
        s.scalars(select(AuditEntry)).first().outcome = "ok"
    with pytest.raises(AuditLogIsAppendOnly), db.unit_of_work() as s:
        s.delete(s.scalars(select(AuditEntry)).first())
    entry = audit_rows(db)[0]
    assert entry[:3] == ("cli", "user.create", "ok")


def test_given_logins_resets_and_calls_when_everything_is_logged_then_no_secret_or_number_appears(
    client, db, caplog
):
    caplog.set_level(logging.DEBUG)
    number = "13812345678"
    with db.unit_of_work() as s:
        s.add(
            Call(uniqueid="1.1", linkedid="1.1", channel="PJSIP/x", caller_number=number, started_at=utcnow())
        )
    agent_id = add_user(db, "li.na", "agent")
    add_user(db, "root.admin", "administrator", "supervisor")

    attempt(client, "li.na", WRONG)
    attempt(client, WRONG, PASSWORD)  # a password typed into the username box is a known slip
    log_in(client, "root.admin")
    token = client.cookies["hotline_session"]
    client.post(f"/api/users/{agent_id}/password", json={"password": "brand new secret 42"})
    client.get("/api/calls")
    client.delete("/api/session")

    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "login refused" in text and "logout" in text
    for secret in (PASSWORD, "brand new secret 42", token, sessions.hash_token(token), number):
        assert secret not in text
