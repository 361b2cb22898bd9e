"""Moving a case: the lifecycle's actions as the user's side takes them, and linking a call to a
case. Refusals are answered and audited (``case_views``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents_ui.accounts import audit
from agents_ui.api_types import LOGIN_PROBLEMS, Problem
from agents_ui.case_views import (
    INVALID,
    NO_CASE,
    REFUSED_NOW,
    Anyone,
    CaseNumber,
    HotlineStaff,
    SiteSettings,
    actor_for,
    audited,
    case_out,
    facts_of,
    field_problem,
    load_case,
    party_for,
    problem,
    viewer_of,
)
from agents_ui.deps import DbSession
from case_bridge import catalogue, service
from case_bridge.lifecycle import (
    CaseAction,
    CaseStatus,
    Party,
    TransitionRefused,
    next_status,
)
from case_bridge.models import (
    Case,
    CaseAttachment,
    CaseEvent,
    Category,
)
from case_bridge.schemas import (
    ActionIn,
    CaseOut,
    LinkCallIn,
)
from case_bridge.service import CaseInputError, NotYourCase
from case_bridge.timeline import Actor
from hotline.settings import Settings

router = APIRouter(tags=["cases"])


# ----- actions ------------------------------------------------------------------------------------
@router.post(
    "/api/cases/{number}/actions/{action}",
    response_model=CaseOut,
    summary="Take an action on a case (dispatch, sign for, reply, return, extend, close, evaluate, reopen, "
    "merge, supervise, …); the case as it is after it",
    description="The case's `actions` list the ones you may take now. Each reads the body fields it needs: "
    "dispatch/redispatch `department` (empty: routed; redispatch also `reason`), reply `text` (and "
    "`attachments` uploaded before), resolve_on_call `text`, return/reject_reply/reopen/supervise/"
    "refuse_extension `reason`, request_extension `days` and `reason`, evaluate `satisfaction`, merge "
    "`into`. On the audit log, refusals included.",
    responses={
        **LOGIN_PROBLEMS,
        403: {"model": Problem, "description": "Not your side's action, or not your department's case"},
        **NO_CASE,
        **REFUSED_NOW,
        **INVALID,
    },
)
def take_action(
    number: CaseNumber,
    action: Annotated[CaseAction, Path(description="One of the case's `actions`")],
    body: ActionIn,
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Anyone,
) -> CaseOut | JSONResponse:
    viewer = viewer_of(session, settings, user)
    audit_action, target = f"case.{action.value}", f"case:{number}"
    case = load_case(session, number)
    if case is None:
        audited(session, request, user, audit_action, target, audit.Outcome.REFUSED, "no such case")
        return problem(404, f"no case {number}")
    party = party_for(user, action)
    if party is None:
        why = f"your role may not {action.value.replace('_', ' ')} cases"
        audited(session, request, user, audit_action, target, audit.Outcome.REFUSED, why)
        return problem(403, why)
    if party is not Party.DEPARTMENT and not viewer.may_see(case):
        audited(session, request, user, audit_action, target, audit.Outcome.REFUSED, "not visible")
        return problem(404, f"no case {number}")
    try:
        with session.begin_nested():
            carried = attachments_carried(session, case, body.attachments)
            perform(session, case, action, body, actor=actor_for(viewer, party), settings=settings)
            if carried:
                # The files go with the timeline line the action just wrote (the reply's photos).
                last = session.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.case_id == case.id))
                for attachment in carried:
                    attachment.event_id = last
    except TransitionRefused as exc:
        audited(session, request, user, audit_action, target, audit.Outcome.REFUSED, exc.reason)
        return JSONResponse({"detail": exc.reason, "action": exc.action.value}, status_code=409)
    except NotYourCase as exc:
        audited(session, request, user, audit_action, target, audit.Outcome.REFUSED, str(exc))
        return problem(403, str(exc))
    except CaseInputError as exc:
        audited(session, request, user, audit_action, target, audit.Outcome.INVALID, str(exc))
        return field_problem(exc)
    audited(session, request, user, audit_action, target, audit.Outcome.OK, what_was_given(action, body))
    return case_out(session, case, viewer, settings)


def attachments_carried(session: Session, case: Case, ids: list[int]) -> list[CaseAttachment]:
    if not ids:
        return []
    found = list(
        session.scalars(
            select(CaseAttachment).where(CaseAttachment.case_id == case.id, CaseAttachment.id.in_(ids))
        )
    )
    if len(found) != len(set(ids)):
        raise CaseInputError("attachments: only this case's uploads can go with its actions")
    return found


def what_was_given(action: CaseAction, body: ActionIn) -> str:
    """The audit row's detail: the action's own inputs, short."""
    given = {
        "department": body.department,
        "days": body.days,
        "satisfaction": body.satisfaction.value if body.satisfaction else None,
        "into": body.into,
        "reason": body.reason[:200],
    }
    return "; ".join(f"{key}={value}" for key, value in given.items() if value)


def perform(
    session: Session, case: Case, action: CaseAction, body: ActionIn, *, actor: Actor, settings: Settings
) -> None:
    """The service's use case for ``action``, with what the body gives it."""
    reason = body.reason
    if action in (CaseAction.DISPATCH, CaseAction.REDISPATCH):
        dispatch(session, case, action, body, actor=actor, settings=settings)
    elif action is CaseAction.FILE:
        service.transition(session, case, CaseAction.FILE, actor=actor, settings=settings)
    elif action is CaseAction.SIGN_FOR:
        service.sign_for(session, case, actor=actor, settings=settings)
    elif action is CaseAction.START_HANDLING:
        service.start_handling(session, case, actor=actor, settings=settings)
    elif action is CaseAction.REPLY:
        service.reply(session, case, body.text, actor=actor, settings=settings)
    elif action is CaseAction.RETURN:
        service.return_case(session, case, reason, actor=actor, settings=settings)
    elif action is CaseAction.REQUEST_EXTENSION:
        if body.days is None:
            raise CaseInputError(f"days: 1 to {service.MAX_EXTENSION_DAYS} working days")
        service.request_extension(session, case, body.days, reason, actor=actor, settings=settings)
    elif action in (CaseAction.APPROVE_EXTENSION, CaseAction.REFUSE_EXTENSION):
        approve = action is CaseAction.APPROVE_EXTENSION
        if body.approve is not None and body.approve is not approve:
            raise CaseInputError(
                f"approve: {action.value} {'approves' if approve else 'refuses'}; it says otherwise"
            )
        service.decide_extension(
            session, case, approve=approve, actor=actor, settings=settings, reason=reason
        )
    elif action is CaseAction.REJECT_REPLY:
        service.reject_reply(session, case, reason, actor=actor, settings=settings)
    elif action is CaseAction.CLOSE:
        service.close_case(session, case, actor=actor, settings=settings, note=reason)
    elif action is CaseAction.RESOLVE_ON_CALL:
        service.resolve_on_call(session, case, body.text, actor=actor, settings=settings)
    elif action is CaseAction.EVALUATE:
        verdict = body.satisfaction.value if body.satisfaction else ""
        service.evaluate(session, case, verdict, actor=actor, settings=settings, note=reason)
    elif action is CaseAction.REOPEN:
        service.reopen(session, case, reason, actor=actor, settings=settings)
    elif action is CaseAction.MERGE:
        if not body.into:
            raise CaseInputError("into: the number of the case this one repeats")
        into = load_case(session, body.into)
        if into is None:
            raise CaseInputError(f"into: no case {body.into}")
        service.merge_duplicate(session, case, into, actor=actor, settings=settings)
    elif action is CaseAction.SUPERVISE:
        service.supervise(session, case, reason, actor=actor, settings=settings)
    elif action is CaseAction.END_SUPERVISION:
        service.end_supervision(session, case, actor=actor, settings=settings, reason=reason)


def dispatch(
    session: Session, case: Case, action: CaseAction, body: ActionIn, *, actor: Actor, settings: Settings
) -> None:
    """Dispatch (or redispatch) to the department named, or to where routing sends the case.

    The lifecycle is asked first for the action named in the path: "dispatch" of a case already
    with a department is refused (redispatch it), and the other way round."""
    facts = replace(facts_of(case), has_department=True)
    next_status(CaseStatus(case.status), action, party=actor.party, reason=body.reason, facts=facts)
    if body.department:
        department = catalogue.department_by_code(session, body.department)
        if department is None:
            raise CaseInputError(f"department: no department {body.department}")
    else:
        category = session.get(Category, case.category_id) if case.category_id else None
        department = catalogue.route(session, category, street=case.street, grid_cell=case.grid_cell)
        if department is None:
            raise CaseInputError("department: nothing routes this case; choose the department")
    service.dispatch_case(session, case, department, actor=actor, settings=settings, reason=body.reason)


# ----- calls and files ----------------------------------------------------------------------------
@router.post(
    "/api/cases/{number}/calls",
    response_model=CaseOut,
    summary="Link a call to the case (a repeat call about it); its recording and transcript come with it",
    responses={**LOGIN_PROBLEMS, **NO_CASE, **INVALID},
)
def link_call(
    number: CaseNumber,
    body: LinkCallIn,
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: HotlineStaff,
) -> CaseOut | JSONResponse:
    viewer = viewer_of(session, settings, user)
    case = load_case(session, number)
    if case is None:
        return problem(404, f"no case {number}")
    try:
        with session.begin_nested():
            service.link_repeat_call(
                session, case, body.uniqueid, actor=Actor(user.username, Party.HOTLINE), settings=settings
            )
    except CaseInputError as exc:
        audited(session, request, user, "case.link_call", f"case:{number}", audit.Outcome.INVALID, str(exc))
        return field_problem(exc)
    audited(session, request, user, "case.link_call", f"case:{number}", audit.Outcome.OK, body.uniqueid)
    return case_out(session, case, viewer, settings)
