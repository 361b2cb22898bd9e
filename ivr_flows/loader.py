"""Find, read and check flow files, reporting every problem as ``file:line: key.path: what``.

Flows ship in ``ivr_flows/flows/``; a file of the same name in ``ivr.flows_dir`` replaces the
shipped one, so a site changes its flow without touching the package. A flow's ``name`` must
match its file name, so the name in the dialplan (HOTLINE_FLOW) always finds the file one expects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from asterisk_conf.layout import InstanceLayout
from hotline.settings import Settings
from ivr_flows.checks import settings_issues, structure_issues
from ivr_flows.errors import FlowError, FlowIssue
from ivr_flows.prompts import PromptLibrary
from ivr_flows.schema import STEP_TYPES, Flow
from ivr_flows.steps import StepRegistry, default_registry, import_site_steps
from ivr_flows.yaml_source import MarkedDocument, read_marked_yaml

SHIPPED_FLOWS = Path(__file__).with_name("flows")


def load_flow(name: str, settings: Settings, *, registry: StepRegistry = default_registry) -> Flow:
    """The flow called ``name``, from ivr.flows_dir if it has one, else the shipped one."""
    _import_site_steps(settings)
    files = _flow_files(settings)
    if name not in files:
        raise FlowError([f"no flow named {name!r}; known flows: {', '.join(sorted(files)) or 'none'}"])
    return _load_file(files[name], settings, registry)


def load_all(settings: Settings, *, registry: StepRegistry = default_registry) -> dict[str, Flow]:
    """Every flow by name; one FlowError lists the problems of all files together."""
    _import_site_steps(settings)
    flows: dict[str, Flow] = {}
    problems: list[str] = []
    for name, path in sorted(_flow_files(settings).items()):
        try:
            flows[name] = _load_file(path, settings, registry)
        except FlowError as exc:
            problems.extend(exc.problems)
    problems.extend(_missing_flows(settings, flows))
    if problems:
        raise FlowError(problems)
    return flows


def _missing_flows(settings: Settings, flows: dict[str, Flow]) -> list[str]:
    """Settings that name a flow no file defines: caught before Asterisk is told to use them."""
    named = [("ivr.flow", settings.ivr.flow)]
    named += [(f"trunks[{i}].flow", t.flow) for i, t in enumerate(settings.trunks) if t.flow]
    named += [(f"queues[{i}].overflow_flow", q.overflow_flow) for i, q in enumerate(settings.queues)]
    known = ", ".join(sorted(flows)) or "none"
    missing = [(key, name) for key, name in named if name not in flows]
    return [f"{key}: no flow named {name!r}; known flows: {known}" for key, name in missing]


def flow_from_yaml(
    text: str,
    *,
    source: str,
    settings: Settings,
    registry: StepRegistry = default_registry,
    prompt_exists: Callable[[str], bool] | None = None,
    file_name: str | None = None,
) -> Flow:
    """Parse and check one flow's YAML text; ``source`` is the file name used in messages."""
    doc = read_marked_yaml(text, source)
    if not isinstance(doc.data, dict):
        raise FlowError([f"{source}:{doc.line_of(())}: a flow is a mapping with name, start and steps"])
    try:
        flow = Flow.model_validate(doc.data)
    except ValidationError as exc:
        raise FlowError(_locate(doc, (_issue_from_pydantic(error) for error in exc.errors()))) from None
    issues = structure_issues(flow) + settings_issues(
        flow,
        settings,
        python_steps=registry.exits_by_name(),
        prompt_exists=prompt_exists or _site_prompts(settings),
    )
    if file_name is not None and flow.name != file_name:
        issues.append(
            FlowIssue(("name",), f"{flow.name!r} differs from the file name {file_name!r}; make them match")
        )
    if issues:
        raise FlowError(_locate(doc, issues))
    return flow


def _import_site_steps(settings: Settings) -> None:
    for name in settings.ivr.step_modules:
        try:
            import_site_steps([name])
        except Exception as exc:
            # A site module is code we did not write: any failure is reported, as a flow problem,
            # before a single call depends on it.
            why = f"{type(exc).__name__}: {exc}"
            raise FlowError([f"ivr.step_modules: cannot import {name!r}: {why}"]) from exc


def _site_prompts(settings: Settings) -> Callable[[str], bool]:
    library = PromptLibrary(settings, InstanceLayout.for_settings(settings))
    return lambda name: library.exists(name, settings.site.language)


def _flow_files(settings: Settings) -> dict[str, Path]:
    files = {path.stem: path for path in sorted(SHIPPED_FLOWS.glob("*.yaml"))}
    extra = settings.ivr.flows_dir
    # Path("") reads back as "."; an unset flows_dir must not mean the working directory.
    if str(extra) not in ("", "."):
        if not extra.is_dir():
            raise FlowError([f"{extra}: ivr.flows_dir is not a directory"])
        files.update({path.stem: path for path in sorted(extra.glob("*.yaml"))})
    return files


def _load_file(path: Path, settings: Settings, registry: StepRegistry) -> Flow:
    source = path.name if path.parent == SHIPPED_FLOWS else str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError([f"{source}:1: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise FlowError([f"{source}: cannot be read: {exc.strerror}"]) from None
    return flow_from_yaml(text, source=source, settings=settings, registry=registry, file_name=path.stem)


def _issue_from_pydantic(error: ErrorDetails) -> FlowIssue:
    loc: list[Any] = list(error["loc"])
    # A step's errors come as steps.<id>.<type tag>.<field>; the tag is not in the file.
    if len(loc) >= 3 and loc[0] == "steps" and loc[2] in STEP_TYPES:
        del loc[2]
    path = tuple(part for part in loc if part != "[key]" and not str(part).startswith("function-"))
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "union_tag_invalid":
        return FlowIssue(
            (*path, "type"), f"unknown step type {context.get('tag')!r}; use one of: {', '.join(STEP_TYPES)}"
        )
    if kind == "union_tag_not_found":
        return FlowIssue((*path, "type"), f"every step needs a type: one of {', '.join(STEP_TYPES)}")
    if kind == "extra_forbidden":
        return FlowIssue(path, "unknown key; check its spelling")
    if kind == "missing":
        return FlowIssue(path, "required, but missing")
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    # Our own checks (value_error) already quote the value; pydantic's built-in ones do not.
    if kind != "value_error" and isinstance(got, str | int | float | bool):
        message += f" (got {_short(got)})"
    return FlowIssue(path, message)


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _locate(doc: MarkedDocument, issues: Iterable[FlowIssue]) -> list[str]:
    placed = sorted((doc.line_of(issue.path), issue.dotted, issue.message) for issue in issues)
    return [
        f"{doc.source}:{line}: {dotted}: {message}" if dotted else f"{doc.source}:{line}: {message}"
        for line, dotted, message in placed
    ]
