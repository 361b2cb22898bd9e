"""The case side's background jobs: the deadline watch and the outbox, on their own queue.

Both are sweeps over the database (what is due, what is unsent), run by beat every few
seconds; a job queued right after a commit only makes the outbox prompt, it is never the only
way a message gets out.
"""

from __future__ import annotations

from typing import Any

from hotline import jobs
from hotline.settings import Settings

CASES_QUEUE = "cases"
CHECK_DEADLINES = "cases.check_deadlines"
DELIVER_OUTBOX = "cases.deliver_outbox"

ROUTES = {CHECK_DEADLINES: {"queue": CASES_QUEUE}, DELIVER_OUTBOX: {"queue": CASES_QUEUE}}


def schedule(settings: Settings) -> dict[str, Any]:
    return {
        "case-deadlines": {"task": CHECK_DEADLINES, "schedule": settings.cases.timer_every_seconds},
        "case-outbox": {"task": DELIVER_OUTBOX, "schedule": settings.cases.outbox.every_seconds},
    }


def queue_delivery() -> None:
    """Send what a just-committed change put in the outbox now, not at the next sweep."""
    jobs.send(DELIVER_OUTBOX)
