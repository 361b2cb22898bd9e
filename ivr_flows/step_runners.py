"""How each kind of step plays out on a call: one small async function per step type.

Each runner returns where the call goes next (GoTo) or how the flow ends (End). Runners only
pass caller input through ``caller_input``, so a key can select among the flow's own choices
and nothing else.
"""

from __future__ import annotations

import logging
import reprlib
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType

from ivr_flows.calendar import BusinessState, business_state
from ivr_flows.caller_input import accept_digits, pick_key
from ivr_flows.context import FlowContext
from ivr_flows.ports import CallChannel, CallerHungUp
from ivr_flows.schema import (
    BusinessHoursStep,
    CollectDigitsStep,
    HangupStep,
    KeyChoice,
    MenuStep,
    PlayStep,
    PythonStep,
    QueueStep,
    SetVariableStep,
    Step,
    VoicemailStep,
)
from ivr_flows.steps import StepContext
from telephony.channel_vars import ROUTE_HANGUP, ROUTE_QUEUE

log = logging.getLogger("ivr_flows.engine")
_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


@dataclass(frozen=True)
class GoTo:
    step: str


@dataclass(frozen=True)
class End:
    route: str
    queue: str | None
    reason: str | None = None  # set when the flow fell back to the main queue


@dataclass
class CallState:
    """One call's walk through a flow."""

    channel: CallChannel
    context: FlowContext
    uniqueid: str
    path: list[str] = field(default_factory=list)
    digits: dict[str, str] = field(default_factory=dict)  # flow variables from collect_digits
    variables: dict[str, str] = field(default_factory=dict)  # channel variables the flow set
    # Failed tries per step for the whole call, so looping back into a menu never resets them.
    tries: Counter[str] = field(default_factory=Counter)
    voicemail_path: str | None = None
    voicemail_kind: str = "voicemail"

    def prompt(self, name: str) -> str:
        return self.context.prompt_path(name, self.context.language)

    def main_queue(self, reason: str) -> End:
        log.warning("flow falls back to the main queue", extra={"call": self.uniqueid, "why": reason})
        return End(ROUTE_QUEUE, self.context.main_queue, reason)

    def go_or_main_queue(self, destination: str | None, reason: str) -> GoTo | End:
        return GoTo(destination) if destination is not None else self.main_queue(reason)


async def run_step(step_id: str, step: Step, call: CallState) -> GoTo | End:
    match step:
        case PlayStep():
            return await _play(step, call)
        case MenuStep():
            return await _menu(step_id, step, call)
        case CollectDigitsStep():
            return await _collect_digits(step_id, step, call)
        case BusinessHoursStep():
            return _business_hours(step, call)
        case SetVariableStep():
            return await _set_variable(step_id, step, call)
        case QueueStep():
            return await _queue(step, call)
        case VoicemailStep():
            return await _voicemail(step_id, step, call)
        case HangupStep():
            if step.prompt is not None:
                await call.channel.play(call.prompt(step.prompt))
            return End(ROUTE_HANGUP, None)
        case PythonStep():
            return await _python(step, call)


async def _play(step: PlayStep, call: CallState) -> GoTo | End:
    features = call.context.features
    active: dict[str, KeyChoice] = {
        key: choice
        for key, choice in step.keys.items()
        if choice.feature is None or choice.feature in features
    }
    if not active:
        await call.channel.play(call.prompt(step.prompt))
        return GoTo(step.next)
    escape = "".join(sorted(active))
    *leading, last = [step.prompt, *(choice.hint for choice in active.values() if choice.hint)]
    pressed: str | None = ""
    for name in leading:
        pressed = await call.channel.play(call.prompt(name), escape)
        if pressed:
            break
    if not pressed:
        if step.key_wait_ms:
            # GET DATA plays the last prompt and then waits a moment for the key it offered.
            pressed = await call.channel.read_digits(call.prompt(last), step.key_wait_ms, 1)
        else:
            pressed = await call.channel.play(call.prompt(last), escape)
    chosen = pick_key(pressed, active)
    return GoTo(chosen.to if chosen is not None else step.next)


async def _menu(step_id: str, step: MenuStep, call: CallState) -> GoTo | End:
    pressed = await call.channel.read_digits(call.prompt(step.prompt), step.timeout_ms, 1)
    chosen = pick_key(pressed, step.choices)
    if chosen is not None:
        return GoTo(chosen)
    call.tries[step_id] += 1
    silent = not pressed
    if call.tries[step_id] >= step.max_tries:
        return call.go_or_main_queue(
            step.on_failure, f"menu {step_id!r}: no valid key after {step.max_tries} tries"
        )
    await call.channel.play(call.prompt(step.timeout_prompt if silent else step.invalid_prompt))
    retry = step.on_timeout if silent else step.on_invalid
    return GoTo(retry or step_id)


async def _collect_digits(step_id: str, step: CollectDigitsStep, call: CallState) -> GoTo | End:
    entered = await call.channel.read_digits(call.prompt(step.prompt), step.timeout_ms, step.max_digits)
    accepted = accept_digits(
        entered, min_digits=step.min_digits, max_digits=step.max_digits, pattern=step.pattern
    )
    if accepted is not None:
        call.digits[step.into] = accepted
        return GoTo(step.next)
    call.tries[step_id] += 1
    if call.tries[step_id] >= step.max_tries:
        return call.go_or_main_queue(
            step.on_failure, f"collect_digits {step_id!r}: no valid number after {step.max_tries} tries"
        )
    await call.channel.play(call.prompt(step.invalid_prompt if entered else step.timeout_prompt))
    return GoTo(step_id)


def _business_hours(step: BusinessHoursStep, call: CallState) -> GoTo:
    context = call.context
    state = business_state(context.business_hours, context.now(), context.zone)
    if state is BusinessState.OPEN:
        return GoTo(step.open)
    if state is BusinessState.HOLIDAY and step.holiday is not None:
        return GoTo(step.holiday)
    return GoTo(step.closed)


async def _set_variable(step_id: str, step: SetVariableStep, call: CallState) -> GoTo:
    value = step.value if step.value is not None else call.digits.get(step.from_digits or "")
    if value is None:
        # The flow reached here without collecting the number (another branch skipped it): the
        # variable stays unset rather than set to something misleading.
        log.info("flow variable not collected", extra={"call": call.uniqueid, "step": step_id})
    else:
        await call.channel.set_variable(step.name, value)
        call.variables[step.name] = value
    return GoTo(step.next)


async def _queue(step: QueueStep, call: CallState) -> End:
    queue = step.queue or call.context.main_queue
    if queue not in call.context.queues:
        return call.main_queue(f"queue {queue!r} is not configured")
    if step.prompt is not None:
        await call.channel.play(call.prompt(step.prompt))
    return End(ROUTE_QUEUE, queue)


async def _voicemail(step_id: str, step: VoicemailStep, call: CallState) -> GoTo | End:
    await call.channel.play(call.prompt(step.prompt))
    # The uniqueid first, so the recording service can match the message to the call row.
    path = str(call.context.voicemail_dir / f"{call.uniqueid}-{step_id}")
    try:
        await call.channel.record(path, "wav", step.max_seconds, step.silence_seconds)
    except CallerHungUp:
        # Most callers end a message by hanging up. Asterisk keeps what was recorded, so the flow
        # ends here with the message rather than losing it with the call.
        call.voicemail_path, call.voicemail_kind = f"{path}.wav", step.keep_as
        return End(ROUTE_HANGUP, None)
    call.voicemail_path, call.voicemail_kind = f"{path}.wav", step.keep_as
    return GoTo(step.next)


async def _python(step: PythonStep, call: CallState) -> GoTo | End:
    registered = call.context.registry.get(step.step)
    if registered is None:
        return call.main_queue(f"Python step {step.step!r} is not registered")
    context = StepContext(
        channel=call.channel,
        digits=MappingProxyType(dict(call.digits)),
        uniqueid=call.uniqueid,
        language=call.context.language,
        features=call.context.features,
        prompt=call.prompt,
        now=call.context.now,
        cases=call.context.cases,
    )
    try:
        exit_name: object = await registered.function(context)
    except CallerHungUp:
        raise
    except Exception:
        # A bug in a step must not cost the citizen the call: log it and put them through.
        log.exception("Python step failed", extra={"call": call.uniqueid, "step": step.step})
        return call.main_queue(f"Python step {step.step!r} failed")
    target = step.exits.get(exit_name) if isinstance(exit_name, str) else None
    if target is None:
        return call.main_queue(f"Python step {step.step!r} returned unknown exit {_short.repr(exit_name)}")
    return GoTo(target)
