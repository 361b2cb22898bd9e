"""Who may call what: the current user from the session cookie, and ``require(*roles)``.

API routes answer 401 (no valid session) or 403 (wrong role) as JSON; pages send the browser to
the login page instead. Resource rules live with the routes that read the resources, using
``CurrentUser``; whose calls a user sees is one function, ``service.team_agent_names``: an agent
their own seat's, a supervisor their team's (every call in no team), an administrator every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from agents_ui.accounts import sessions
from agents_ui.accounts.models import LoginSession, Role
from agents_ui.deps import DbSession

COOKIE = "hotline_session"

EVERY_ROLE = tuple(Role)
# Roles that read calls beyond their own seat: administrators every call, supervisors their team's
# (every call when they are in no team). An agent sees their own seat's calls.
CALL_READERS_ALL = (Role.SUPERVISOR, Role.ADMINISTRATOR)
CALL_READERS = (Role.AGENT, *CALL_READERS_ALL)
USER_ADMINS = (Role.ADMINISTRATOR,)


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    display_name: str
    roles: frozenset[Role]
    extension: str | None
    login: LoginSession

    def has_any(self, roles: tuple[Role, ...]) -> bool:
        return bool(self.roles.intersection(roles))


class LoginRequired(Exception):
    """Raised by page dependencies; the app turns it into a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def client_ip(connection: HTTPConnection) -> str:
    # Behind a proxy this is the proxy's address until uvicorn is told to trust X-Forwarded-For
    # (--forwarded-allow-ips); trusting the header blindly would let anyone pick their address.
    return connection.client.host if connection.client else ""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def own_origin(connection: HTTPConnection) -> str:
    scheme = {"ws": "http", "wss": "https"}.get(connection.url.scheme, connection.url.scheme)
    host = connection.headers.get("host", "")
    return f"{scheme}://{host}".lower() if host else ""


def same_origin(request: HTTPConnection) -> bool:
    """CSRF rule: a state-changing request must name this site in Origin, or else in Referer.

    Browsers send Origin on every cross-site POST; a request with neither header is refused, since a
    browser that strips both cannot be told apart from a forged form.
    """
    sent = request.headers.get("origin") or origin_of(request.headers.get("referer", ""))
    return bool(sent) and sent.lower() == own_origin(request)


def session_user(connection: HTTPConnection, session: Session) -> CurrentUser | None:
    live = sessions.resume(session, connection.cookies.get(COOKIE, ""))
    if live is None:
        return None
    user = live.user
    return CurrentUser(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=user.role_set,
        extension=user.extension,
        login=live.session,
    )


def optional_user(request: Request, session: DbSession) -> CurrentUser | None:
    return session_user(request, session)


async def current_user(user: Annotated[CurrentUser | None, Depends(optional_user)]) -> CurrentUser:
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "login required", headers={"WWW-Authenticate": "Cookie"}
        )
    return user


def require(*roles: Role) -> Callable[..., Awaitable[CurrentUser]]:
    """A dependency: the current user, if they hold any of ``roles``; 401 or 403 otherwise.

    The checks that only look at what is already loaded are ``async``: FastAPI runs a plain
    ``def`` dependency on its thread pool, and each such hop costs more than the check."""

    async def dependency(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
        if not user.has_any(roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role does not allow this")
        return user

    dependency.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
    return dependency


def require_page(*roles: Role) -> Callable[..., Awaitable[CurrentUser]]:
    """Like ``require`` for HTML pages: no session sends the browser to log in and come back."""

    async def dependency(
        request: Request, user: Annotated[CurrentUser | None, Depends(optional_user)]
    ) -> CurrentUser:
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if not user.has_any(roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role does not allow this")
        return user

    dependency.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
    return dependency


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='/')}"


def safe_next(next_url: str | None) -> str:
    """Only a path on this site: an open redirect after login would help phishing."""
    if not next_url or not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        return "/"
    return next_url
