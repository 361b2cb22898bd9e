"""`hotline call`: a real SIP call into the running platform, and a plain report of what happened.

The call is placed by sipp from the first trunk's address (so Asterisk accepts it as the trunk),
speaks a sentence and presses keys; afterwards the platform's own call row says how far it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hotline.db import Database
from hotline.settings import Settings
from telephony.models import Call
from telephony.sipp.runner import CallerId, SippAgent
from telephony.sipp.runner import place_test_call as sipp_call

GREETING_TEXT = "您好，我要反映一下路灯不亮的问题。"


def find_call_row(db: Database, *, caller_number: str, since: datetime) -> Call | None:
    with db.unit_of_work() as session:
        return session.scalars(
            select(Call)
            .where(Call.caller_number == caller_number, Call.started_at >= since)
            .order_by(Call.id.desc())
        ).first()


def _wait_closed(db: Database, caller_number: str, since: datetime, timeout: float = 10) -> Call | None:
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = find_call_row(db, caller_number=caller_number, since=since)
        if row is not None and row.ended_at is not None:
            return row
        time.sleep(0.3)
    return row


def place_test_call(
    settings: Settings,
    *,
    digits: str,
    seconds: float,
    caller_id: str,
    say: Callable[[str], None],
    answer: bool = False,
) -> int:
    """Exit code 0 when the call reached the platform and its row was closed, 1 otherwise."""
    agents = [SippAgent.for_seat(seat, hold_seconds=seconds / 2) for seat in settings.seats] if answer else []
    for agent in agents:
        agent.start()
    since = datetime.now(UTC) - timedelta(seconds=1)
    trunk, a = settings.trunks[0], settings.asterisk
    say(
        f"calling {settings.site.hotline_number} at {a.bind_address}:{a.sip_port}"
        f" as trunk {trunk.name} ({trunk.host}:{trunk.port}), caller {caller_id} ..."
    )
    try:
        result = sipp_call(
            settings,
            text=GREETING_TEXT,
            digits=digits,
            caller=CallerId(caller_id, "test"),
            talk_seconds=seconds,
        )
    finally:
        for agent in agents:
            agent.stop()
    say(f"sipp: {dict(result.outcomes) or 'no outcome'} (trace in {result.work_dir})")
    db = Database(settings.database_url)
    try:
        row = _wait_closed(db, caller_id, since)
    finally:
        db.dispose()
    if row is None:
        say(
            "the platform has no record of the call: is it running (`hotline status`), and does the "
            "trunk's host:port in the settings match where the call came from?"
        )
        return 1
    waited = (
        (row.agent_connected_at - row.queued_at).total_seconds()
        if row.agent_connected_at and row.queued_at
        else None
    )
    say(f"call {row.uniqueid}: {row.disposition}")
    say(f"  IVR path: {' -> '.join(p for p in row.ivr_path.split(',') if p) or '(none)'}")
    say(
        f"  queue: {row.queue or '-'}   agent: {row.agent or '-'}"
        + (f"   waited {waited:.1f}s" if waited else "")
    )
    return 0 if row.ended_at is not None else 1
