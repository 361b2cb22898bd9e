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

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents_ui.accounts import audit
from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import EVERY_ROLE, CurrentUser, client_ip, require
from agents_ui.api_types import LOGIN_PROBLEMS, Problem, refuse_field
from agents_ui.deps import DbSession, get_settings
from case_bridge import catalogue, service
from case_bridge.deadlines import calendar_of
from case_bridge.departments import departments_of
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
from case_bridge.models import (
    Case,
    CaseAttachment,
    CaseCall,
    CaseEvent,
    CaseSource,
    Category,
    Department,
    Urgency,
)
from case_bridge.schemas import (
    CASE_NUMBER,
    CODE_OR_EMPTY,
    NO_CONTROLS,
    ActionIn,
    AttachmentOut,
    CallOut,
    CandidateOut,
    CandidatesOut,
    CaseChangeIn,
    CaseOut,
    CasePageOut,
    CaseSummary,
    CategoriesOut,
    CategoryOut,
    DepartmentsOut,
    EventOut,
    LinkCallIn,
    LocalTimes,
    Named,
    NewCaseIn,
    PhraseOut,
    RecordingBrief,
    Refusal,
    ResolvedListOut,
    ResolvedOut,
    TranscriptOut,
)
from case_bridge.search import CALLER_PATTERN, CaseFilters, Cursor, FilterError, search_cases
from case_bridge.search import duplicate_candidates as find_duplicates
from case_bridge.search import similar_closed as find_similar_closed
from case_bridge.service import CaseInputError, CaseNotFound, NewCase, NotYourCase
from case_bridge.timeline import Actor
from hotline.db import utcnow
from hotline.logs import mask_number
from hotline.settings import Settings
from recording.models import KeyPhraseHit, Recording, RecordingKind, Transcript
from telephony.models import Call

router = APIRouter(tags=["cases"])

# ----- who ----------------------------------------------------------------------------------------
HOTLINE_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMINISTRATOR)  # file cases, take the hotline's side
SUPERVISING = (Role.SUPERVISOR, Role.ADMINISTRATOR, Role.DUTY_LEADER)  # take the supervisor's side
SEE_EVERY_CASE = (Role.AGENT, Role.SUPERVISOR, Role.ADMINISTRATOR, Role.DUTY_LEADER)
KNOWLEDGE = SEE_EVERY_CASE  # similar cases resolved before: whoever answers or decides
FULL_NUMBERS = (Role.SUPERVISOR, Role.ADMINISTRATOR)

Anyone = Annotated[CurrentUser, Depends(require(*EVERY_ROLE))]
HotlineStaff = Annotated[CurrentUser, Depends(require(*HOTLINE_ROLES))]
KnowledgeReader = Annotated[CurrentUser, Depends(require(*KNOWLEDGE))]
SiteSettings = Annotated[Settings, Depends(get_settings)]
CaseNumber = Annotated[str, Path(pattern=CASE_NUMBER, description="The case's number (date and count)")]

MAX_ATTACHMENT = 10 * 1024 * 1024
# What may be attached: photos, PDF, plain text, and office documents; served back only as
# downloads (Content-Disposition: attachment, nosniff), never shown inline.
ATTACHMENT_TYPES = {
    "image/jpeg": "photo (JPEG)",
    "image/png": "photo (PNG)",
    "image/gif": "image (GIF)",
    "image/webp": "photo (WebP)",
    "application/pdf": "PDF",
    "text/plain": "text",
    "text/csv": "table (CSV)",
    "application/msword": "Word (.doc)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (.docx)",
    "application/vnd.ms-excel": "Excel (.xls)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (.xlsx)",
    "application/vnd.ms-powerpoint": "PowerPoint (.ppt)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint (.pptx)",
}
# How each kind's files begin: a file that claims a kind it is not is refused.
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
    "application/msword": (b"\xd0\xcf\x11\xe0",),
    "application/vnd.ms-excel": (b"\xd0\xcf\x11\xe0",),
    "application/vnd.ms-powerpoint": (b"\xd0\xcf\x11\xe0",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (b"PK\x03\x04",),
}
FILENAME = r"^[^\x00-\x1f\x7f/\\]{1,200}$"


@dataclass(frozen=True)
class Viewer:
    """The user asking, as the cases see them: whose cases, which numbers whole."""

    user: CurrentUser
    departments: frozenset[int]  # the departments they serve (department staff)
    sees_every_case: bool
    full_numbers: bool

    @property
    def visible(self) -> frozenset[int] | None:
        """The departments whose cases they may see; None for every case."""
        return None if self.sees_every_case else self.departments

    def may_see(self, case: Case) -> bool:
        return self.sees_every_case or case.department_id in self.departments

    def number(self, number: str) -> str:
        return number if self.full_numbers else mask_number(number)


def viewer_of(session: Session, settings: Settings, user: CurrentUser) -> Viewer:
    serves = (
        frozenset(d.id for d in departments_of(session, user.id))
        if user.has_any((Role.DEPARTMENT_STAFF,))
        else frozenset()
    )
    full = user.has_any(FULL_NUMBERS) or (
        user.has_any((Role.AGENT,)) and settings.agents.full_numbers_for_agents
    )
    return Viewer(user, serves, user.has_any(SEE_EVERY_CASE), full)


def party_for(user: CurrentUser, action: CaseAction) -> Party | None:
    """The side ``user`` takes ``action`` as; None when no role of theirs may take it at all."""
    parties = RULES[action].parties
    if Party.DEPARTMENT in parties and user.has_any((Role.DEPARTMENT_STAFF,)):
        return Party.DEPARTMENT
    if Party.SUPERVISOR in parties and Party.HOTLINE not in parties and user.has_any(SUPERVISING):
        return Party.SUPERVISOR
    if Party.HOTLINE in parties and user.has_any(HOTLINE_ROLES):
        return Party.HOTLINE
    return None


def actor_for(viewer: Viewer, party: Party) -> Actor:
    return Actor(
        viewer.user.username, party, viewer.departments if party is Party.DEPARTMENT else frozenset()
    )


def facts_of(case: Case) -> Facts:
    return Facts(
        has_department=case.department_id is not None,
        extension_pending=case.extension_days > 0,
        supervised=case.supervised,
    )


def actions_now(case: Case, viewer: Viewer) -> list[CaseAction]:
    """The actions ``viewer`` may take on ``case`` now: lifecycle.actions_for with their side for
    each action. Dispatching names its department in the request, so it is offered whether or not
    the case has one yet."""
    status_now = CaseStatus(case.status)
    facts = facts_of(case)
    offered = set()
    for party in {party_for(viewer.user, action) for action in CaseAction} - {None}:
        assert party is not None
        if party is Party.DEPARTMENT and case.department_id not in viewer.departments:
            continue
        possible = set(actions_for(status_now, party, facts))
        possible |= set(actions_for(status_now, party, replace(facts, has_department=True))) & {
            CaseAction.DISPATCH,
            CaseAction.REDISPATCH,
        }
        offered |= {action for action in possible if party_for(viewer.user, action) is party}
    return [action for action in CaseAction if action in offered]


# ----- how a case reads ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Names:
    """The catalogue's names, read once per request (a few dozen rows)."""

    categories: dict[int, Named]
    departments: dict[int, Named]

    @classmethod
    def read(cls, session: Session) -> Names:
        def named(row: Any) -> Named:
            return Named(code=row.code, name=row.name, name_en=row.name_en)

        categories = session.execute(select(Category.id, Category.code, Category.name, Category.name_en))
        departments = session.execute(
            select(Department.id, Department.code, Department.name, Department.name_en)
        )
        return cls({r.id: named(r) for r in categories}, {r.id: named(r) for r in departments})


def local_text(moment: datetime | None, zone: tzinfo) -> str | None:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment is not None else None


def is_overdue(case: Case, now: datetime) -> bool:
    return CaseStatus(case.status).with_department and case.due_at is not None and case.due_at < now


LOCAL_TIMES = tuple(LocalTimes.model_fields)


def summary_fields(case: Case, names: Names, viewer: Viewer, zone: tzinfo, now: datetime) -> dict[str, Any]:
    return {
        "number": case.number,
        "title": case.title,
        "status": case.status,
        "source": case.source,
        "urgency": case.urgency,
        "category": names.categories.get(case.category_id) if case.category_id else None,
        "department": names.departments.get(case.department_id) if case.department_id else None,
        "caller_number": viewer.number(case.caller_number),
        "caller_masked": not viewer.full_numbers and bool(case.caller_number),
        "street": case.street,
        "grid_cell": case.grid_cell,
        "address": case.address,
        "created_at": case.created_at,
        "dispatched_at": case.dispatched_at,
        "sign_due_at": case.sign_due_at,
        "signed_at": case.signed_at,
        "due_at": case.due_at,
        "replied_at": case.replied_at,
        "closed_at": case.closed_at,
        "overdue": is_overdue(case, now),
        "supervised": case.supervised,
        "extension_pending": case.extension_days > 0,
        "extension_days": case.extension_days,
        "local": LocalTimes(**{name: local_text(getattr(case, name), zone) for name in LOCAL_TIMES}),
    }


def summary_of(case: Case, names: Names, viewer: Viewer, zone: tzinfo, now: datetime) -> CaseSummary:
    return CaseSummary(**summary_fields(case, names, viewer, zone, now))


def case_out(session: Session, case: Case, viewer: Viewer, settings: Settings) -> CaseOut:
    zone = settings.site.zone
    names = Names.read(session)
    merged_into = session.get(Case, case.merged_into_id) if case.merged_into_id else None
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
    )
    return CaseOut(
        **summary_fields(case, names, viewer, zone, utcnow()),
        content=case.content,
        caller_name=case.caller_name,
        caller_email=case.caller_email,
        lat=case.lat,
        long=case.lon,
        created_by=case.created_by,
        warn_at=case.warn_at,
        reply_text=case.reply_text,
        satisfaction=case.satisfaction,
        evaluation_note=case.evaluation_note,
        supervision_reason=case.supervision_reason,
        extension_reason=case.extension_reason,
        extensions_granted=case.extensions_granted,
        returns=case.returns,
        reopens=case.reopens,
        merged_into=merged_into.number if merged_into is not None else None,
        external_ref=case.external_ref,
        calendar_guessed=case.calendar_guessed,
        zone=settings.site.timezone,
        timeline=[
            EventOut(
                id=e.id,
                at=e.at,
                at_local=local_text(e.at, zone) or "",
                actor=e.actor,
                party=e.party,
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                note=e.note,
                data=dict(e.data or {}),
            )
            for e in events
        ],
        calls=calls_of(session, case, viewer),
        attachments=[attachment_out(case, a) for a in attachments_of(session, case)],
        actions=actions_now(case, viewer),
    )


def calls_of(session: Session, case: Case, viewer: Viewer) -> list[CallOut]:
    """The calls linked to the case, oldest first, each with its recordings, transcript and key
    phrases (found by the call's uniqueid)."""
    links = list(session.scalars(select(CaseCall).where(CaseCall.case_id == case.id).order_by(CaseCall.id)))
    if not links:
        return []
    uniqueids = [link.call_uniqueid for link in links]
    calls = {c.uniqueid: c for c in session.scalars(select(Call).where(Call.uniqueid.in_(uniqueids)))}
    recordings: dict[str, list[Recording]] = {}
    for recording in session.scalars(
        select(Recording).where(Recording.call_uniqueid.in_(uniqueids)).order_by(Recording.id)
    ):
        recordings.setdefault(recording.call_uniqueid, []).append(recording)
    transcripts: dict[str, Transcript] = {}
    for transcript in session.scalars(
        select(Transcript).where(Transcript.call_uniqueid.in_(uniqueids)).order_by(Transcript.id)
    ):
        transcripts.setdefault(transcript.call_uniqueid, transcript)
    phrases: dict[str, list[KeyPhraseHit]] = {}
    for hit in session.scalars(
        select(KeyPhraseHit).where(KeyPhraseHit.call_uniqueid.in_(uniqueids)).order_by(KeyPhraseHit.start_ms)
    ):
        phrases.setdefault(hit.call_uniqueid, []).append(hit)
    out = []
    for link in links:
        call = calls.get(link.call_uniqueid)
        found = recordings.get(link.call_uniqueid, [])
        briefs = [
            RecordingBrief(
                id=r.id, kind=r.kind, status=r.status, duration_ms=r.duration_ms, asr_status=r.asr_status
            )
            for r in found
        ]
        # The call's own recording first; a voicemail when the call left only that.
        main = next((b for b in briefs if b.kind == RecordingKind.CALL), briefs[0] if briefs else None)
        said = transcripts.get(link.call_uniqueid)
        out.append(
            CallOut(
                uniqueid=link.call_uniqueid,
                linked_at=link.linked_at,
                linked_by=link.linked_by,
                started_at=call.started_at if call else None,
                ended_at=call.ended_at if call else None,
                caller=viewer.number(call.caller_number) if call else "",
                agent=call.agent if call else "",
                queue=call.queue if call else "",
                recording=main,
                recordings=briefs,
                transcript=(
                    TranscriptOut(engine=said.engine, created_at=said.created_at, text=said.text)
                    if said
                    else None
                ),
                key_phrases=[
                    PhraseOut(
                        phrase=h.phrase,
                        category=h.category,
                        urgent=h.urgent,
                        speaker=h.speaker,
                        start_ms=h.start_ms,
                    )
                    for h in phrases.get(link.call_uniqueid, [])
                ],
            )
        )
    return out


def transcript_out(said: Transcript | None) -> TranscriptOut | None:
    if said is None:
        return None
    return TranscriptOut(engine=said.engine, created_at=said.created_at, text=said.text)


def phrase_out(hit: KeyPhraseHit) -> PhraseOut:
    return PhraseOut(
        phrase=hit.phrase,
        category=hit.category,
        urgent=hit.urgent,
        speaker=hit.speaker,
        start_ms=hit.start_ms,
    )


def attachments_of(session: Session, case: Case) -> list[CaseAttachment]:
    return list(
        session.scalars(
            select(CaseAttachment).where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.id)
        )
    )


def attachment_out(case: Case, attachment: CaseAttachment) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        sha256=attachment.sha256,
        uploaded_by=attachment.uploaded_by,
        uploaded_at=attachment.uploaded_at,
        event_id=attachment.event_id,
        url=f"/api/cases/{case.number}/attachments/{attachment.id}",
    )


# ----- refusals and the audit log -----------------------------------------------------------------
def audited(
    session: Session,
    request: Request,
    user: CurrentUser,
    action: str,
    target: str,
    outcome: audit.Outcome,
    detail: str = "",
) -> None:
    audit.record(
        session,
        actor=user.username,
        action=action,
        target=target,
        source_ip=client_ip(request),
        outcome=outcome,
        detail=detail,
    )


# Service messages name their field first ("days: 1 to 30 working days"); some name it by the
# service's word for what the body calls otherwise.
_BODY_FIELD = {"answer": "text", "reply": "text", "note": "reason", "long": "long", "idempotency key": None}


def field_problem(exc: CaseInputError, where: str = "body") -> JSONResponse:
    """422 in FastAPI's own shape, ``loc`` naming the field the service refused."""
    message = str(exc)
    name, _, _rest = message.partition(":")
    field = _BODY_FIELD.get(name, name) if re.fullmatch(r"[a-z_ ]{1,40}", name) else None
    location: list[str] = [where, field] if field else [where]
    if name == "idempotency key":
        location = ["header", "Idempotency-Key"]
    return JSONResponse(
        {"detail": [{"loc": location, "msg": message, "type": "value_error"}]}, status_code=422
    )


def problem(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


NO_CASE: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such case (or not one of your departments' cases)"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "A field is refused; `loc` names it (FastAPI's validation shape)"}
}
REFUSED_NOW: dict[int | str, dict[str, Any]] = {
    409: {"model": Refusal, "description": "The case's rules refuse it now; `detail` says why"}
}


def load_case(session: Session, number: str) -> Case | None:
    try:
        return service.get_case(session, number)
    except CaseNotFound:
        return None


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


async def upload_body(request: Request) -> bytes:
    """The request's raw body, read up to MAX_ATTACHMENT (and a byte more, to tell "too big")."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ATTACHMENT:
        return b"\0" * (MAX_ATTACHMENT + 1)  # refused unread: the size is known
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ATTACHMENT:
            break
    return b"".join(chunks)


UPLOAD_CONTENT = {kind: {"schema": {"type": "string", "format": "binary"}} for kind in ATTACHMENT_TYPES}


@router.post(
    "/api/cases/{number}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Attach a file to the case (a photo of the repair, a letter): the raw file as the body",
    description="Content-Type says what it is: photos (JPEG, PNG, GIF, WebP), PDF, text, CSV, Word, Excel, "
    "PowerPoint; at most 10 MB. Department staff attach to their departments' cases. The returned id goes "
    "in an action's `attachments` (a reply) to tie the file to that step.",
    openapi_extra={"requestBody": {"required": True, "content": UPLOAD_CONTENT}},
    responses={
        **LOGIN_PROBLEMS,
        **NO_CASE,
        413: {"model": Problem, "description": "Larger than 10 MB"},
        415: {"model": Problem, "description": "Not a kind of file cases take, or not what it says it is"},
        **INVALID,
    },
)
def attach_file(
    number: CaseNumber,
    filename: Annotated[str, Query(pattern=FILENAME, description="The file's name as the user has it")],
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Anyone,
    content: Annotated[bytes, Depends(upload_body)],
) -> AttachmentOut | JSONResponse:
    viewer = viewer_of(session, settings, user)
    target = f"case:{number}"
    case = load_case(session, number)
    if case is None or not viewer.may_see(case):
        return problem(404, f"no case {number}")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    refusal = upload_refusal(kind, content)
    if refusal is not None:
        audited(session, request, user, "case.attach", target, audit.Outcome.INVALID, refusal[1])
        return problem(*refusal)
    digest = hashlib.sha256(content).hexdigest()
    path = settings.state_dir / "attachments" / case.number / digest
    store(path, content)
    attachment = CaseAttachment(
        case_id=case.id,
        filename=filename.strip()[:200] or "file",
        content_type=kind,
        size_bytes=len(content),
        sha256=digest,
        path=str(path),
        uploaded_by=user.username,
        uploaded_at=utcnow(),
    )
    session.add(attachment)
    session.flush()
    audited(
        session,
        request,
        user,
        "case.attach",
        target,
        audit.Outcome.OK,
        f"{attachment.filename} {digest[:12]}",
    )
    return attachment_out(case, attachment)


def upload_refusal(kind: str, content: bytes) -> tuple[int, str] | None:
    if len(content) > MAX_ATTACHMENT:
        return 413, f"a file is at most {MAX_ATTACHMENT // (1024 * 1024)} MB"
    if kind not in ATTACHMENT_TYPES:
        return 415, f"cases take {', '.join(ATTACHMENT_TYPES.values())}; not {kind or 'an unnamed type'}"
    if not content:
        return 415, "the file is empty"
    starts = MAGIC.get(kind)
    if starts and not content.startswith(starts):
        return 415, f"the file is not a {ATTACHMENT_TYPES[kind]}"
    if kind == "image/webp" and content[8:12] != b"WEBP":
        return 415, f"the file is not a {ATTACHMENT_TYPES[kind]}"
    return None


def store(path: FilePath, content: bytes) -> None:
    """Written whole to a temporary file beside it, then renamed into place: a reader never sees
    half a file. The name is the content's hash, so the same file twice is kept once."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".upload.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(name, path)
    finally:
        FilePath(name).unlink(missing_ok=True)


@router.get(
    "/api/cases/{number}/attachments/{attachment_id}",
    response_class=FileResponse,
    summary="Download a file attached to the case",
    responses={
        200: {
            "description": "The file, as a download",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in ATTACHMENT_TYPES
            },
        },
        **LOGIN_PROBLEMS,
        404: {"model": Problem, "description": "No such case or file (or the file is gone)"},
        **INVALID,
    },
)
def download_file(
    number: CaseNumber,
    attachment_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: DbSession,
    settings: SiteSettings,
    user: Anyone,
) -> Response:
    viewer = viewer_of(session, settings, user)
    case = load_case(session, number)
    if case is None or not viewer.may_see(case):
        return problem(404, f"no case {number}")
    attachment = session.get(CaseAttachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        return problem(404, "no such file on this case")
    path = FilePath(attachment.path)
    if not path.is_file():
        return problem(404, "the file is missing from the attachments store")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII stand-in for old clients, the real name (路灯.jpg) in filename*."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
