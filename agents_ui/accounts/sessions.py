"""Login sessions: a random token in the browser's cookie, only its SHA-256 in the database.

The token has 256 random bits, so a plain hash (no salt, no KDF) is enough: it cannot be guessed,
and a leaked table of hashes cannot be turned back into cookies.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from agents_ui.accounts.models import LoginSession, User
from hotline.db import utcnow

# Settings has no [accounts] section yet; these are the defaults a later settings section would carry.
IDLE_TIMEOUT = timedelta(minutes=30)  # a seat left unattended logs itself out
ABSOLUTE_TIMEOUT = timedelta(hours=12)  # longer than any shift, so one login never spans two
# last_seen_at is written at most this often, not on every request of a busy console.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class LiveSession:
    session: LoginSession
    user: User


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, *, user: User, source_ip: str, now: datetime | None = None) -> str:
    """Open a login session for the user; return the token for the cookie (never stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            source_ip=source_ip[:64],
        )
    )
    return token


def _expired(login: LoginSession, now: datetime) -> str:
    if now - login.created_at >= ABSOLUTE_TIMEOUT:
        return "absolute"
    if now - login.last_seen_at >= IDLE_TIMEOUT:
        return "idle"
    return ""


def resume(session: Session, token: str, *, now: datetime | None = None) -> LiveSession | None:
    """The live session for a cookie's token, or None if unknown, ended, expired or its user disabled."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    login = session.scalar(select(LoginSession).where(LoginSession.token_hash == hash_token(token)))
    if login is None or login.ended_at is not None:
        return None
    reason = _expired(login, now)
    if reason:
        login.ended_at, login.end_reason = now, reason
        return None
    user = session.get(User, login.user_id)
    if user is None or not user.active:
        return None
    if now - login.last_seen_at >= TOUCH_EVERY:
        login.last_seen_at = now
    return LiveSession(login, user)


def end(login: LoginSession, *, reason: str = "logout", now: datetime | None = None) -> None:
    if login.ended_at is None:
        login.ended_at, login.end_reason = now or utcnow(), reason


def end_all_for_user(session: Session, user_id: int, *, reason: str, now: datetime | None = None) -> None:
    """End every open session of a user (disabled, password reset): their cookies stop working at once."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
        .values(ended_at=now or utcnow(), end_reason=reason)
    )
