"""How the cases API sees a case for the user asking: who they are to it (their side, what they
may do now, which numbers they may see), how a case and its calls read, and how refusals are
answered and audited. Shared by the cases routes (``cases_api``, ``case_actions_api``,
``case_files_api``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts import audit
from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import EVERY_ROLE, CurrentUser, client_ip, require
from agents_ui.api_types import Problem
from agents_ui.deps import get_settings
from case_bridge import service
from case_bridge.departments import departments_of
from case_bridge.lifecycle import (
    RULES,
    CaseAction,
    CaseStatus,
    Facts,
    Party,
    actions_for,
)
from case_bridge.models import (
    Case,
    CaseAttachment,
    CaseCall,
    CaseEvent,
    Category,
    Department,
)
from case_bridge.schemas import (
    CASE_NUMBER,
    AttachmentOut,
    CallOut,
    CaseOut,
    CaseSummary,
    EventOut,
    LocalTimes,
    Named,
    PhraseOut,
    RecordingBrief,
    Refusal,
    TranscriptOut,
)
from case_bridge.service import CaseInputError, CaseNotFound
from case_bridge.timeline import Actor
from hotline.db import utcnow
from hotline.logs import mask_number
from hotline.settings import Settings
from recording.models import KeyPhraseHit, Recording, RecordingKind, Transcript
from telephony.models import Call

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
