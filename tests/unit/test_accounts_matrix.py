"""Every route x every role: allowed or refused, built from app.routes so a new route needs a rule.

A route added without an entry in RULES fails here; so does a rule the code does not enforce.
Sessions are minted straight in the database (no password hashing) to keep the matrix fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from agents_ui.accounts import service, sessions
from agents_ui.accounts.models import Role, User
from agents_ui.accounts.permissions import COOKIE
from agents_ui.app import create_app
from hotline.settings import DatabaseSettings, RedisSettings, Settings, SiteSettings
from tests.unit.accounts_support import ORIGIN, PASSWORD, add_user

PUBLIC = "public"
EVERYONE = frozenset(Role)
CALLS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMINISTRATOR})
ADMIN = frozenset({Role.ADMINISTRATOR})
SEAT = frozenset({Role.AGENT, Role.DUTY_LEADER})
SUPERVISOR = frozenset({Role.SUPERVISOR})
NEW_PASSWORD = "another long password"

# (method, path) -> PUBLIC or the roles allowed. The one place that says who may call what.
RULES: dict[tuple[str, str], str | frozenset[Role]] = {
    ("GET", "/healthz"): PUBLIC,  # load balancers
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,  # ends the session if there is one
    ("POST", "/api/session"): PUBLIC,
    ("DELETE", "/api/session"): EVERYONE,
    ("GET", "/api/me"): EVERYONE,
    ("GET", "/api/calls"): CALLS,
    ("GET", "/"): CALLS,
    ("GET", "/calls"): CALLS,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("PATCH", "/api/users/{user_id}"): ADMIN,
    ("POST", "/api/users/{user_id}/password"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/{user_id}"): ADMIN,
    ("POST", "/users/{user_id}/active"): ADMIN,
    ("POST", "/users/{user_id}/password"): ADMIN,
    ("POST", "/api/users/{user_id}/skills"): ADMIN,
    ("GET", "/api/teams"): ADMIN,
    ("POST", "/api/teams"): ADMIN,
    ("PATCH", "/api/teams/{team_id}"): ADMIN,
    ("DELETE", "/api/teams/{team_id}"): ADMIN,
    ("POST", "/teams"): ADMIN,
    ("POST", "/teams/{team_id}"): ADMIN,
    ("POST", "/teams/{team_id}/delete"): ADMIN,
    ("GET", "/agent"): SEAT,
    ("GET", "/api/seat"): SEAT,
    ("POST", "/api/seat/login"): SEAT,
    ("POST", "/api/seat/logout"): SEAT,
    ("POST", "/api/seat/pause"): SEAT,
    ("POST", "/api/seat/unpause"): SEAT,
    ("POST", "/api/seat/wrap-up"): SEAT,
    ("POST", "/api/seat/recording/pause"): SEAT,
    ("POST", "/api/seat/recording/resume"): SEAT,
    ("GET", "/api/calls/{uniqueid}/pop"): SEAT | SUPERVISOR,
    ("GET", "/api/calls/{uniqueid}/case-prefill"): SEAT | SUPERVISOR | ADMIN,
    ("WEBSOCKET", "/ws/seat"): SEAT,
    ("GET", "/wallboard"): SUPERVISOR,
    ("GET", "/api/wallboard"): SUPERVISOR,
    ("POST", "/api/supervise"): SUPERVISOR,
    ("WEBSOCKET", "/ws/wallboard"): SUPERVISOR,
    # The outbox holds citizens' numbers and case texts: administrators only.
    ("GET", "/api/outbox"): ADMIN,
    ("GET", "/api/outbox/{message_id}"): ADMIN,
    ("POST", "/api/outbox/{message_id}/retry"): ADMIN,
    ("GET", "/admin/outbox"): ADMIN,
    # The case catalogue (departments, categories, routing rules, department staff): administrators.
    ("GET", "/admin/catalogue"): ADMIN,
    ("GET", "/api/admin/departments"): ADMIN,
    ("POST", "/api/admin/departments"): ADMIN,
    ("PATCH", "/api/admin/departments/{department_id}"): ADMIN,
    ("DELETE", "/api/admin/departments/{department_id}"): ADMIN,
    ("GET", "/api/admin/categories"): ADMIN,
    ("POST", "/api/admin/categories"): ADMIN,
    ("PATCH", "/api/admin/categories/{category_id}"): ADMIN,
    ("DELETE", "/api/admin/categories/{category_id}"): ADMIN,
    ("GET", "/api/admin/routing-rules"): ADMIN,
    ("POST", "/api/admin/routing-rules"): ADMIN,
    ("DELETE", "/api/admin/routing-rules/{rule_id}"): ADMIN,
    ("GET", "/api/admin/department-members"): ADMIN,
    ("GET", "/api/admin/department-members/{user_id}"): ADMIN,
    ("PUT", "/api/admin/department-members/{user_id}"): ADMIN,
    ("GET", "/api/admin/route-preview"): ADMIN,
    # Outside systems sign their updates (HMAC) instead of logging in; "{system}" names none: 404.
    ("POST", "/api/integrations/{system}/updates"): PUBLIC,
    # Recordings: an agent gets through the role gate (their own calls, if recording.agents_hear_own).
    ("GET", "/recordings"): CALLS,
    ("GET", "/recordings/{recording_id}"): CALLS,
    ("GET", "/api/recordings/search"): CALLS,
    ("GET", "/api/recordings/{recording_id}"): CALLS,
    ("GET", "/api/recordings/{recording_id}/peaks"): CALLS,
    ("POST", "/api/recordings/{recording_id}/access"): CALLS,
    ("GET", "/api/recordings/{recording_id}/audio"): CALLS,
    # Case pages are frames over the cases API (which decides who sees which case); the list
    # sends department staff on to their portal (303), the portal is theirs alone.
    ("GET", "/cases"): EVERYONE,
    ("GET", "/cases/{number}"): EVERYONE,
    ("GET", "/department"): frozenset({Role.DEPARTMENT_STAFF}),
    # The cases API: every role reads (department staff their departments' cases) and acts (its
    # side of each action); the hotline files, corrects and links calls; knowledge for deciders.
    ("GET", "/api/cases"): EVERYONE,
    ("POST", "/api/cases"): CALLS,
    ("GET", "/api/cases/candidates"): CALLS,
    ("GET", "/api/cases/similar"): CALLS | {Role.DUTY_LEADER},
    ("GET", "/api/cases/{number}"): EVERYONE,
    ("PATCH", "/api/cases/{number}"): CALLS,
    ("POST", "/api/cases/{number}/actions/{action}"): EVERYONE,
    ("POST", "/api/cases/{number}/calls"): CALLS,
    ("POST", "/api/cases/{number}/attachments"): EVERYONE,
    ("GET", "/api/cases/{number}/attachments/{attachment_id}"): EVERYONE,
    ("GET", "/api/case-categories"): EVERYONE,
    ("GET", "/api/departments"): EVERYONE,
    # Open311 GeoReport v2: other systems, no session; POST checks its api_key (403) itself. The
    # matrix calls the paths as written, so "{format}" is no format: 404, never 401/403.
    ("GET", "/open311/v2/services.{format}"): PUBLIC,
    ("GET", "/open311/v2/services/{service_code}.{format}"): PUBLIC,
    ("POST", "/open311/v2/requests.{format}"): PUBLIC,
    ("GET", "/open311/v2/requests.{format}"): PUBLIC,
    ("GET", "/open311/v2/requests/{service_request_id}.{format}"): PUBLIC,
    ("GET", "/open311/v2/tokens/{token_id}.{format}"): PUBLIC,
    ("GET", "/open311/v2/{unknown:path}"): PUBLIC,  # the spec's 404 for any other path
    ("POST", "/open311/v2/{unknown:path}"): PUBLIC,
    ("UNKNOWN", "/static"): PUBLIC,  # the pages' scripts and styles; nothing private lives there
}

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    # Good credentials: a refused login answers 401 by design, which would read as "route refused".
    ("POST", "/api/session"): {"json": {"username": "target", "password": PASSWORD}},
    ("POST", "/api/users"): {
        "json": {"username": "new.one", "password": NEW_PASSWORD, "roles": ["agent"], "display_name": "N"}
    },
    ("PATCH", "/api/users/{user_id}"): {"json": {"display_name": "Target Two"}},
    # Resets keep the target's password, so the login routes, called later, still get in.
    ("POST", "/api/users/{user_id}/password"): {"json": {"password": PASSWORD}},
    ("POST", "/login"): {"data": {"username": "target", "password": PASSWORD}},
    ("POST", "/users"): {"data": {"username": "new.two", "password": NEW_PASSWORD, "roles": "agent"}},
    ("POST", "/users/{user_id}"): {"data": {"display_name": "T", "roles": "agent"}},
    ("POST", "/users/{user_id}/active"): {"data": {"active": "1"}},
    ("POST", "/users/{user_id}/password"): {"data": {"password": PASSWORD}},
    ("POST", "/api/users/{user_id}/skills"): {"json": {"skills": {"main": 0}}},
    ("POST", "/api/teams"): {"json": {"name": "一班 api"}},
    ("PATCH", "/api/teams/{team_id}"): {"json": {"display_name": "第一班"}},
    ("POST", "/teams"): {"data": {"name": "一班 page"}},
    ("POST", "/teams/{team_id}"): {"data": {"display_name": "第一班"}},
    # The target's team has a member, so the deletes are refused (409) and the team stays for the
    # next role; a refusal for a rule, not for the role, is what "allowed" means here.
    ("POST", "/api/seat/pause"): {"json": {"reason": "meal"}},
    ("POST", "/api/seat/wrap-up"): {"json": {"uniqueid": "1.1", "disposition": "resolved"}},
    ("POST", "/api/supervise"): {"json": {"agent": "target", "mode": "listen"}},
    # A case the allowed roles really file (201); the others are refused before the body is read.
    ("POST", "/api/cases"): {"json": {"content": "路灯不亮 matrix"}},
}


def routes_of(app: FastAPI) -> list[tuple[str, BaseRoute]]:
    """(effective path, route) of every route, included routers flattened (FastAPI nests them)."""
    return [(str(c.path), c.original_route) for c in iter_route_contexts(app.routes)]


def route_methods(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for path, route in routes_of(app):
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.append(("WEBSOCKET", path))
        elif isinstance(route, APIRoute | Route):
            found.extend((m, path) for m in sorted(route.methods or ()) if m != "HEAD")
        else:
            found.append(("UNKNOWN", path))  # a mount or another kind: needs a rule too
    return found


def declared_roles(route: APIRoute) -> set[frozenset[Role]]:
    """The allowed_roles of every require()/require_page() the route depends on, however deep."""
    found: set[frozenset[Role]] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        roles = getattr(dependant.call, "allowed_roles", None)
        if roles is not None:
            found.add(roles)
        stack.extend(dependant.dependencies)
    return found


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Iterator[FastAPI]:
    application = create_app(
        Settings(
            site=SiteSettings(state_dir=tmp_path / "state"),
            database=DatabaseSettings(url=db_url),
            # Nothing listens on port 1: seat routes that get past the role check answer 503 at once.
            redis=RedisSettings(url="redis://127.0.0.1:1/0"),
        )
    )
    yield application
    application.state.db.dispose()


def test_given_the_app_when_its_routes_are_listed_then_each_has_exactly_one_rule(app):
    routes = route_methods(app)

    assert sorted(set(routes) - set(RULES)) == [], "a route without a rule: add it to RULES"
    assert sorted(set(RULES) - set(routes)) == [], "a rule for a route that no longer exists"


def test_given_each_protected_route_when_its_dependencies_are_read_then_they_require_the_rule_roles(app):
    for path, route in routes_of(app):
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods or ():
            rule = RULES[(method, path)]
            expected = set() if rule == PUBLIC else {rule}
            assert declared_roles(route) == expected, (method, path)


def mint_cookie(app: FastAPI, user_id: int) -> str:
    with app.state.db.unit_of_work() as session:
        user = session.get(User, user_id)
        assert user is not None
        return sessions.start(session, user=user, source_ip="testclient")


def call(client: TestClient, method: str, path: str, target_id: int, team_id: int = 0) -> int:
    url = path.replace("{user_id}", str(target_id)).replace("{uniqueid}", "1.1")
    url = url.replace("{team_id}", str(team_id))
    if method == "WEBSOCKET":
        return open_socket(client, url)
    if method == "UNKNOWN":
        url = "/static/.keep"
    reply = client.request(method, url, follow_redirects=False, **BODIES.get((method, path), {}))
    if reply.status_code == 303 and reply.headers["location"].startswith("/login?next="):
        return 401  # a page's way of saying "log in first"
    return int(reply.status_code)


def open_socket(client: TestClient, url: str) -> int:
    """403 when the handshake is refused (policy violation), 200 when the socket was accepted."""
    try:
        with client.websocket_connect(url) as socket:
            socket.receive()  # the first picture, or a 1013 close: the seat service is not running
    except WebSocketDisconnect as exc:
        if exc.code == 1008:
            return 403 if "role" in (exc.reason or "") else 401
    return 200


def test_given_every_role_when_every_route_is_called_then_only_the_rule_roles_get_through(app):
    db = app.state.db
    users = {role: add_user(db, f"u-{role.value}".replace("_", "-"), role) for role in Role}
    target = add_user(db, "target", Role.AGENT, password=PASSWORD)
    with db.unit_of_work() as session:
        team = service.create_team(session, name="target's team").id
        service.assign_team(session, user_id=target, team_id=team, actor=service.CLI)
    refused: list[str] = []
    with TestClient(app, headers={"origin": ORIGIN}) as client:
        for method, path in route_methods(app):
            rule = RULES[(method, path)]
            for role in [None, *Role]:
                client.cookies.clear()
                if role is not None:
                    client.cookies.set(COOKIE, mint_cookie(app, users[role]))
                status = call(client, method, path, target, team)
                allowed = rule == PUBLIC or (role is not None and role in rule)
                if allowed and status in (401, 403):
                    refused.append(f"{method} {path} as {role}: refused ({status}) but the rule allows it")
                if not allowed and status != (401 if role is None else 403):
                    refused.append(f"{method} {path} as {role}: got {status}, the rule refuses it")
    assert refused == []
