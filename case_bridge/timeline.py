"""Writing a case's timeline, and telling the world about it in the same transaction.

Every change to a case goes through ``record``: the timeline row, and the outbox rows of the
notifications and webhooks the change calls for, are added together, so either all of it is
committed or none of it (decision 3: nothing is told that did not happen).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from case_bridge import notify
from case_bridge.lifecycle import Party
from case_bridge.models import Case, CaseEvent
from hotline.settings import Settings


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (by name) on one side, or the system (``system:timer``, ``open311:<key>``)."""

    name: str
    party: Party
    department_ids: frozenset[int] = frozenset()

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(name=f"system:{what}", party=Party.SYSTEM)


def record(
    session: Session,
    case: Case,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    settings: Settings,
    from_status: str = "",
    note: str = "",
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor=actor.name,
        party=actor.party.value,
        action=action,
        from_status=from_status or case.status,
        to_status=case.status,
        note=note,
        data=data or {},
    )
    session.add(event)
    case.updated_at = now
    session.flush()
    notify.on_event(session, case, event, settings)
    return event
