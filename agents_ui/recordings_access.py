"""Who may hear which recording, the signed access tokens, and refusals that are always audited.

Listening to (or downloading) a citizen's call is personal data being read: the reason is asked
first (``POST /api/recordings/{id}/access``), written to the audit log, and only then does the
server hand out a token for the audio, short-lived and bound to the person, the recording and the
purpose. The audio URL alone is therefore worth nothing to anyone else, in a log or a history.

Refusals are raised (``RecordingRefused``) wherever they are found, the role gate included, and
``refused`` answers them: the request's own transaction is rolled back by then, so the audit row
is written in a unit of work of its own, and a refusal is on the log whatever else went wrong.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from agents_ui.accounts.audit import Outcome, record
from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import (
    CALL_READERS,
    CALL_READERS_ALL,
    CurrentUser,
    client_ip,
    current_user,
)
from agents_ui.calls_api import seat_names, visible_to
from asterisk_conf.layout import InstanceLayout
from hotline.db import Database
from hotline.settings import Settings
from telephony.models import Call

# Who may use the recordings at all: supervisors (their team's calls), administrators (every
# call) and agents (their own calls, if recording.agents_hear_own). Duty leaders and department
# staff never: they work cases, and the case carries what they need of the call.
HEARERS = CALL_READERS
# Who sees callers' numbers in full in the recordings: those who may have to call a citizen back
# or check a complaint against the caller. Agents see the full number of their own calls only,
# and only where settings.agents.full_numbers_for_agents says so.
NUMBER_READERS = (Role.SUPERVISOR, Role.ADMINISTRATOR)

PURPOSES = ("listen", "download")
TOKEN_SECONDS = 600
# <user id>.<recording id>.<purpose>.<expiry, Unix seconds>.<HMAC-SHA256, base64url>
TOKEN_PATTERN = r"^[0-9]{1,10}\.[0-9]{1,10}\.(listen|download)\.[0-9]{1,12}\.[A-Za-z0-9_-]{43}$"  # noqa: S105
SECRET_FILE = "recording-access.secret"  # noqa: S105  (the file's name; the key is inside)


# ----- refusals -----------------------------------------------------------------------------------
class RecordingRefused(HTTPException):
    """A 403 that goes on the audit log (action ``recording.listen`` unless said otherwise)."""

    def __init__(
        self, user: CurrentUser, request: Request, why: str, *, target: str, action: str = "recording.listen"
    ) -> None:
        super().__init__(403, why)
        self.actor = user.username
        self.source_ip = client_ip(request)
        self.why = why
        self.target = target
        self.action = action


async def refused(request: Request, exc: Exception) -> Response:
    """The app's handler for RecordingRefused: audit it in its own transaction, answer 403 JSON."""
    assert isinstance(exc, RecordingRefused)
    db: Database = request.app.state.db
    with db.unit_of_work() as session:
        record(
            session,
            actor=exc.actor,
            action=exc.action,
            target=exc.target,
            source_ip=exc.source_ip,
            outcome=Outcome.REFUSED,
            detail=exc.why,
        )
    return JSONResponse({"detail": exc.why}, status_code=403)


def target_of(recording_id: int | str, call_uniqueid: str = "") -> str:
    """How a recording is named on the audit log: ``recording:<id> call:<uniqueid>``."""
    return f"recording:{recording_id}" + (f" call:{call_uniqueid}" if call_uniqueid else "")


def hearer(action: str = "recording.listen") -> Callable[..., CurrentUser]:
    """A route dependency like ``permissions.require(*HEARERS)``, whose refusal is audited."""

    def dependency(request: Request, user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
        if not user.has_any(HEARERS):
            recording = request.path_params.get("recording_id")
            raise RecordingRefused(
                user,
                request,
                "your role may not search or hear call recordings",
                target=target_of(recording) if recording else "recordings",
                action=action,
            )
        return user

    # Read by the role x route matrix test, as for require().
    dependency.allowed_roles = frozenset(HEARERS)  # type: ignore[attr-defined]
    return dependency


# ----- whose calls ------------------------------------------------------------------------------
def hearing_scope(
    session: Session, settings: Settings, user: CurrentUser, request: Request, *, target: str, action: str
) -> ColumnElement[bool]:
    """The calls whose recordings ``user`` may find and hear (a condition on ``calls``)."""
    if not user.has_any(CALL_READERS_ALL) and not settings.recording.agents_hear_own:
        raise RecordingRefused(
            user,
            request,
            "agents may not hear call recordings on this site (recording.agents_hear_own is off)",
            target=target,
            action=action,
        )
    return visible_to(session, user)


def check_may_hear(
    session: Session,
    settings: Settings,
    user: CurrentUser,
    request: Request,
    call: Call,
    *,
    target: str,
    action: str,
) -> None:
    scope = hearing_scope(session, settings, user, request, target=target, action=action)
    if session.scalar(select(Call.id).where(Call.id == call.id, scope)) is None:
        why = (
            "this call was not answered in your team"
            if user.has_any(CALL_READERS_ALL)
            else "you may only hear the calls you answered"
        )
        raise RecordingRefused(user, request, why, target=target, action=action)


def full_number_for(settings: Settings, user: CurrentUser, agent: str) -> bool:
    """Whether ``user`` sees the caller's number in full on a call answered by ``agent``."""
    if user.has_any(NUMBER_READERS):
        return True
    return settings.agents.full_numbers_for_agents and agent in seat_names(user)


# ----- access tokens ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    user_id: int
    recording_id: int
    purpose: str
    expires: int  # Unix seconds

    @property
    def payload(self) -> str:
        return f"{self.user_id}.{self.recording_id}.{self.purpose}.{self.expires}"


class TokenRefused(ValueError):
    """Why a token does not open the audio; the message is shown to the user."""


def access_key(settings: Settings) -> bytes:
    """The site's key for access tokens: a random secret in state_dir/secrets (0600), made once.

    A file, not a per-process value: every API worker behind a load balancer must accept the
    tokens any of them gave out, and a restart must not cut off someone listening."""
    path = InstanceLayout.for_settings(settings).secrets / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it and a new one is made")
    return key.encode("ascii")


def _create_secret(path: Path) -> None:
    """Written whole to a temp file, then linked in: two workers starting at once both end up
    reading the one file that won, never a half-written one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".secret.", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(32))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another worker made it first: theirs stands
            os.link(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, f"recording-access\n{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def sign(key: bytes, grant: Grant) -> str:
    return f"{grant.payload}.{_signature(key, grant.payload)}"


def grant_for(user: CurrentUser, recording_id: int, purpose: str, now: float | None = None) -> Grant:
    expires = int(now if now is not None else time.time()) + TOKEN_SECONDS
    return Grant(user.id, recording_id, purpose, expires)


def purpose_of(token: str) -> str:
    """The purpose a token claims (before it is checked): names the refusal's audit action."""
    parts = token.split(".")
    return parts[2] if len(parts) == 5 and parts[2] in PURPOSES else "listen"


def check_token(
    key: bytes, token: str, *, user_id: int, recording_id: int, now: float | None = None
) -> Grant:
    """The grant a token carries if it is genuine, unexpired and this user's for this recording."""
    match = re.fullmatch(TOKEN_PATTERN, token)
    if match is None:
        raise TokenRefused("the access token is not valid")
    owner, recording, purpose, expires, signature = token.split(".")
    grant = Grant(int(owner), int(recording), purpose, int(expires))
    if not hmac.compare_digest(signature, _signature(key, grant.payload)):
        raise TokenRefused("the access token is not valid")
    if grant.user_id != user_id:
        raise TokenRefused("the access token was given to another user")
    if grant.recording_id != recording_id:
        raise TokenRefused("the access token is for another recording")
    if grant.expires <= (now if now is not None else time.time()):
        raise TokenRefused("the access token has expired: give the reason again to get a new one")
    return grant
