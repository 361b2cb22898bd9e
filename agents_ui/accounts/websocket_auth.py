"""Authenticate a websocket before accepting it: the session cookie, the role, and the Origin.

Browsers send cookies on a cross-site websocket handshake and SameSite does not stop all of them
(same-site sub-domains), and CORS does not apply to websockets; so the Origin header is the check
that a page of ours opened the socket. Failing either refuses the handshake (HTTP 403) with 1008.

A route uses it as ``user: Annotated[CurrentUser, Depends(websocket_user(Role.AGENT, ...))]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from fastapi import WebSocket, WebSocketException, status

from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CurrentUser, own_origin, session_user
from hotline.db import Database

log = logging.getLogger(__name__)


def origin_allowed(websocket: WebSocket, allowed_origins: Iterable[str]) -> bool:
    """The page's own origin is always allowed; ``allowed_origins`` adds others (a separate console host)."""
    origin = websocket.headers.get("origin", "").lower().rstrip("/")
    if not origin:
        return False
    allowed = {own_origin(websocket), *(o.lower().rstrip("/") for o in allowed_origins)}
    return origin in allowed


def websocket_user(*roles: Role, allowed_origins: Iterable[str] = ()) -> Callable[[WebSocket], CurrentUser]:
    """A websocket dependency: the logged-in user holding one of ``roles``, from an allowed Origin."""
    extra = tuple(allowed_origins)

    def dependency(websocket: WebSocket) -> CurrentUser:
        if not origin_allowed(websocket, extra):
            log.warning("websocket refused: origin", extra={"path": websocket.url.path})
            raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "origin not allowed")
        user = _live_user(websocket)
        if user is None:
            raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "login required")
        if not user.has_any(roles):
            raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "role not allowed")
        return user

    dependency.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
    return dependency


def still_allowed(websocket: WebSocket, roles: Iterable[Role]) -> bool:
    """Whether the socket's login is still live and holds one of ``roles``; asked while it is open."""
    user = _live_user(websocket)
    return user is not None and user.has_any(tuple(roles))


def _live_user(websocket: WebSocket) -> CurrentUser | None:
    db: Database = websocket.app.state.db
    # Its own short transaction: a socket lives for hours, far longer than any one transaction should.
    with db.unit_of_work() as session:
        return session_user(websocket, session)
