"""The IVR process: a FastAGI server that runs the configured flow on every call.

The flow decides; this module tells Asterisk the decision through channel variables, setting
FLOW_DONE last. Anything short of that (a flow that raises, sits silent past ``agi.idle_timeout``,
runs past ``agi.max_flow_seconds``, or a process that dies) leaves FLOW_DONE unset, and the dialplan
queues the call on the main queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from sqlalchemy import select

from case_bridge.ivr_lookup import CaseStatusLookup
from case_bridge.service import file_voicemail_case
from hotline.db import Database
from hotline.settings import Settings
from hotline.status import clear_status, write_status
from ivr_flows.context import FlowContext
from ivr_flows.engine import FlowOutcome, run_flow
from ivr_flows.loader import load_all
from ivr_flows.schema import Flow
from recording import jobs
from recording.models import RecordingKind
from recording.service import register_voicemail
from telephony import channel_vars as cv
from telephony.fastagi import AgiConnection, FastAgiServer
from telephony.models import Call, Disposition

log = logging.getLogger("telephony.agi")

COMPONENT = "agi"


def flow_name_of(env_script: str, flows: dict[str, Flow], default: str) -> str:
    """The flow asked for by the AGI URL path; an unknown name gets the site's default flow."""
    name = env_script.strip("/")
    return name if name in flows else default


class FlowRunner:
    def __init__(self, settings: Settings, db: Database | None) -> None:
        self._settings = settings
        self._db = db
        self.flows = load_all(settings)
        cases = CaseStatusLookup(db) if db is not None else None
        self._contexts = {
            lang: FlowContext.from_settings(settings, language=lang, cases=cases) for lang in ("zh-CN", "en")
        }
        self._overflow_flows = frozenset(q.overflow_flow for q in settings.queues)
        self.finished = 0
        self.fell_back = 0

    async def handle(self, conn: AgiConnection) -> None:
        name = flow_name_of(conn.env.get("agi_network_script", ""), self.flows, self._settings.ivr.flow)
        language = conn.env.get("agi_language", "")
        context = self._contexts.get(language, self._contexts[self._settings.site.language])
        walked: tuple[str, ...] = ()
        if name in self._overflow_flows:
            # The caller already walked a flow before the queue gave up: keep its steps in the path.
            earlier = await conn.get_variable(cv.IVR_PATH) or ""
            walked = tuple(step for step in earlier.split(",") if step)
        flow = asyncio.ensure_future(run_flow(self.flows[name], conn, context, walked_before=walked))
        why = await self._supervise(flow, conn)
        if why is not None:
            self.fell_back += 1
            log.error(
                f"flow stopped: {why}; the dialplan queues the call",
                extra={"call": conn.uniqueid, "flow": name},
            )
            return
        outcome = flow.result()
        if outcome.voicemail_path and self._db is not None:
            await asyncio.to_thread(self._keep_voicemail, conn.uniqueid, outcome)
        for variable, value in outcome.channel_variables().items():
            await conn.set_variable(variable, value)
        await conn.set_variable(cv.FLOW_DONE, "1")
        self.finished += 1

    async def _supervise(self, flow: asyncio.Future[FlowOutcome], conn: AgiConnection) -> str | None:
        """Wait for the flow; cancel it when our code goes silent or the whole flow runs too long."""
        limits = self._settings.agi
        started = time.monotonic()
        while True:
            done, _ = await asyncio.wait({flow}, timeout=0.25)
            if done:
                flow.result()  # re-raises CallerHungUp or the flow's own error for the server
                return None
            why = None
            if conn.idle_seconds() > limits.idle_timeout:
                why = f"no AGI command for {limits.idle_timeout:.0f}s (agi.idle_timeout)"
            elif time.monotonic() - started > limits.max_flow_seconds:
                why = f"in the IVR for {limits.max_flow_seconds:.0f}s (agi.max_flow_seconds)"
            if why is not None:
                flow.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await flow
                return why

    def _keep_voicemail(self, uniqueid: str, outcome: FlowOutcome) -> None:
        assert self._db is not None and outcome.voicemail_path is not None
        file = Path(outcome.voicemail_path)
        with self._db.unit_of_work() as session:
            register_voicemail(
                session,
                call_uniqueid=uniqueid,
                path=str(file.with_suffix("")),
                fmt=file.suffix[1:],
                kind=outcome.voicemail_kind,
            )
            # A caller who hangs up to end the message may have had the row closed already,
            # before the message was registered: put the row right.
            call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
            if outcome.voicemail_kind == RecordingKind.VOICEMAIL and self._settings.cases.voicemail_cases:
                file_voicemail_case(
                    session,
                    call_uniqueid=uniqueid,
                    caller_number=call.caller_number if call is not None else "",
                    settings=self._settings,
                )
            if call is not None:
                # The flow's own path is the whole one (an overflow flow's includes the first flow).
                walked = ",".join(outcome.path)
                if walked.startswith(call.ivr_path):
                    call.ivr_path = walked
                if call.ended_at is not None and call.disposition in (
                    Disposition.IVR_ONLY,
                    Disposition.FAILED,
                    Disposition.OVERFLOW,  # a queue's overflow flow took this message
                ):
                    call.disposition = Disposition.VOICEMAIL


async def run_agi(settings: Settings, stop: asyncio.Event) -> None:
    db = Database(settings.database_url)
    jobs.configure(settings)  # messages callers leave are handed to the recording workers
    runner = FlowRunner(settings, db)
    server = FastAgiServer(
        runner.handle,
        host=settings.agi.host,
        port=settings.agi.port,
        header_timeout=settings.agi.header_timeout,
    )
    await server.start()
    try:
        while not stop.is_set():
            write_status(
                settings.state_dir,
                COMPONENT,
                active_calls=server.active_calls,
                finished=runner.finished,
                fell_back=runner.fell_back,
                rejected_connections=server.rejected_connections,
                round_trips=server.round_trips.summary(),
                flows=sorted(runner.flows),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await server.close()
        db.dispose()
        clear_status(settings.state_dir, COMPONENT)
