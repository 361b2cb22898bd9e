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

from ivr_flows.ports import CallChannel


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


@flow_step("case_status", exits=("agent",))
async def case_status(step: StepContext) -> str:
    """Placeholder for case-status self-service by phone: the hook the case-status issue fills in.

    It does not look anything up. It tells the caller that self-service is not available yet and
    returns "agent", so the flow hands the call to an agent who can answer the question. The real
    step will ask for the case number (prompt ``case_status_prompt``), read the status through
    ``case_bridge`` and gain exits such as "done".
    """
    await step.channel.play(step.prompt("self_service_unavailable"))
    return "agent"
