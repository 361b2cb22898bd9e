"""The case state machine: every path of the seeds' process, and refusals with their reasons."""

from __future__ import annotations

import pytest

from case_bridge.lifecycle import (
    RULES,
    CaseAction,
    CaseStatus,
    Facts,
    Party,
    TransitionRefused,
    actions_for,
    next_status,
)

A = CaseAction
S = CaseStatus
HOTLINE, DEPARTMENT, SUPERVISOR, SYSTEM = Party.HOTLINE, Party.DEPARTMENT, Party.SUPERVISOR, Party.SYSTEM
WITH_DEPT = Facts(has_department=True)


def walk(steps: list[tuple[CaseAction, Party, str]], facts: Facts = WITH_DEPT) -> list[CaseStatus]:
    status = S.INTAKE
    seen = [status]
    for action, party, reason in steps:
        status = next_status(status, action, party=party, reason=reason, facts=facts)
        seen.append(status)
    return seen


def test_given_the_seven_steps_when_walked_then_the_case_ends_evaluated() -> None:
    assert walk(
        [
            (A.FILE, HOTLINE, ""),
            (A.DISPATCH, HOTLINE, ""),
            (A.SIGN_FOR, DEPARTMENT, ""),
            (A.START_HANDLING, DEPARTMENT, ""),
            (A.REPLY, DEPARTMENT, ""),
            (A.CLOSE, HOTLINE, ""),
            (A.EVALUATE, SYSTEM, ""),
        ]
    ) == [S.INTAKE, S.FILED, S.DISPATCHED, S.SIGNED, S.HANDLING, S.REPLIED, S.CLOSED, S.EVALUATED]


def test_given_a_wrongly_routed_case_when_returned_then_it_goes_back_to_the_dispatcher_and_out_again() -> (
    None
):
    assert walk(
        [
            (A.FILE, HOTLINE, ""),
            (A.DISPATCH, HOTLINE, ""),
            (A.RETURN, DEPARTMENT, "not our street"),
            (A.DISPATCH, HOTLINE, ""),
            (A.SIGN_FOR, DEPARTMENT, ""),
        ]
    )[-3:] == [S.RETURNED, S.DISPATCHED, S.SIGNED]


def test_given_a_closed_case_when_the_citizen_is_unsatisfied_then_reopen_sends_it_back_out() -> None:
    assert (
        next_status(S.EVALUATED, A.REOPEN, party=SYSTEM, reason="unsatisfied", facts=WITH_DEPT)
        is S.DISPATCHED
    )
    assert (
        next_status(S.CLOSED, A.REOPEN, party=HOTLINE, reason="still broken", facts=WITH_DEPT) is S.DISPATCHED
    )


def test_given_a_reply_that_does_not_hold_when_rejected_then_the_department_handles_it_again() -> None:
    assert next_status(S.REPLIED, A.REJECT_REPLY, party=HOTLINE, reason="light still out") is S.HANDLING


@pytest.mark.parametrize(
    ("status", "action", "party", "facts", "why"),
    [
        (S.FILED, A.SIGN_FOR, DEPARTMENT, WITH_DEPT, "the case is filed; only possible when dispatched"),
        (S.DISPATCHED, A.REPLY, DEPARTMENT, WITH_DEPT, "the case is dispatched"),
        (S.DISPATCHED, A.SIGN_FOR, HOTLINE, WITH_DEPT, "not something the hotline side can do"),
        (S.FILED, A.DISPATCH, HOTLINE, Facts(), "no responsible department chosen"),
        (S.HANDLING, A.RETURN, DEPARTMENT, WITH_DEPT, "the case is handling"),
        (S.SIGNED, A.RETURN, DEPARTMENT, WITH_DEPT, "a reason is required"),
        (S.HANDLING, A.APPROVE_EXTENSION, SUPERVISOR, WITH_DEPT, "no extension request is waiting"),
        (
            S.HANDLING,
            A.REQUEST_EXTENSION,
            DEPARTMENT,
            Facts(has_department=True, extension_pending=True),
            "already waiting",
        ),
        (S.HANDLING, A.APPROVE_EXTENSION, DEPARTMENT, Facts(extension_pending=True), "department side"),
        (S.CLOSED, A.SUPERVISE, SUPERVISOR, WITH_DEPT, "the case is closed"),
        (S.HANDLING, A.SUPERVISE, SUPERVISOR, Facts(supervised=True), "already supervised"),
        (S.MERGED, A.REOPEN, HOTLINE, WITH_DEPT, "the case is merged"),
        (S.DISPATCHED, A.MERGE, HOTLINE, WITH_DEPT, "the case is dispatched"),
        (S.REPLIED, A.CLOSE, DEPARTMENT, WITH_DEPT, "department side"),
    ],
)
def test_given_an_action_out_of_turn_when_tried_then_it_is_refused_with_the_reason(
    status: CaseStatus, action: CaseAction, party: Party, facts: Facts, why: str
) -> None:
    reason = "" if why == "a reason is required" else "because"
    with pytest.raises(TransitionRefused) as refused:
        next_status(status, action, party=party, reason=reason, facts=facts)
    assert why in refused.value.reason
    assert refused.value.action is action


def test_given_a_reason_of_blanks_when_a_reason_is_needed_then_it_counts_as_none() -> None:
    with pytest.raises(TransitionRefused, match="reason is required"):
        next_status(S.DISPATCHED, A.RETURN, party=DEPARTMENT, reason="   ", facts=WITH_DEPT)


def test_given_flags_when_changed_then_the_status_stays() -> None:
    pending = Facts(has_department=True, extension_pending=True)
    assert (
        next_status(S.HANDLING, A.REQUEST_EXTENSION, party=DEPARTMENT, reason="parts", facts=WITH_DEPT)
        is S.HANDLING
    )
    assert next_status(S.HANDLING, A.APPROVE_EXTENSION, party=SUPERVISOR, facts=pending) is S.HANDLING
    assert (
        next_status(S.SIGNED, A.SUPERVISE, party=SUPERVISOR, reason="媒体关注", facts=WITH_DEPT) is S.SIGNED
    )


def test_given_each_party_when_asked_what_it_may_do_then_the_buttons_match_the_rules() -> None:
    assert actions_for(S.DISPATCHED, DEPARTMENT, WITH_DEPT) == [A.SIGN_FOR, A.RETURN]
    assert set(actions_for(S.HANDLING, DEPARTMENT, WITH_DEPT)) == {A.REPLY, A.REQUEST_EXTENSION}
    assert set(actions_for(S.REPLIED, HOTLINE, WITH_DEPT)) == {A.REJECT_REPLY, A.CLOSE}
    assert actions_for(S.EVALUATED, DEPARTMENT, WITH_DEPT) == []


def test_given_the_rules_then_closed_states_are_exactly_the_ones_no_department_works_in() -> None:
    assert {s for s in S if not s.is_open} == {S.CLOSED, S.EVALUATED, S.MERGED}
    assert {s for s in S if s.with_department} == {S.DISPATCHED, S.SIGNED, S.HANDLING}
    # Every action names at least one party and one source status.
    assert all(rule.parties and rule.sources for rule in RULES.values())
