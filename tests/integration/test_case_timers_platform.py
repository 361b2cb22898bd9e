"""The deadline watch and the outbox in the running platform (Celery beat + the `cases` worker).

The worker is frozen (SIGSTOP) while a case's deadlines pass — here by moving them a day into
the past, as a day of outage would — then thawed: the case is marked overdue, not signed for and
escalated on recovery, once, and the grid platform, refusing the first deliveries, receives each
event exactly once after the retries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from case_bridge import service
from case_bridge.lifecycle import Party
from case_bridge.models import Case, CaseEvent, CaseSource
from case_bridge.timeline import Actor
from hotline.db import utcnow
from tests.integration.case_receiver import case_receiver
from tests.integration.harness import HOOK_PORT, HOOK_SECRET, Platform, poll


def _worker_processes(platform: Platform) -> list[int]:
    parent = platform.component_pid("cases")
    children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False)
    return [parent, *(int(pid) for pid in children.stdout.split())]


def _events(platform: Platform, number: str) -> list[str]:
    with platform.db.unit_of_work() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )


def test_given_the_timer_worker_down_while_deadlines_pass_when_it_recovers_then_they_are_marked_and_told_once(
    platform: Platform,
) -> None:
    with case_receiver(HOOK_PORT, HOOK_SECRET, fail_first=3) as grid:
        with platform.db.unit_of_work() as session:
            case, _ = service.create_case(
                session,
                service.NewCase(
                    source=CaseSource.PHONE,
                    content="井盖丢失 manhole cover missing",
                    category_code="manhole_cover",
                ),
                actor=Actor("agent-it", Party.HOTLINE),
                settings=platform.settings,
            )
            number = case.number
        poll(
            "the dispatch delivered to the grid platform",
            lambda: "case.dispatch" in grid.events_of(number),
            30,
        )

        frozen = _worker_processes(platform)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            with platform.db.unit_of_work() as session:
                row = session.scalars(select(Case).where(Case.number == number)).one()
                day_ago = utcnow() - timedelta(days=1)
                row.sign_due_at = row.due_at = row.warn_at = day_ago
            time.sleep(5)  # beat keeps sending the watch meanwhile; nobody runs it
            assert "overdue" not in _events(platform, number)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)

        poll("the overdue case escalated", lambda: "escalate" in _events(platform, number), 30)
        poll(
            "every event at the grid platform",
            lambda: {"case.overdue", "case.sign_overdue", "case.escalate"} <= set(grid.events_of(number)),
            30,
        )
        time.sleep(3)  # a few more runs of the watch and the outbox: nothing more may come
        events = _events(platform, number)
        assert events == ["intake", "file", "dispatch", "overdue", "sign_overdue", "escalate"]
        assert Counter(grid.events_of(number)) == Counter(f"case.{e}" for e in events)
        assert len(grid.keys) == len(set(grid.keys))  # no delivery accepted twice
        assert grid.refused == 3 and grid.bad_signatures == 0
        with platform.db.unit_of_work() as session:
            row = session.scalars(select(Case).where(Case.number == number)).one()
            assert row.supervised and row.supervision_reason == "overdue"
