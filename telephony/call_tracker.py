"""Live call tracking from AMI events, written to call rows as it happens.

Asterisk is the truth for live calls; the ``calls`` table is the durable record. A row is written
when the caller's channel appears, updated as the call moves through the IVR and queue, and closed
on hang-up. After any (re)connection to AMI the live channel list is read back and rows for calls
that no longer exist are closed as abnormal, so no row stays open for ever after a crash.

Events are applied strictly in arrival order by one worker, each in its own transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db import Database, utcnow
from hotline.logs import mask_number
from hotline.settings import RecordingSettings
from recording import service as recordings
from recording.models import Recording, RecordingKind
from telephony import channel_vars as cv
from telephony.models import Call, Disposition

log = logging.getLogger("telephony.calls")

TRUNK_CONTEXT_PREFIX = "hotline-trunk-"
UP = "6"


def _clip(value: Any, size: int) -> str:
    return str(value or "")[:size]


def _duration_seconds(text: str) -> int:
    try:
        h, m, s = (int(p) for p in text.split(":"))
    except ValueError:
        return 0
    return h * 3600 + m * 60 + s


def _trunk_of(context: str) -> str:
    return context.removeprefix(TRUNK_CONTEXT_PREFIX) if context.startswith(TRUNK_CONTEXT_PREFIX) else ""


def _is_caller_channel(ch: dict[str, Any]) -> bool:
    """A citizen's channel: it started the call (uniqueid == linkedid) and runs in our inbound path."""
    context = str(ch.get("Context", ""))
    return (
        ch.get("Event") == "CoreShowChannel"
        and ch.get("Uniqueid") == ch.get("Linkedid")
        and context.startswith("hotline-")
        and context != "hotline-seats"
    )


# Why a queue gave a caller up (the dialplan's HOTLINE_QUEUE_OVERFLOW), for the call row.
_QUEUE_GAVE_UP = {
    cv.QUEUE_OVERFLOW_TIMEOUT: "nobody answered within max_wait",
    cv.QUEUE_OVERFLOW_FULL: "the queue was full (max_callers)",
}


@dataclass
class StuckCall:
    """A call inside AGI(): since when, and since when no AGI command has been running."""

    channel: str
    since: float
    idle_since: float | None


class CallTracker:
    """Turns AMI events into call rows; also knows which calls sit in AGI, for the watchdog."""

    def __init__(self, db: Database, *, node: str, recording: RecordingSettings | None = None) -> None:
        self._db = db
        self._node = node
        self._recording = recording or RecordingSettings()
        self._queue: asyncio.Queue[Callable[[Session], None]] = asyncio.Queue()
        # One thread keeps transactions in event order and off the event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-rows")
        self._worker: asyncio.Task[None] | None = None
        self.tracked: dict[str, str] = {}  # uniqueid -> channel, for inbound calls only
        self.in_agi: dict[str, StuckCall] = {}
        self.events_applied = 0

    # ----- event intake (called on the event loop, must not block) -----------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        name = event.get("Event")
        uid = str(event.get("Uniqueid", ""))
        now = utcnow()
        if name == "Newchannel":
            context = str(event.get("Context", ""))
            if context.startswith(TRUNK_CONTEXT_PREFIX) and uid not in self.tracked:
                self.tracked[uid] = str(event.get("Channel", ""))
                self._submit(partial(self._open, event=event, now=now))
            return
        if uid not in self.tracked:
            return
        if name == "Newexten":
            if event.get("Application") == "AGI":
                now_mono = time.monotonic()
                self.in_agi.setdefault(uid, StuckCall(self.tracked[uid], now_mono, now_mono))
            else:
                self.in_agi.pop(uid, None)
        elif name in ("AGIExecStart", "AGIExecEnd") and uid in self.in_agi:
            # A command in flight is Asterisk working (a prompt, a recording), not our code stuck.
            self.in_agi[uid].idle_since = None if name == "AGIExecStart" else time.monotonic()
        elif name == "Newstate" and str(event.get("ChannelState")) == UP:
            self._submit(partial(self._update, uid=uid, only_if_null=True, answered_at=now))
        elif name == "QueueCallerJoin":
            self._submit(partial(self._update, uid=uid, queued_at=now, queue=_clip(event.get("Queue"), 40)))
        elif name == "AgentConnect":
            agent = _clip(event.get("MemberName") or event.get("Interface"), 128)
            self._submit(partial(self._update, uid=uid, agent_connected_at=now, agent=agent))
            # The dialplan started MixMonitor before Queue(); its files begin with this answer.
            base = str((event.get("ChanVariable") or {}).get(cv.RECORDING) or "")
            if base:
                self._submit(partial(self._recording_started, uid=uid, base=base, now=now))
        elif name == "Hangup":
            self.tracked.pop(uid, None)
            self.in_agi.pop(uid, None)
            self._submit(partial(self._close, event=event, now=now))

    def rebuild(self, live_channels: Iterable[dict[str, Any]], *, known_before: set[str]) -> None:
        """Make rows agree with Asterisk after (re)connecting: adopt live calls, close the rest.

        known_before is what was tracked when the channel list was asked for: a call that began
        while the answer was on its way is kept, not dropped.
        """
        live = {str(ch.get("Uniqueid")): ch for ch in live_channels if _is_caller_channel(ch)}
        for uid in known_before - live.keys():
            self.tracked.pop(uid, None)
            self.in_agi.pop(uid, None)
        for uid, ch in live.items():
            self.tracked.setdefault(uid, str(ch.get("Channel", "")))
            # Newexten events may have been missed while disconnected: what the channel runs now
            # decides whether the watchdog watches it (a call moved on to a queue must not be
            # redirected). Time in AGI is counted from now, so it is never over-estimated.
            if ch.get("Application") == "AGI":
                now_mono = time.monotonic()
                self.in_agi.setdefault(uid, StuckCall(self.tracked[uid], now_mono, now_mono))
            else:
                self.in_agi.pop(uid, None)
        self._submit(partial(self._reconcile, live=live, now=utcnow()))

    def _submit(self, job: Callable[[Session], None]) -> None:
        self._queue.put_nowait(job)

    # ----- worker --------------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            try:
                await loop.run_in_executor(self._executor, self._apply, job)
            except Exception:
                log.exception("call row update failed")
            finally:
                self._queue.task_done()

    def _apply(self, job: Callable[[Session], None]) -> None:
        with self._db.unit_of_work() as session:
            job(session)
        self.events_applied += 1

    async def drain(self) -> None:
        await self._queue.join()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    # ----- row changes (run in the worker thread, inside a transaction) --------------------------
    def _open(self, session: Session, *, event: dict[str, Any], now: datetime) -> None:
        uid = str(event["Uniqueid"])
        if session.scalar(select(Call.id).where(Call.uniqueid == uid)) is not None:
            return
        context = str(event.get("Context", ""))
        call = Call(
            uniqueid=uid,
            linkedid=_clip(event.get("Linkedid") or uid, 64),
            node=self._node,
            channel=_clip(event.get("Channel"), 128),
            # Caller ID is whatever the far end sent: stored as data, clipped, never interpreted.
            caller_number=_clip(event.get("CallerIDNum"), 64),
            caller_name=_clip(event.get("CallerIDName"), 128),
            called_number=_clip(event.get("Exten"), 64),
            trunk=_clip((event.get("ChanVariable") or {}).get(cv.TRUNK) or _trunk_of(context), 40),
            started_at=now,
        )
        session.add(call)
        log.info(
            "call started",
            extra={"call": uid, "caller": mask_number(call.caller_number), "trunk": call.trunk},
        )

    def _update(self, session: Session, *, uid: str, only_if_null: bool = False, **values: Any) -> None:
        call = session.scalar(select(Call).where(Call.uniqueid == uid))
        if call is None or call.ended_at is not None:
            return
        for key, value in values.items():
            if only_if_null and getattr(call, key) is not None:
                continue
            setattr(call, key, value)

    def _recording_started(self, session: Session, *, uid: str, base: str, now: datetime) -> None:
        recordings.start_call_recording(
            session, call_uniqueid=uid, base_path=base[:512], started_at=now, settings=self._recording
        )

    def _close(self, session: Session, *, event: dict[str, Any], now: datetime) -> None:
        uid = str(event["Uniqueid"])
        call = session.scalar(select(Call).where(Call.uniqueid == uid))
        if call is None or call.ended_at is not None:
            return
        variables = event.get("ChanVariable") or {}
        call.ended_at = now
        call.hangup_cause = _clip(event.get("Cause-txt") or event.get("Cause"), 64)
        path = _clip(variables.get(cv.IVR_PATH), 2000)
        # The row may already hold a longer path: a message taken by a queue's overflow flow is
        # registered with both flows' steps, while the channel still shows the first flow's.
        if not call.ivr_path.startswith(path):
            call.ivr_path = path
        call.route = _clip(variables.get(cv.ROUTE), 20) or call.route
        if not call.queue:
            call.queue = _clip(variables.get(cv.QUEUE), 40)
        has_voicemail = session.scalar(
            select(Recording.id).where(
                Recording.call_uniqueid == uid, Recording.kind == RecordingKind.VOICEMAIL
            )
        )
        call.disposition = self._disposition(call, variables, has_voicemail is not None)
        call.duration_seconds = max(0, round((now - call.started_at).total_seconds()))
        recordings.call_ended(session, call_uniqueid=uid, ended_at=now)
        gave_up = _QUEUE_GAVE_UP.get(variables.get(cv.QUEUE_OVERFLOW, ""))
        if gave_up and call.agent_connected_at is None:
            call.end_reason = f"queue {call.queue or '?'}: {gave_up}; the queue's overflow flow ran"
        log.info(
            "call ended", extra={"call": uid, "disposition": call.disposition, "cause": call.hangup_cause}
        )

    @staticmethod
    def _disposition(call: Call, variables: dict[str, str], has_voicemail: bool) -> Disposition:
        if call.agent_connected_at is not None:
            return Disposition.ANSWERED
        if variables.get(cv.OVERFLOW):
            return Disposition.OVERFLOW
        if has_voicemail:
            return Disposition.VOICEMAIL
        if variables.get(cv.QUEUE_OVERFLOW):
            return Disposition.OVERFLOW
        if call.queued_at is not None:
            return Disposition.ABANDONED
        if call.answered_at is not None:
            return Disposition.IVR_ONLY
        return Disposition.FAILED

    def _reconcile(self, session: Session, *, live: dict[str, dict[str, Any]], now: datetime) -> None:
        open_calls = session.scalars(
            select(Call).where(Call.ended_at.is_(None), Call.node == self._node)
        ).all()
        known = set()
        for call in open_calls:
            known.add(call.uniqueid)
            if call.uniqueid not in live and call.uniqueid not in self.tracked:
                call.ended_at = now
                call.disposition = Disposition.ABNORMAL
                call.end_reason = "not live in Asterisk when the tracker (re)connected"
                call.duration_seconds = max(0, round((now - call.started_at).total_seconds()))
                # Asterisk went away under it: the files were left open; the worker repairs them.
                recordings.call_ended(session, call_uniqueid=call.uniqueid, ended_at=now)
                log.warning("open call closed as abnormal", extra={"call": call.uniqueid})
        for uid, ch in live.items():
            if uid in known or session.scalar(select(Call.id).where(Call.uniqueid == uid)):
                continue
            started = now - timedelta(seconds=_duration_seconds(str(ch.get("Duration", ""))))
            self._open(session, event=ch, now=started)
