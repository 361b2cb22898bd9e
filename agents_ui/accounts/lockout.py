"""Back-off after failed logins, per username and per source address.

After ``FREE_TRIES`` failures a key is locked for 30 s, doubling with each further failure up to
15 min. Unknown usernames are throttled exactly like real ones, so a lockout reveals nothing. The
address limit is looser because a whole call-centre floor may sit behind one NAT address.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from agents_ui.accounts.models import LoginThrottle
from hotline.db import utcnow

USER_FREE_TRIES = 5
IP_FREE_TRIES = 20
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
# Failures older than this are forgotten: a typo a day does not add up to a lockout.
FORGET_AFTER = timedelta(hours=1)


def keys(username: str, source_ip: str) -> list[tuple[str, int]]:
    return [(f"user:{username[:64]}", USER_FREE_TRIES), (f"ip:{source_ip[:64]}", IP_FREE_TRIES)]


def locked_for(session: Session, *, username: str, source_ip: str, now: datetime | None = None) -> int:
    """Seconds until a login may be tried again for this username from this address; 0 if it may now."""
    now = now or utcnow()
    wait = timedelta(0)
    for key, _ in keys(username, source_ip):
        row = session.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            wait = max(wait, row.locked_until - now)
    return int(wait.total_seconds() + 0.999) if wait else 0


def lock_length(failures: int, free_tries: int) -> timedelta:
    if failures < free_tries:
        return timedelta(0)
    # Cap the exponent before shifting: the failure count of a long attack grows without bound.
    doubling = min(failures - free_tries, 16)
    length: timedelta = FIRST_LOCK * (1 << doubling)
    return min(length, LONGEST_LOCK)


def count_failure(session: Session, *, username: str, source_ip: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    for key, free_tries in keys(username, source_ip):
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, last_failure_at=now)
            session.add(row)
        elif now - row.last_failure_at >= FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        length = lock_length(row.failures, free_tries)
        row.locked_until = now + length if length else None


def clear_user(session: Session, *, username: str) -> None:
    """A good login clears the username's count; the address keeps its count (one account is no alibi)."""
    row = session.get(LoginThrottle, f"user:{username[:64]}")
    if row is not None:
        row.failures, row.locked_until = 0, None
