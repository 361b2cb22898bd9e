"""The cases API: find, file, read, correct and move cases, link calls and files to them, and
look up duplicates and how similar cases were resolved. JSON; the case pages are frames over it.

Who sees what. The hotline's staff (agents, supervisors, duty leaders, administrators) see every
case; department staff see their departments' cases only (another's is "no such case", 404).
Callers' numbers are masked for department staff and duty leaders, and for agents unless
``agents.full_numbers_for_agents``; supervisors and administrators see them whole.

Who may do what. An action is taken as a side of the case (lifecycle.Party): department staff
take the department's actions, supervisors, duty leaders and administrators the supervisor's,
and agents, supervisors and administrators the hotline's. The lifecycle then says whether the
case allows it now; a case's ``actions`` are exactly the actions that would pass, for the user
asking. Every action and every refusal goes on the audit log; refusals are returned, not
raised, so that the audit row is committed while what the action had begun (in a savepoint) is
undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts import audit
from agents_ui.api_types import LOGIN_PROBLEMS, refuse_field
from agents_ui.case_views import (
    INVALID,
    NO_CASE,
    REFUSED_NOW,
    Anyone,
    CaseNumber,
    HotlineStaff,
    KnowledgeReader,
    Names,
    SiteSettings,
    audited,
    case_out,
    field_problem,
    load_case,
    problem,
    summary_fields,
    summary_of,
    viewer_of,
)
from agents_ui.deps import DbSession
from case_bridge import service
from case_bridge.deadlines import calendar_of
from case_bridge.lifecycle import (
    CaseStatus,
    Party,
    TransitionRefused,
)
from case_bridge.models import (
    CaseSource,
    Category,
    Department,
    Urgency,
)
from case_bridge.schemas import (
    CASE_NUMBER,
    CODE_OR_EMPTY,
    NO_CONTROLS,
    CandidateOut,
    CandidatesOut,
    CaseChangeIn,
    CaseOut,
    CasePageOut,
    CategoriesOut,
    CategoryOut,
    DepartmentsOut,
    Named,
    NewCaseIn,
    ResolvedListOut,
    ResolvedOut,
)
from case_bridge.search import CALLER_PATTERN, CaseFilters, FilterError, search_cases
from case_bridge.search import duplicate_candidates as find_duplicates
from case_bridge.search import similar_closed as find_similar_closed
from case_bridge.service import CaseInputError, NewCase
from case_bridge.timeline import Actor
from hotline.db import utcnow
from hotline.keyset import Cursor
from telephony.models import Call

router = APIRouter(tags=["cases"])


# ----- the list -----------------------------------------------------------------------------------
CursorText = Annotated[
    str, Query(pattern=r"^[0-9]{1,17}-[0-9]{1,10}$", description="next_cursor of the previous page")
]
DateText = Annotated[date, Query(description="A date in the site's time zone; both ends included")]
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


@router.get(
    "/api/cases",
    response_model=CasePageOut,
    summary="Cases, newest first, by words, number, caller, status, department, category, source, urgency, "
    "dates, overdue or supervised",
    description="The hotline's staff find every case; department staff only their departments'. Pages follow "
    "next_cursor (keyset: a page costs the same however deep). Words are phrases (each space-separated part "
    "one, every part required; Chinese characters need not be spaced); a caller number of 11 digits or more "
    "(or with +) is matched whole, 4 to 10 digits as its last digits.",
    responses={**LOGIN_PROBLEMS, **INVALID},
)
def list_cases(
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Anyone,
    words: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_CONTROLS)] = None,
    number: Annotated[str | None, Query(pattern=CASE_NUMBER)] = None,
    caller: Annotated[str | None, Query(pattern=CALLER_PATTERN.pattern)] = None,
    status_: Annotated[list[CaseStatus] | None, Query(alias="status", description="One or several")] = None,
    department: Annotated[str | None, Query(pattern=CODE_OR_EMPTY)] = None,
    category: Annotated[str | None, Query(pattern=CODE_OR_EMPTY, description="Its subcategories too")] = None,
    source: Annotated[CaseSource | None, Query()] = None,
    urgency: Annotated[Urgency | None, Query()] = None,
    created_from: DateText | None = None,
    created_to: DateText | None = None,
    overdue: Annotated[bool, Query(description="With the department past its deadline")] = False,
    supervised: Annotated[bool, Query(description="Pressed by a supervisor")] = False,
    cursor: CursorText | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePageOut:
    viewer = viewer_of(session, settings, user)
    for name, day in (("created_from", created_from), ("created_to", created_to)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            refuse_field(("query", name), f"a date from {FIRST_DAY} to {LAST_DAY}", day.isoformat())
    try:
        after = Cursor.decode(cursor) if cursor else None
    except ValueError as exc:
        refuse_field(("query", "cursor"), str(exc), cursor)
    filters = CaseFilters(
        words=words,
        number=number,
        caller=caller,
        statuses=tuple(s.value for s in status_ or ()),
        department=department or None,
        category=category or None,
        source=source.value if source else None,
        urgency=urgency.value if urgency else None,
        created_from=created_from,
        created_to=created_to,
        overdue_only=overdue,
        supervised_only=supervised,
        departments_visible=viewer.visible,
    )
    now = utcnow()
    try:
        page = search_cases(session, filters, after=after, limit=limit, zone=settings.site.zone, now=now)
    except FilterError as exc:
        refuse_field(("query", exc.field), exc.message, getattr(filters, exc.field, None))
    names = Names.read(session)
    return CasePageOut(
        cases=[summary_of(case, names, viewer, settings.site.zone, now) for case in page.cases],
        has_more=page.has_more,
        next_cursor=page.next_cursor.encode() if page.next_cursor else None,
    )


# ----- duplicates and knowledge (declared before /api/cases/{number}: their paths would match it)
@router.get(
    "/api/cases/candidates",
    response_model=CandidatesOut,
    summary="Cases a new one may repeat: open (or recently closed) ones from the same caller, at the same "
    "place, or of similar text; best first, at most 10",
    description="For the agent's form while the call is on: each candidate says why it was picked. The "
    "window for recently closed cases and for similar text is cases.duplicate_window_days.",
    responses={**LOGIN_PROBLEMS, **INVALID},
)
def duplicate_candidates(
    session: DbSession,
    settings: SiteSettings,
    user: HotlineStaff,
    caller: Annotated[str, Query(max_length=32, pattern=NO_CONTROLS)] = "",
    street: Annotated[str, Query(max_length=64, pattern=NO_CONTROLS)] = "",
    grid_cell: Annotated[str, Query(max_length=32, pattern=NO_CONTROLS)] = "",
    address: Annotated[str, Query(max_length=256, pattern=NO_CONTROLS)] = "",
    text: Annotated[str, Query(max_length=500, pattern=NO_CONTROLS)] = "",
    exclude: Annotated[str, Query(pattern=r"^([0-9]{13,14})?$", description="The case being filed")] = "",
) -> CandidatesOut:
    viewer = viewer_of(session, settings, user)
    now = utcnow()
    found = find_duplicates(
        session,
        caller_number=caller,
        street=street,
        grid_cell=grid_cell,
        address=address,
        text=text,
        exclude_number=exclude,
        now=now,
        window_days=settings.cases.duplicate_window_days,
    )
    names = Names.read(session)
    zone = settings.site.zone
    return CandidatesOut(
        candidates=[
            CandidateOut(
                **summary_fields(d.case, names, viewer, zone, now),
                reasons=list(d.reasons),
                similarity=d.similarity,
            )
            for d in found
        ]
    )


@router.get(
    "/api/cases/similar",
    response_model=ResolvedListOut,
    summary="Closed cases like a text (its category's first): how they were resolved, by which department, "
    "in how long",
    responses={**LOGIN_PROBLEMS, **INVALID},
)
def similar_cases(
    session: DbSession,
    settings: SiteSettings,
    user: KnowledgeReader,
    text: Annotated[str, Query(min_length=1, max_length=500, pattern=NO_CONTROLS)],
    category: Annotated[str, Query(pattern=CODE_OR_EMPTY)] = "",
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> ResolvedListOut:
    viewer = viewer_of(session, settings, user)
    zone = settings.site.zone
    try:
        found = find_similar_closed(
            session,
            text=text,
            category_code=category or None,
            limit=limit,
            zone=zone,
            calendar=calendar_of(settings.cases),
        )
    except FilterError as exc:
        refuse_field(("query", exc.field), exc.message, category)
    names = Names.read(session)
    now = utcnow()
    return ResolvedListOut(
        cases=[
            ResolvedOut(
                **summary_fields(r.case, names, viewer, zone, now),
                reply_text=r.case.reply_text,
                similarity=r.similarity,
                same_category=r.same_category,
                hours=r.hours,
                working_days=r.working_days,
            )
            for r in found
        ]
    )


# ----- filing a case ------------------------------------------------------------------------------
@router.post(
    "/api/cases",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    summary="File a case (routed to its department and dispatched unless told otherwise)",
    description="With an Idempotency-Key, a retry (the same key again) answers the case the first request "
    "made, with 200 instead of 201, and files nothing more.",
    responses={
        200: {"model": CaseOut, "description": "The case an earlier request with this Idempotency-Key filed"},
        **LOGIN_PROBLEMS,
        **INVALID,
    },
)
def file_case(
    body: NewCaseIn,
    request: Request,
    response: Response,
    session: DbSession,
    settings: SiteSettings,
    user: HotlineStaff,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", pattern=r"^[!-~]{1,128}$", description="The client's key for this case"
        ),
    ] = None,
) -> CaseOut | JSONResponse:
    viewer = viewer_of(session, settings, user)
    new = NewCase(
        source=CaseSource.PHONE if body.calls else CaseSource.WEB,
        content=body.content,
        title=body.title,
        category_code=body.category,
        urgency=body.urgency.value if body.urgency else settings.cases.default_urgency,
        # The console may only show the agent a masked number: the call row has the real one.
        caller_number=body.caller_number or _caller_of(session, body.calls),
        caller_name=body.caller_name,
        caller_email=body.caller_email,
        address=body.address,
        street=body.street,
        grid_cell=body.grid_cell,
        lat=body.lat,
        lon=body.long,
        department_code=body.department,
        call_uniqueids=list(body.calls),
        idempotency_key=idempotency_key,
    )
    try:
        with session.begin_nested():
            case, made = service.create_case(
                session,
                new,
                actor=Actor(user.username, Party.HOTLINE),
                settings=settings,
                dispatch=body.dispatch,
                intake_only=body.intake_only,
            )
    except CaseInputError as exc:
        audited(session, request, user, "case.create", "case", audit.Outcome.INVALID, str(exc))
        return field_problem(exc)
    if made:
        audited(session, request, user, "case.create", f"case:{case.number}", audit.Outcome.OK, case.status)
    else:
        response.status_code = status.HTTP_200_OK
    return case_out(session, case, viewer, settings)


def _caller_of(session: Session, calls: Sequence[str]) -> str:
    for uniqueid in calls:
        number = session.scalar(select(Call.caller_number).where(Call.uniqueid == uniqueid))
        if number:
            return number
    return ""


# ----- one case -----------------------------------------------------------------------------------
@router.get(
    "/api/cases/{number}",
    response_model=CaseOut,
    summary="A case: its facts, deadlines, flags, timeline, calls (recordings, transcripts, key phrases), "
    "attachments, and the actions you may take now",
    responses={**LOGIN_PROBLEMS, **NO_CASE, **INVALID},
)
def read_case(
    number: CaseNumber, session: DbSession, settings: SiteSettings, user: Anyone
) -> CaseOut | JSONResponse:
    viewer = viewer_of(session, settings, user)
    case = load_case(session, number)
    if case is None or not viewer.may_see(case):
        return problem(404, f"no case {number}")
    return case_out(session, case, viewer, settings)


@router.patch(
    "/api/cases/{number}",
    response_model=CaseOut,
    summary="Correct a case's details while it is with the hotline (intake, filed, returned)",
    responses={**LOGIN_PROBLEMS, **NO_CASE, **REFUSED_NOW, **INVALID},
)
def change_case(
    number: CaseNumber,
    body: CaseChangeIn,
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: HotlineStaff,
) -> CaseOut | JSONResponse:
    viewer = viewer_of(session, settings, user)
    case = load_case(session, number)
    target = f"case:{number}"
    if case is None:
        return problem(404, f"no case {number}")
    changes = body.model_dump(exclude_unset=True)
    try:
        with session.begin_nested():
            service.update_details(
                session,
                case,
                actor=Actor(user.username, Party.HOTLINE),
                settings=settings,
                category_code=changes.get("category"),
                title=changes.get("title"),
                content=changes.get("content"),
                address=changes.get("address"),
                street=changes.get("street"),
                grid_cell=changes.get("grid_cell"),
                urgency=changes["urgency"].value if changes.get("urgency") else None,
            )
    except TransitionRefused as exc:
        audited(session, request, user, "case.edit", target, audit.Outcome.REFUSED, exc.reason)
        return JSONResponse({"detail": exc.reason, "action": "edit"}, status_code=409)
    except CaseInputError as exc:
        audited(session, request, user, "case.edit", target, audit.Outcome.INVALID, str(exc))
        return field_problem(exc)
    audited(session, request, user, "case.edit", target, audit.Outcome.OK, ", ".join(sorted(changes)))
    return case_out(session, case, viewer, settings)


# ----- the catalogue, as the forms need it --------------------------------------------------------
@router.get(
    "/api/case-categories",
    response_model=CategoriesOut,
    summary="The category tree (active categories, in order), with time limits and default departments",
    responses=LOGIN_PROBLEMS,
)
def case_categories(session: DbSession, user: Anyone) -> CategoriesOut:
    rows = list(
        session.scalars(
            select(Category).where(Category.active.is_(True)).order_by(Category.position, Category.id)
        )
    )
    codes = {c.id: c.code for c in rows}
    departments = {row.id: row.code for row in session.execute(select(Department.id, Department.code))}
    parents = {c.parent_id for c in rows if c.parent_id is not None}
    return CategoriesOut(
        categories=[
            CategoryOut(
                code=c.code,
                name=c.name,
                name_en=c.name_en,
                parent=codes.get(c.parent_id) if c.parent_id else None,
                kind=c.kind,
                description=c.description,
                leaf=c.id not in parents,
                limit_days=c.limit_days,
                urgent_hours=c.urgent_hours,
                default_department=departments.get(c.default_department_id or 0),
                open311=c.open311,
            )
            for c in rows
        ]
    )


@router.get(
    "/api/departments",
    response_model=DepartmentsOut,
    summary="The departments cases are dispatched to (active ones)",
    responses=LOGIN_PROBLEMS,
)
def departments(session: DbSession, user: Anyone) -> DepartmentsOut:
    rows = session.scalars(select(Department).where(Department.active.is_(True)).order_by(Department.code))
    return DepartmentsOut(departments=[Named(code=d.code, name=d.name, name_en=d.name_en) for d in rows])
