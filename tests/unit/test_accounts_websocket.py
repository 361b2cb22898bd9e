"""The websocket guard, on a tiny route that exists only in this test: cookie, role and Origin.

No `from __future__ import annotations`: FastAPI must resolve the route's Annotated[..., Depends(guard)]
at definition time, and guard is local to the fixture.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CurrentUser
from agents_ui.accounts.websocket_auth import websocket_user
from agents_ui.app import create_app
from hotline.settings import DatabaseSettings, Settings, SiteSettings
from tests.unit.accounts_support import ORIGIN, add_user, log_in

CONSOLE = "https://console.example.gov.cn"


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    app = create_app(
        Settings(site=SiteSettings(state_dir=tmp_path / "s"), database=DatabaseSettings(url=db_url))
    )
    guard = websocket_user(Role.AGENT, Role.SUPERVISOR, allowed_origins=[CONSOLE])

    @app.websocket("/ws/test")
    async def echo_user(websocket: WebSocket, user: Annotated[CurrentUser, Depends(guard)]) -> None:
        await websocket.accept()
        await websocket.send_text(user.username)
        await websocket.close()

    add_user(app.state.db, "li.na", Role.AGENT)
    add_user(app.state.db, "wang.dept", Role.DEPARTMENT_STAFF)
    with TestClient(app) as test_client:
        yield test_client
    app.state.db.dispose()


def connect(client: TestClient, origin: str | None) -> str:
    client.headers.pop("origin", None)  # log_in sets it for its POST; each socket names its own here
    headers = {"origin": origin} if origin else {}
    with client.websocket_connect("/ws/test", headers=headers) as socket:
        return socket.receive_text()


@pytest.mark.parametrize("origin", [ORIGIN, CONSOLE])
def test_given_an_agent_from_an_allowed_origin_when_connecting_then_the_socket_is_accepted(client, origin):
    log_in(client, "li.na")
    assert connect(client, origin) == "li.na"


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://testserver.evil.example"])
def test_given_a_foreign_or_missing_origin_when_connecting_then_the_handshake_is_refused(client, origin):
    log_in(client, "li.na")
    with pytest.raises(WebSocketDisconnect) as refused:
        connect(client, origin)
    assert refused.value.code == 1008


def test_given_no_session_when_connecting_then_the_handshake_is_refused(client):
    with pytest.raises(WebSocketDisconnect) as refused:
        connect(client, ORIGIN)
    assert refused.value.code == 1008


def test_given_a_role_without_the_right_when_connecting_then_the_handshake_is_refused(client):
    log_in(client, "wang.dept")
    with pytest.raises(WebSocketDisconnect) as refused:
        connect(client, ORIGIN)
    assert refused.value.code == 1008


def test_given_a_logged_out_session_when_connecting_then_the_handshake_is_refused(client):
    log_in(client, "li.na")
    token = client.cookies["hotline_session"]
    client.delete("/api/session")
    client.cookies.set("hotline_session", token)
    with pytest.raises(WebSocketDisconnect):
        connect(client, ORIGIN)
