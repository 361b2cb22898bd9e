"""Helpers for tests of pages and APIs behind a login: make a user, log a TestClient in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from agents_ui.accounts import service
from agents_ui.accounts.models import Role
from hotline.db import Database

PASSWORD = "correct horse battery"  # long enough for the rules
ORIGIN = "http://testserver"  # TestClient's own origin: what a browser sends on our pages' forms


def add_user(
    db: Database, username: str, *roles: Role | str, extension: str | None = None, password: str = PASSWORD
) -> int:
    with db.unit_of_work() as session:
        user = service.create_user(
            session,
            username=username,
            password=password,
            roles=[str(r) for r in roles],
            display_name=username.title(),
            extension=extension,
        )
        return user.id


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    client.headers["origin"] = ORIGIN
    reply = client.post("/api/session", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text


def logged_in_as(
    client: TestClient, db: Database, username: str, *roles: Role | str, extension: str | None = None
) -> TestClient:
    add_user(db, username, *roles, extension=extension)
    log_in(client, username)
    return client
