"""The flow engine: walks a Flow over one call and decides where the call goes.

The engine decides; it does not route. It returns a FlowOutcome, and the FastAGI server writes
the channel variables the dialplan acts on (see ``FlowOutcome.channel_variables``). Every way
out that is not a step of the flow (a menu given up on, a Python step that failed, a loop)
ends in the main queue, because a citizen who called must reach a person. A hang-up raises
CallerHungUp straight out of ``run_flow``: nothing more may be sent to a dead channel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ivr_flows.context import MAX_STEPS_PER_CALL, FlowContext, utc_now
from ivr_flows.ports import CallChannel
from ivr_flows.schema import Flow
from ivr_flows.step_runners import CallState, End, run_step
from telephony.channel_vars import IVR_PATH, QUEUE, ROUTE, UNIQUEID_PATTERN

__all__ = ["MAX_STEPS_PER_CALL", "FlowContext", "FlowOutcome", "run_flow", "utc_now"]

log = logging.getLogger("ivr_flows.engine")
# Asterisk's uniqueid is "[<systemname>-]<epoch>.<sequence>" (our instances set systemname); it
# names the voicemail file, so nothing else passes.
_UNIQUEID = re.compile(UNIQUEID_PATTERN)


@dataclass(frozen=True)
class FlowOutcome:
    route: str  # channel_vars.ROUTE_QUEUE or ROUTE_HANGUP
    queue: str | None  # a configured queue named by the flow (or the main queue); never caller input
    path: tuple[str, ...]  # step ids in the order walked, repeats included
    variables: Mapping[str, str]  # channel variables the flow's set_variable steps set
    voicemail_path: str | None = None  # the recorded message, with its .wav extension
    voicemail_kind: str = "voicemail"  # or "survey": a survey answer (recording.models.RecordingKind)
    reason: str | None = None  # why the flow fell back to the main queue, when it did

    def channel_variables(self) -> dict[str, str]:
        """The route variables for the dialplan; the server adds FLOW_DONE once they are set."""
        return {ROUTE: self.route, QUEUE: self.queue or "", IVR_PATH: ",".join(self.path)}


def call_uniqueid(env: Mapping[str, str]) -> str:
    """The call's Asterisk uniqueid, or "unknown" when the header is missing or malformed."""
    value = env.get("agi_uniqueid", "")
    return value if _UNIQUEID.fullmatch(value) else "unknown"


async def run_flow(
    flow: Flow, channel: CallChannel, context: FlowContext, *, walked_before: tuple[str, ...] = ()
) -> FlowOutcome:
    """Run ``flow`` on the call until it queues or hangs up; CallerHungUp propagates.

    ``walked_before``: steps of an earlier flow in the same call (a queue's overflow flow runs
    after the caller's first flow); they lead the outcome's path but count for no limit here.
    """
    call = CallState(channel, context, call_uniqueid(channel.env))
    await channel.answer()
    step_id = flow.start
    while True:
        if len(call.path) >= context.max_steps:
            end = call.main_queue(f"stopped after {context.max_steps} steps, before {step_id!r}")
            break
        step = flow.steps.get(step_id)
        if step is None:
            # Loaded flows are checked for this; a flow built in code might not be.
            end = call.main_queue(f"flow {flow.name!r} has no step {step_id!r}")
            break
        call.path.append(step_id)
        result = await run_step(step_id, step, call)
        if isinstance(result, End):
            end = result
            break
        step_id = result.step
    outcome = FlowOutcome(
        route=end.route,
        queue=end.queue,
        path=walked_before + tuple(call.path),
        variables=MappingProxyType(dict(call.variables)),
        voicemail_path=call.voicemail_path,
        voicemail_kind=call.voicemail_kind,
        reason=end.reason,
    )
    log.info(
        "flow finished",
        extra={
            "call": call.uniqueid,
            "flow": flow.name,
            "route": outcome.route,
            "queue": outcome.queue,
            "path": ",".join(outcome.path),
        },
    )
    return outcome
