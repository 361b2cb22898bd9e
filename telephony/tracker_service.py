"""The AMI side of telephony as one process: call tracking, live-state rebuild, AGI watchdog.

Kept apart from the FastAGI server on purpose: if the IVR process hangs, this one still sees calls
sitting in AGI for too long and redirects them to the main queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from asterisk_conf.layout import InstanceLayout
from hotline.db import Database
from hotline.settings import Settings
from hotline.status import clear_status, write_status
from recording import jobs
from telephony.ami import AmiActionFailed, AmiClient, AmiUnavailable
from telephony.ami_actions import CoreShowChannels, Redirect
from telephony.call_tracker import CallTracker, StuckCall

log = logging.getLogger("telephony.tracker")

COMPONENT = "tracker"
FALLBACK_CONTEXT = "hotline-fallback"


class AgiWatchdog:
    """Redirects a call stuck in AGI: no command running for too long, or in the IVR far too long.

    The FastAGI server enforces the same limits itself; this catches the case where that server
    is alive but stuck (and so are its own timers), which Asterisk would otherwise wait on for ever.
    Idle time is read from AGIExecStart/AGIExecEnd events, so a long prompt or recording is not
    mistaken for a hang.
    """

    def __init__(
        self, tracker: CallTracker, ami: AmiClient, *, idle_limit: float, total_limit: float
    ) -> None:
        self._tracker = tracker
        self._ami = ami
        self._idle_limit = idle_limit
        self._total_limit = total_limit
        self.redirected = 0

    def _is_stuck(self, stuck: StuckCall, now: float) -> bool:
        if now - stuck.since >= self._total_limit:
            return True
        return stuck.idle_since is not None and now - stuck.idle_since >= self._idle_limit

    async def check(self) -> None:
        now = time.monotonic()
        for uid, stuck in list(self._tracker.in_agi.items()):
            if not self._is_stuck(stuck, now):
                continue
            # Forget it first so a failing Redirect is not retried every second for ever.
            self._tracker.in_agi.pop(uid, None)
            try:
                await self._ami.send(Redirect(channel=stuck.channel, context=FALLBACK_CONTEXT, exten="s"))
                self.redirected += 1
                log.warning("call stuck in AGI redirected to the main queue", extra={"call": uid})
            except (AmiUnavailable, AmiActionFailed, ValueError) as exc:
                log.error("watchdog could not redirect a stuck call", extra={"call": uid, "why": str(exc)})


async def run_tracker(settings: Settings, stop: asyncio.Event) -> None:
    layout = InstanceLayout.for_settings(settings)
    db = Database(settings.database_url)
    tracker = CallTracker(db, node=settings.asterisk.instance, recording=settings.recording)
    # Finished calls' recordings are handed to the workers as the rows commit.
    jobs.configure(settings)
    ami: AmiClient

    async def rebuild() -> None:
        before = set(tracker.tracked)
        replies = await ami.send(CoreShowChannels())
        tracker.rebuild(replies, known_before=before)
        log.info("live state rebuilt from Asterisk", extra={"live_calls": len(tracker.tracked)})

    ami = AmiClient(
        host=settings.asterisk.bind_address,
        port=settings.asterisk.ami_port,
        username=settings.asterisk.ami_user,
        secret=layout.ami_secret(),
        on_event=tracker.on_event,
        on_ready=rebuild,
    )
    limits = settings.agi
    watchdog = AgiWatchdog(
        tracker,
        ami,
        idle_limit=limits.idle_timeout + limits.watchdog_grace,
        total_limit=limits.max_flow_seconds + limits.watchdog_grace,
    )
    worker = asyncio.create_task(tracker.run(), name="call-rows")
    try:
        while not stop.is_set():
            try:
                # Short tries keep the heartbeat fresh: the supervisor kills a silent component.
                await ami.start(timeout=3)
                break
            except AmiUnavailable as exc:
                log.warning("waiting for Asterisk's manager interface", extra={"why": str(exc)})
                write_status(settings.state_dir, COMPONENT, ami_connected=False)
        while not stop.is_set():
            await watchdog.check()
            write_status(
                settings.state_dir,
                COMPONENT,
                ami_connected=ami.connected,
                live_calls=len(tracker.tracked),
                in_agi=len(tracker.in_agi),
                redirected=watchdog.redirected,
                events_applied=tracker.events_applied,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await ami.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.drain(), 5)
        worker.cancel()
        tracker.close()
        db.dispose()
        clear_status(settings.state_dir, COMPONENT)
