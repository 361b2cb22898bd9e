"""The audit log: every login, failed login, logout and privileged action, one row each.

Only ``record`` writes here, and it only adds; the models refuse updates and deletes on flush.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts.models import AuditEntry


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # bad credentials, locked out, not allowed
    INVALID = "invalid"  # the request itself was wrong (weak password, own admin role ...)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: Outcome,
    target: str = "",
    source_ip: str = "",
    detail: str = "",
) -> AuditEntry:
    """Add one audit row; it commits with the request, or with the refusal that caused it."""
    entry = AuditEntry(
        actor=actor[:64],
        action=action[:40],
        target=target[:140],
        source_ip=source_ip[:64],
        outcome=outcome.value,
        detail=detail,
    )
    session.add(entry)
    return entry


def recent(session: Session, *, limit: int = 100, offset: int = 0) -> Sequence[AuditEntry]:
    """Newest first."""
    return session.scalars(
        select(AuditEntry).order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    ).all()
