"""The case side as the IVR needs it: a case's stage by its number, for self-service by phone."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from case_bridge.lifecycle import CaseStatus
from case_bridge.models import Case
from hotline.db import Database
from ivr_flows.ports import CaseStatusAnswer

_STAGES = {
    CaseStatus.INTAKE: "filed",
    CaseStatus.FILED: "filed",
    CaseStatus.RETURNED: "filed",  # back with the dispatcher: to the caller it is waiting again
    CaseStatus.DISPATCHED: "handling",
    CaseStatus.SIGNED: "handling",
    CaseStatus.HANDLING: "handling",
    CaseStatus.REPLIED: "replied",
    CaseStatus.CLOSED: "closed",
    CaseStatus.EVALUATED: "closed",
    CaseStatus.MERGED: "merged",
}


def stage_of(status: str) -> str:
    return _STAGES.get(CaseStatus(status), "filed")


class CaseStatusLookup:
    """Reads the case in a worker thread: the FastAGI server's event loop serves every call."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _read(self, number: str) -> CaseStatusAnswer | None:
        with self._db.unit_of_work() as session:
            status = session.scalar(select(Case.status).where(Case.number == number))
        return CaseStatusAnswer(stage_of(status)) if status is not None else None

    async def case_status(self, number: str) -> CaseStatusAnswer | None:
        return await asyncio.to_thread(self._read, number)
