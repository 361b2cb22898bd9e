"""The life of a case as an explicit state machine. Pure: a status and an action in, the next
status (or a refusal with its reason) out.

The seeds' seven steps (信息收集 intake → 案卷建立 filed → 任务派遣 dispatched → 任务处理 signed
for and handling → 处理反馈 replied → 核实结案 closed → 综合评价 evaluated) plus what real
hotlines add: a department returns a wrongly routed case (退单) to the dispatcher, who routes it
again; a reply that does not hold up is sent back; an unsatisfied citizen reopens a closed case;
a duplicate is merged into the case it repeats (重复件); an enquiry answered on the call is closed
there (直接办结). Extensions (延期) and supervision (督办) do not move the case along, so they are
flags checked here rather than statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CaseStatus(StrEnum):
    INTAKE = "intake"  # being taken on the call; not yet a filed case
    FILED = "filed"  # 立案: waiting for the dispatcher
    DISPATCHED = "dispatched"  # 派遣: with a department, not yet signed for
    SIGNED = "signed"  # 签收: the department has accepted it
    HANDLING = "handling"  # 处理中
    REPLIED = "replied"  # 已答复: the department's answer waits for verification
    RETURNED = "returned"  # 退单: back with the dispatcher, wrongly routed
    CLOSED = "closed"  # 办结: verified (or answered on the call)
    EVALUATED = "evaluated"  # 已评价: the citizen's or staff's verdict is in
    MERGED = "merged"  # 重复件: folded into another case

    @property
    def is_open(self) -> bool:
        return self not in (CaseStatus.CLOSED, CaseStatus.EVALUATED, CaseStatus.MERGED)

    @property
    def with_department(self) -> bool:
        """The department's clock is running (deadlines are watched in these states)."""
        return self in (CaseStatus.DISPATCHED, CaseStatus.SIGNED, CaseStatus.HANDLING)


class Party(StrEnum):
    """Who may take an action: the hotline's own staff, the department, a supervisor, or the
    system (timers, surveys, outside systems)."""

    HOTLINE = "hotline"  # agents and dispatchers (坐席/派遣员)
    DEPARTMENT = "department"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"


class CaseAction(StrEnum):
    FILE = "file"
    RESOLVE_ON_CALL = "resolve_on_call"
    DISPATCH = "dispatch"
    REDISPATCH = "redispatch"
    SIGN_FOR = "sign_for"
    START_HANDLING = "start_handling"
    REPLY = "reply"
    RETURN = "return"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    REFUSE_EXTENSION = "refuse_extension"
    REJECT_REPLY = "reject_reply"
    CLOSE = "close"
    EVALUATE = "evaluate"
    REOPEN = "reopen"
    MERGE = "merge"
    SUPERVISE = "supervise"
    END_SUPERVISION = "end_supervision"


S = CaseStatus
P = Party


@dataclass(frozen=True)
class Rule:
    sources: frozenset[CaseStatus]
    target: CaseStatus | None  # None: the status stays (a flag changes)
    parties: frozenset[Party]
    needs_reason: bool = False


def _rule(
    sources: tuple[CaseStatus, ...],
    target: CaseStatus | None,
    parties: tuple[Party, ...],
    *,
    needs_reason: bool = False,
) -> Rule:
    return Rule(frozenset(sources), target, frozenset(parties), needs_reason)


_OPEN = tuple(status for status in CaseStatus if status.is_open)
_WORKING = (S.SIGNED, S.HANDLING)

RULES: dict[CaseAction, Rule] = {
    CaseAction.FILE: _rule((S.INTAKE,), S.FILED, (P.HOTLINE, P.SYSTEM)),
    CaseAction.RESOLVE_ON_CALL: _rule((S.INTAKE, S.FILED), S.CLOSED, (P.HOTLINE,)),
    CaseAction.DISPATCH: _rule((S.FILED, S.RETURNED), S.DISPATCHED, (P.HOTLINE, P.SUPERVISOR, P.SYSTEM)),
    # Moving a case a department holds to another one: the dispatcher's correction.
    CaseAction.REDISPATCH: _rule(
        (S.DISPATCHED, S.SIGNED, S.HANDLING), S.DISPATCHED, (P.HOTLINE, P.SUPERVISOR), needs_reason=True
    ),
    CaseAction.SIGN_FOR: _rule((S.DISPATCHED,), S.SIGNED, (P.DEPARTMENT,)),
    CaseAction.START_HANDLING: _rule((S.SIGNED,), S.HANDLING, (P.DEPARTMENT,)),
    CaseAction.REPLY: _rule(_WORKING, S.REPLIED, (P.DEPARTMENT,)),
    # A department may return a case only before it has taken it on (sign-for or just after):
    # once handling, it asks the dispatcher to redispatch instead.
    CaseAction.RETURN: _rule((S.DISPATCHED, S.SIGNED), S.RETURNED, (P.DEPARTMENT,), needs_reason=True),
    CaseAction.REQUEST_EXTENSION: _rule(_WORKING, None, (P.DEPARTMENT,), needs_reason=True),
    CaseAction.APPROVE_EXTENSION: _rule(_WORKING, None, (P.SUPERVISOR,)),
    CaseAction.REFUSE_EXTENSION: _rule(_WORKING, None, (P.SUPERVISOR,), needs_reason=True),
    CaseAction.REJECT_REPLY: _rule((S.REPLIED,), S.HANDLING, (P.HOTLINE, P.SUPERVISOR), needs_reason=True),
    CaseAction.CLOSE: _rule((S.REPLIED,), S.CLOSED, (P.HOTLINE, P.SUPERVISOR)),
    CaseAction.EVALUATE: _rule((S.CLOSED,), S.EVALUATED, (P.HOTLINE, P.SUPERVISOR, P.SYSTEM)),
    CaseAction.REOPEN: _rule(
        (S.CLOSED, S.EVALUATED), S.DISPATCHED, (P.HOTLINE, P.SUPERVISOR, P.SYSTEM), needs_reason=True
    ),
    CaseAction.MERGE: _rule((S.INTAKE, S.FILED, S.RETURNED), S.MERGED, (P.HOTLINE, P.SUPERVISOR)),
    CaseAction.SUPERVISE: _rule(_OPEN, None, (P.SUPERVISOR, P.SYSTEM), needs_reason=True),
    CaseAction.END_SUPERVISION: _rule(_OPEN, None, (P.SUPERVISOR,)),
}


class TransitionRefused(Exception):
    """The action is not allowed now; ``reason`` says why in words a user can act on."""

    def __init__(self, action: CaseAction, reason: str) -> None:
        super().__init__(f"{action.value}: {reason}")
        self.action = action
        self.reason = reason


@dataclass(frozen=True)
class Facts:
    """What else the rules look at besides the status."""

    has_department: bool = False
    extension_pending: bool = False
    supervised: bool = False
    reopen_needs_department: bool = True


def next_status(
    status: CaseStatus,
    action: CaseAction,
    *,
    party: Party,
    reason: str = "",
    facts: Facts = Facts(),
) -> CaseStatus:
    """The status after ``action``; raises ``TransitionRefused`` saying why it cannot happen."""
    rule = RULES[action]
    if party not in rule.parties:
        raise TransitionRefused(action, f"not something the {party.value} side can do")
    if status not in rule.sources:
        allowed = ", ".join(sorted(s.value for s in rule.sources))
        raise TransitionRefused(action, f"the case is {status.value}; only possible when {allowed}")
    if rule.needs_reason and not reason.strip():
        raise TransitionRefused(action, "a reason is required")
    if action in (CaseAction.DISPATCH, CaseAction.REDISPATCH) and not facts.has_department:
        raise TransitionRefused(action, "no responsible department chosen")
    if action is CaseAction.REOPEN and facts.reopen_needs_department and not facts.has_department:
        raise TransitionRefused(action, "the case never had a department to reopen it with")
    if action is CaseAction.REQUEST_EXTENSION and facts.extension_pending:
        raise TransitionRefused(action, "an extension request is already waiting for a decision")
    if action in (CaseAction.APPROVE_EXTENSION, CaseAction.REFUSE_EXTENSION) and not facts.extension_pending:
        raise TransitionRefused(action, "no extension request is waiting")
    if action is CaseAction.SUPERVISE and facts.supervised:
        raise TransitionRefused(action, "the case is already supervised")
    if action is CaseAction.END_SUPERVISION and not facts.supervised:
        raise TransitionRefused(action, "the case is not supervised")
    return rule.target or status


def actions_for(status: CaseStatus, party: Party, facts: Facts = Facts()) -> list[CaseAction]:
    """Every action ``party`` could take now (the buttons a page shows)."""
    possible = []
    for action in CaseAction:
        try:
            next_status(status, action, party=party, reason="-", facts=facts)
        except TransitionRefused:
            continue
        possible.append(action)
    return possible
