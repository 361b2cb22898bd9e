"""Rules a flow must keep as a whole, beyond the shape of each step.

Two groups: ``structure_issues`` needs only the flow; ``settings_issues`` needs the site (queues,
registered Python steps, prompts). Both return issues by key path, never raise, so one load
reports every problem at once.

Unreachable steps are errors, not warnings: a flow is reviewed as a whole by people who are not
programmers, and a step no call can reach is either dead text that misleads the reader or the
trace of a misspelt destination. To switch a branch off, gate its key with ``feature:``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping

from hotline.settings import Settings
from ivr_flows.errors import FlowIssue
from ivr_flows.schema import (
    BOUNDED_STEPS,
    CollectDigitsStep,
    Flow,
    PythonStep,
    QueueStep,
    SetVariableStep,
)


def _unknown(kind: str, name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown {kind} {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def _graph(flow: Flow) -> dict[str, list[str]]:
    return {
        step_id: [target for _, target in step.destinations() if target in flow.steps]
        for step_id, step in flow.steps.items()
    }


def _reach(graph: Mapping[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(graph.get(node, ()))
    return seen


def _unbounded_loops(flow: Flow) -> list[list[str]]:
    """Groups of steps that can go round for ever without asking the caller anything.

    A loop through a menu or a digit collection is fine: those count failed tries per call (not
    per visit), so re-entering them cannot reset the bound. Anything else on a loop would spin
    until the engine's step guard stops it.
    """
    unbounded = {step_id for step_id, step in flow.steps.items() if not isinstance(step, BOUNDED_STEPS)}
    graph = {
        node: [t for t in targets if t in unbounded]
        for node, targets in _graph(flow).items()
        if node in unbounded
    }
    # Flows are small (at most a few hundred steps): plain reachability sets are clear enough.
    onward: dict[str, set[str]] = {}
    for node, targets in graph.items():
        onward[node] = set()
        for target in targets:
            onward[node] |= _reach(graph, target)
    loops: list[list[str]] = []
    placed: set[str] = set()
    for node in graph:  # flow order, so messages follow the file
        if node in placed or node not in onward[node]:
            continue
        members = [other for other in graph if other in onward[node] and node in onward[other]]
        placed.update(members)
        loops.append(members)
    return loops


def structure_issues(flow: Flow) -> list[FlowIssue]:
    issues: list[FlowIssue] = []
    if flow.start not in flow.steps:
        issues.append(FlowIssue(("start",), _unknown("step", flow.start, flow.steps)))
    for step_id, step in flow.steps.items():
        for where, target in step.destinations():
            if target not in flow.steps:
                issues.append(FlowIssue(("steps", step_id, *where), _unknown("step", target, flow.steps)))
    if flow.start in flow.steps:
        reached = _reach(_graph(flow), flow.start)
        for step_id in flow.steps:
            if step_id not in reached:
                message = f"unreachable: no path from start {flow.start!r} leads here"
                issues.append(FlowIssue(("steps", step_id), message))
    for loop in _unbounded_loops(flow):
        ring = " -> ".join([*loop, loop[0]])
        issues.append(
            FlowIssue(
                ("steps", loop[0]),
                f"endless loop {ring}: a loop must pass through a menu or collect_digits step, "
                "whose max_tries bounds it",
            )
        )
    collected = {step.into for step in flow.steps.values() if isinstance(step, CollectDigitsStep)}
    for step_id, step in flow.steps.items():
        if isinstance(step, SetVariableStep) and step.from_digits not in (None, *collected):
            issues.append(
                FlowIssue(
                    ("steps", step_id, "from_digits"), f"no collect_digits step fills {step.from_digits!r}"
                )
            )
    return issues


def settings_issues(
    flow: Flow,
    settings: Settings,
    *,
    python_steps: Mapping[str, frozenset[str] | None],
    prompt_exists: Callable[[str], bool],
) -> list[FlowIssue]:
    """Check the flow against this site: configured queues, registered steps, known prompts.

    ``python_steps`` maps each registered step name to the exits it declares (None: undeclared).
    """
    issues: list[FlowIssue] = []
    queues = [q.name for q in settings.queues]
    for step_id, step in flow.steps.items():
        if isinstance(step, QueueStep) and step.queue is not None and step.queue not in queues:
            issues.append(
                FlowIssue(
                    ("steps", step_id, "queue"),
                    _unknown("queue", step.queue, queues) + f" (configured queues: {', '.join(queues)})",
                )
            )
        if isinstance(step, PythonStep):
            if step.step not in python_steps:
                issues.append(
                    FlowIssue(
                        ("steps", step_id, "step"),
                        _unknown("Python step", step.step, python_steps) + " (register it with @flow_step)",
                    )
                )
            else:
                declared = python_steps[step.step]
                for exit_name in step.exits:
                    if declared is not None and exit_name not in declared:
                        issues.append(
                            FlowIssue(
                                ("steps", step_id, "exits", exit_name),
                                f"step {step.step!r} has no exit {exit_name!r}; "
                                f"it declares {', '.join(sorted(declared))}",
                            )
                        )
        for where, prompt in step.prompts():
            if not prompt_exists(prompt):
                issues.append(
                    FlowIssue(
                        ("steps", step_id, *where),
                        f"unknown prompt {prompt!r}: add its text to ivr_flows/prompts/*.toml "
                        "or record it in ivr.prompts_dir",
                    )
                )
    return issues
