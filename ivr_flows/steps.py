"""Named Python steps: the escape hatch for what a flow file cannot say as data.

A flow names a step (``type: python, step: case_status``) and maps the exits it may return to
other steps. The function gets a small StepContext, talks to the caller through the same
CallChannel as the engine, and returns an exit name. An exit the flow does not map, or an
exception, sends the call to the main queue: a bug in a step must never drop a citizen's call.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ivr_flows.ports import CallChannel, CaseLookup


@dataclass(frozen=True)
class StepContext:
    """What a Python step may use: the call, the digits collected so far, and site facts."""

    channel: CallChannel
    # Flow variables filled by collect_digits, read-only: what a step returns is an exit name,
    # never a value that could reach a channel variable unchecked.
    digits: Mapping[str, str]
    uniqueid: str
    language: str
    features: frozenset[str]
    prompt: Callable[[str], str]  # prompt name -> path to play, in the call's language
    now: Callable[[], datetime]
    cases: CaseLookup | None = None  # None: no case side reachable (self-service says so)


StepFunction = Callable[[StepContext], Awaitable[str]]


@dataclass(frozen=True)
class RegisteredStep:
    name: str
    function: StepFunction
    exits: frozenset[str] | None  # None: the step does not declare its exits


class StepRegistry:
    """Python steps by name. Flows are checked against it at load time, and run through it."""

    def __init__(self) -> None:
        self._steps: dict[str, RegisteredStep] = {}

    def register(
        self, name: str, *, exits: Iterable[str] | None = None
    ) -> Callable[[StepFunction], StepFunction]:
        def decorate(function: StepFunction) -> StepFunction:
            if name in self._steps:
                raise ValueError(f"a flow step named {name!r} is already registered")
            declared = frozenset(exits) if exits is not None else None
            self._steps[name] = RegisteredStep(name, function, declared)
            return function

        return decorate

    def get(self, name: str) -> RegisteredStep | None:
        return self._steps.get(name)

    def exits_by_name(self) -> Mapping[str, frozenset[str] | None]:
        return {name: step.exits for name, step in self._steps.items()}


# The steps shipped with the platform register here; tests build their own StepRegistry.
default_registry = StepRegistry()


def flow_step(name: str, *, exits: Iterable[str] | None = None) -> Callable[[StepFunction], StepFunction]:
    """Register an async ``(StepContext) -> exit name`` function as a Python step of that name."""
    return default_registry.register(name, exits=exits)


def import_site_steps(module_names: Iterable[str]) -> None:
    """Import a site's own step modules (ivr.step_modules) so their @flow_step functions register.

    Python caches imports, so calling this again (each flow load does) registers nothing twice.
    """
    for name in module_names:
        importlib.import_module(name)


# A case number is the date and the day's count: 13 digits (14 on a day past 99,999 cases).
CASE_NUMBER_MAX_DIGITS = 14
CASE_STATUS_TRIES = 3
_STAGE_PROMPTS = {
    "filed": "case_status_filed",
    "handling": "case_status_handling",
    "replied": "case_status_replied",
    "closed": "case_status_closed",
    "merged": "case_status_merged",
}


def _looks_like_case_number(digits: str) -> bool:
    """The shape of our case numbers (YYYYMMDD + count), checked before any lookup."""
    if not (13 <= len(digits) <= CASE_NUMBER_MAX_DIGITS and digits.isdigit()):
        return False
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    return 2000 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31


@flow_step("case_status", exits=("agent", "done"))
async def case_status(step: StepContext) -> str:
    """Case status by phone (自助查询): the caller keys the case number and hears its stage.

    A wrong, unknown or missing number gets its own prompt and another try (three in all), then
    the caller is put through to an agent, as is anyone who presses 0 after hearing the status.
    Only the stage is spoken: whoever knows a number learns nothing personal from it.
    """
    if step.cases is None:
        await step.channel.play(step.prompt("self_service_unavailable"))
        return "agent"
    for _ in range(CASE_STATUS_TRIES):
        keyed = await step.channel.read_digits(
            step.prompt("case_status_prompt"), 8000, CASE_NUMBER_MAX_DIGITS
        )
        if not keyed:
            await step.channel.play(step.prompt("timeout"))
            continue
        if keyed == "0":
            return "agent"
        if not _looks_like_case_number(keyed):
            await step.channel.play(step.prompt("case_number_invalid"))
            continue
        answer = await step.cases.case_status(keyed)
        if answer is None:
            await step.channel.play(step.prompt("case_not_found"))
            continue
        await step.channel.play(step.prompt(_STAGE_PROMPTS.get(answer.stage, "case_status_filed")))
        choice = await step.channel.read_digits(step.prompt("case_status_more"), 5000, 1)
        if choice == "1":
            continue
        return "agent" if choice == "0" else "done"
    await step.channel.play(step.prompt("transferring"))
    return "agent"
