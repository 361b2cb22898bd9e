"""Deadline watch: warn before a deadline, mark overdue, press the supervisor (督办).

Run every ``cases.timer_every_seconds`` by Celery beat, but nothing rests on a run happening
at a given moment or exactly once: each step looks at the case's state ("due before now and not
yet marked") and marks what it did on the row, so a run after a day's outage catches up on
everything at once, and a second run finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from case_bridge.lifecycle import CaseStatus
from case_bridge.models import Case
from case_bridge.timeline import Actor, record
from hotline.db import utcnow
from hotline.settings import Settings

WITH_DEPARTMENT = [s.value for s in CaseStatus if s.with_department]
BATCH = 500
TIMER = Actor.system("timer")


@dataclass
class TimerReport:
    warned: int = 0
    overdue: int = 0
    sign_overdue: int = 0
    escalated: int = 0

    @property
    def total(self) -> int:
        return self.warned + self.overdue + self.sign_overdue + self.escalated


def check_deadlines(session: Session, settings: Settings, now: datetime | None = None) -> TimerReport:
    """One pass over the cases whose clocks have run out; at most ``BATCH`` of each kind."""
    now = now or utcnow()
    report = TimerReport()
    base = select(Case).where(Case.status.in_(WITH_DEPARTMENT)).order_by(Case.due_at).limit(BATCH)
    # Overdue first: a case past its deadline gets no "deadline near" warning any more.
    for case in session.scalars(base.where(Case.due_at <= now, Case.overdue_at.is_(None))):
        case.overdue_at = now
        case.warned_at = case.warned_at or now
        record(
            session,
            case,
            actor=TIMER,
            action="overdue",
            now=now,
            settings=settings,
            data={"due_at": case.due_at.isoformat() if case.due_at else None},
        )
        report.overdue += 1
    for case in session.scalars(
        base.where(Case.warn_at <= now, Case.warned_at.is_(None), Case.overdue_at.is_(None))
    ):
        case.warned_at = now
        record(session, case, actor=TIMER, action="deadline_warning", now=now, settings=settings)
        report.warned += 1
    unsigned = (
        select(Case)
        .where(
            Case.status == CaseStatus.DISPATCHED.value,
            Case.sign_due_at <= now,
            Case.sign_overdue_at.is_(None),
        )
        .limit(BATCH)
    )
    for case in session.scalars(unsigned):
        case.sign_overdue_at = now
        record(session, case, actor=TIMER, action="sign_overdue", now=now, settings=settings)
        report.sign_overdue += 1
    escalate_before = now - timedelta(hours=settings.cases.escalate_after_hours)
    for case in session.scalars(
        base.where(Case.overdue_at.is_not(None), Case.due_at <= escalate_before, Case.escalated_at.is_(None))
    ):
        case.escalated_at = now
        if not case.supervised:
            case.supervised = True
            case.supervision_reason = "overdue"
        record(session, case, actor=TIMER, action="escalate", now=now, settings=settings, note="overdue")
        report.escalated += 1
    return report
