"""Use cases on cases: file, dispatch, sign for, reply, return, extend, close, evaluate, reopen,
merge, supervise, link calls. Keyword-only, on a Session, never committing.

Each action runs the lifecycle's rules (``lifecycle.next_status``) and writes one timeline row
through ``timeline.record`` (which also queues the notifications it calls for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from case_bridge import catalogue, deadlines
from case_bridge.lifecycle import CaseAction, CaseStatus, Facts, Party, TransitionRefused, next_status
from case_bridge.models import Case, CaseCall, CaseSource, Category, Department, Satisfaction, Urgency
from case_bridge.numbers import next_case_number
from case_bridge.timeline import Actor, record
from hotline.db import utcnow
from hotline.settings import Settings
from hotline.text_tokens import search_text

MAX_CONTENT = 20_000
MAX_EXTENSION_DAYS = 30


class CaseInputError(ValueError):
    """What was given cannot make or change a case; the message names the field."""


class CaseNotFound(LookupError):
    pass


class NotYourCase(PermissionError):
    """A department user acting on another department's case."""


@dataclass
class NewCase:
    source: CaseSource
    content: str
    title: str = ""
    category_code: str = ""
    urgency: str = Urgency.NORMAL
    caller_number: str = ""
    caller_name: str = ""
    caller_email: str = ""
    address: str = ""
    street: str = ""
    grid_cell: str = ""
    lat: float | None = None
    lon: float | None = None
    department_code: str = ""  # empty: routed by category and place
    call_uniqueids: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    external_ref: str = ""


def _clean(text: str, limit: int, name: str) -> str:
    text = "".join(ch for ch in text if ch in "\n\t" or ch >= " ").strip()
    if len(text) > limit:
        raise CaseInputError(f"{name}: at most {limit} characters")
    return text


def _validate(new: NewCase) -> None:
    new.content = _clean(new.content, MAX_CONTENT, "content")
    new.title = _clean(new.title, 200, "title")
    if not new.content and not new.title:
        raise CaseInputError("content: say what the case is about")
    if new.urgency not in (Urgency.NORMAL, Urgency.URGENT):
        raise CaseInputError(f"urgency: one of {', '.join(u.value for u in Urgency)}")
    for name, limit in (
        ("caller_name", 64),
        ("caller_email", 128),
        ("address", 256),
        ("street", 64),
        ("grid_cell", 32),
    ):
        setattr(new, name, _clean(getattr(new, name), limit, name))
    new.caller_number = _clean(new.caller_number, 32, "caller_number")
    if new.lat is not None and not -90 <= new.lat <= 90:
        raise CaseInputError("lat: between -90 and 90")
    if new.lon is not None and not -180 <= new.lon <= 180:
        raise CaseInputError("long: between -180 and 180")
    if new.idempotency_key is not None and not 1 <= len(new.idempotency_key) <= 128:
        raise CaseInputError("idempotency key: 1 to 128 characters")


def _search_text(case: Case) -> str:
    return search_text(" ".join((case.title, case.content, case.address, case.street)))


def by_idempotency_key(session: Session, key: str) -> Case | None:
    return session.scalar(select(Case).where(Case.idempotency_key == key))


def get_case(session: Session, number: str) -> Case:
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None:
        raise CaseNotFound(number)
    return case


def create_case(
    session: Session,
    new: NewCase,
    *,
    actor: Actor,
    settings: Settings,
    dispatch: bool = True,
    intake_only: bool = False,
    now: datetime | None = None,
) -> tuple[Case, bool]:
    """File a case (and dispatch it when a department is known and ``dispatch``); returns the
    case and whether it was made now. A known ``idempotency_key`` returns the earlier case."""
    now = now or utcnow()
    if new.idempotency_key:
        earlier = by_idempotency_key(session, new.idempotency_key)
        if earlier is not None:
            return earlier, False
    _validate(new)
    category = None
    if new.category_code:
        category = catalogue.category_by_code(session, new.category_code)
        if category is None or not category.active:
            raise CaseInputError(f"category: unknown category {new.category_code}")
    department = None
    if new.department_code:
        department = catalogue.department_by_code(session, new.department_code)
        if department is None or not department.active:
            raise CaseInputError(f"department: unknown department {new.department_code}")
    case = Case(
        number=next_case_number(session, now, settings.site.zone),
        source=new.source.value,
        status=CaseStatus.INTAKE.value,
        category_id=category.id if category else None,
        urgency=str(new.urgency),
        title=new.title or new.content[:40],
        content=new.content,
        caller_number=new.caller_number,
        caller_name=new.caller_name,
        caller_email=new.caller_email,
        address=new.address,
        street=new.street,
        grid_cell=new.grid_cell,
        lat=new.lat,
        lon=new.lon,
        created_at=now,
        updated_at=now,
        created_by=actor.name,
        idempotency_key=new.idempotency_key,
        external_ref=new.external_ref,
    )
    case.search_text = _search_text(case)
    try:
        # A savepoint: if another request with the same key won the race, only this insert is
        # undone and the earlier case is returned.
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:
        if new.idempotency_key:
            earlier = by_idempotency_key(session, new.idempotency_key)
            if earlier is not None:
                return earlier, False
        raise
    record(session, case, actor=actor, action="intake", now=now, settings=settings, from_status="-")
    for uniqueid in new.call_uniqueids:
        link_call(session, case, uniqueid, actor=actor, now=now)
    if intake_only:
        return case, True
    transition(session, case, CaseAction.FILE, actor=actor, settings=settings, now=now)
    if dispatch:
        department = department or catalogue.route(
            session, category, street=case.street, grid_cell=case.grid_cell
        )
        if department is not None:
            dispatch_case(session, case, department, actor=actor, settings=settings, now=now)
    return case, True


def _facts(case: Case) -> Facts:
    return Facts(
        has_department=case.department_id is not None,
        extension_pending=case.extension_days > 0,
        supervised=case.supervised,
    )


def _check_department(case: Case, actor: Actor) -> None:
    if actor.party is Party.DEPARTMENT and case.department_id not in actor.department_ids:
        raise NotYourCase(f"case {case.number} is not with your department")


def transition(
    session: Session,
    case: Case,
    action: CaseAction,
    *,
    actor: Actor,
    settings: Settings,
    reason: str = "",
    now: datetime | None = None,
    facts: Facts | None = None,
    data: dict[str, object] | None = None,
) -> CaseStatus:
    """Move the case by ``action`` (rules in ``lifecycle``) and write the timeline row."""
    now = now or utcnow()
    _check_department(case, actor)
    before = CaseStatus(case.status)
    after = next_status(before, action, party=actor.party, reason=reason, facts=facts or _facts(case))
    case.status = after.value
    record(
        session,
        case,
        actor=actor,
        action=action.value,
        now=now,
        settings=settings,
        from_status=before.value,
        note=reason.strip(),
        data=dict(data or {}),
    )
    return after


def _start_department_clock(
    case: Case, department: Department, *, settings: Settings, now: datetime, session: Session
) -> None:
    category = session.get(Category, case.category_id) if case.category_id else None
    clock = deadlines.start_clock(
        category=category, urgency=case.urgency, now=now, zone=settings.site.zone, settings=settings.cases
    )
    case.department_id = department.id
    case.dispatched_at = now
    case.signed_at = None
    deadlines.apply_clock(case, clock)


def dispatch_case(
    session: Session,
    case: Case,
    department: Department,
    *,
    actor: Actor,
    settings: Settings,
    reason: str = "",
    now: datetime | None = None,
) -> None:
    """Send the case to ``department`` (first time, after a return, or moved by the dispatcher)."""
    now = now or utcnow()
    if not department.active:
        raise CaseInputError(f"department: {department.code} is not active")
    status = CaseStatus(case.status)
    action = CaseAction.REDISPATCH if status.with_department else CaseAction.DISPATCH
    facts = Facts(has_department=True, extension_pending=case.extension_days > 0, supervised=case.supervised)
    next_status(status, action, party=actor.party, reason=reason, facts=facts)  # refuse before changing
    previous = case.department_id
    _start_department_clock(case, department, settings=settings, now=now, session=session)
    case.extension_days = 0
    case.extension_reason = ""
    transition(
        session,
        case,
        action,
        actor=actor,
        settings=settings,
        reason=reason,
        now=now,
        facts=facts,
        data={"department": department.code, "previous_department_id": previous},
    )


def sign_for(
    session: Session, case: Case, *, actor: Actor, settings: Settings, now: datetime | None = None
) -> None:
    now = now or utcnow()
    transition(session, case, CaseAction.SIGN_FOR, actor=actor, settings=settings, now=now)
    case.signed_at = now


def start_handling(
    session: Session, case: Case, *, actor: Actor, settings: Settings, now: datetime | None = None
) -> None:
    transition(session, case, CaseAction.START_HANDLING, actor=actor, settings=settings, now=now)


def reply(
    session: Session, case: Case, text: str, *, actor: Actor, settings: Settings, now: datetime | None = None
) -> None:
    """The department's answer (处理反馈); verified by the hotline before the case is closed."""
    text = _clean(text, MAX_CONTENT, "reply")
    if not text:
        raise CaseInputError("reply: say what was done")
    _check_department(case, actor)
    # Refused before anything is set: a caller that catches the refusal and commits keeps nothing.
    next_status(CaseStatus(case.status), CaseAction.REPLY, party=actor.party, facts=_facts(case))
    if case.status == CaseStatus.SIGNED:
        start_handling(session, case, actor=actor, settings=settings, now=now)
    case.reply_text = text
    case.replied_at = now or utcnow()
    transition(session, case, CaseAction.REPLY, actor=actor, settings=settings, now=now, data={"reply": text})


def return_case(
    session: Session,
    case: Case,
    reason: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """退单: the department says the case is not theirs; it goes back to the dispatcher."""
    transition(session, case, CaseAction.RETURN, actor=actor, settings=settings, reason=reason, now=now)
    case.returns += 1
    case.extension_days = 0
    case.extension_reason = ""


def request_extension(
    session: Session,
    case: Case,
    days: int,
    reason: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise CaseInputError(f"days: 1 to {MAX_EXTENSION_DAYS} working days")
    transition(
        session,
        case,
        CaseAction.REQUEST_EXTENSION,
        actor=actor,
        settings=settings,
        reason=reason,
        now=now,
        data={"days": days},
    )
    case.extension_days = days
    case.extension_reason = reason.strip()


def decide_extension(
    session: Session,
    case: Case,
    *,
    approve: bool,
    actor: Actor,
    settings: Settings,
    reason: str = "",
    now: datetime | None = None,
) -> None:
    days = case.extension_days
    action = CaseAction.APPROVE_EXTENSION if approve else CaseAction.REFUSE_EXTENSION
    next_status(CaseStatus(case.status), action, party=actor.party, reason=reason, facts=_facts(case))
    data: dict[str, object] = {"days": days}
    if approve:
        guessed = deadlines.extend(case, days, zone=settings.site.zone, settings=settings.cases)
        case.extensions_granted += 1
        data["due_at"] = case.due_at.isoformat() if case.due_at else None
        if guessed:
            data["calendar_guessed"] = list(guessed)
    case.extension_days = 0
    case.extension_reason = ""
    transition(
        session,
        case,
        action,
        actor=actor,
        settings=settings,
        reason=reason,
        now=now,
        facts=Facts(has_department=True, extension_pending=True, supervised=case.supervised),
        data=data,
    )


def reject_reply(
    session: Session,
    case: Case,
    reason: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """The reply does not hold up on verification: back to the department, same deadline."""
    transition(session, case, CaseAction.REJECT_REPLY, actor=actor, settings=settings, reason=reason, now=now)


def close_case(
    session: Session,
    case: Case,
    *,
    actor: Actor,
    settings: Settings,
    note: str = "",
    now: datetime | None = None,
) -> None:
    """核实结案: the hotline verified the reply."""
    now = now or utcnow()
    transition(session, case, CaseAction.CLOSE, actor=actor, settings=settings, reason=note, now=now)
    case.closed_at = now


def resolve_on_call(
    session: Session,
    case: Case,
    answer: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """直接办结: an enquiry answered by the agent on the call."""
    now = now or utcnow()
    answer = _clean(answer, MAX_CONTENT, "answer")
    if not answer:
        raise CaseInputError("answer: say how it was answered")
    next_status(CaseStatus(case.status), CaseAction.RESOLVE_ON_CALL, party=actor.party, facts=_facts(case))
    case.reply_text = answer
    case.replied_at = now
    case.closed_at = now
    transition(
        session,
        case,
        CaseAction.RESOLVE_ON_CALL,
        actor=actor,
        settings=settings,
        now=now,
        data={"answer": answer},
    )


def evaluate(
    session: Session,
    case: Case,
    satisfaction: str,
    *,
    actor: Actor,
    settings: Settings,
    note: str = "",
    now: datetime | None = None,
) -> None:
    """综合评价: the citizen's verdict (from the callback survey or the agent who asked)."""
    if satisfaction not in {s.value for s in Satisfaction}:
        raise CaseInputError(f"satisfaction: one of {', '.join(s.value for s in Satisfaction)}")
    transition(
        session,
        case,
        CaseAction.EVALUATE,
        actor=actor,
        settings=settings,
        reason=note,
        now=now,
        data={"satisfaction": satisfaction},
    )
    case.satisfaction = satisfaction
    case.evaluation_note = _clean(note, 2000, "note")


def reopen(
    session: Session,
    case: Case,
    reason: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """An unsatisfied citizen (or a check) sends the case back to its department, clock restarted."""
    now = now or utcnow()
    next_status(
        CaseStatus(case.status), CaseAction.REOPEN, party=actor.party, reason=reason, facts=_facts(case)
    )
    department = session.get(Department, case.department_id) if case.department_id else None
    assert department is not None  # the rules require one
    _start_department_clock(case, department, settings=settings, now=now, session=session)
    case.reopens += 1
    case.closed_at = None
    case.satisfaction = ""
    transition(session, case, CaseAction.REOPEN, actor=actor, settings=settings, reason=reason, now=now)


def merge_duplicate(
    session: Session, case: Case, into: Case, *, actor: Actor, settings: Settings, now: datetime | None = None
) -> None:
    """重复件: fold ``case`` into the open case ``into``; its calls are linked to ``into`` too."""
    now = now or utcnow()
    if into.id == case.id:
        raise CaseInputError("merge: a case cannot be merged into itself")
    if not CaseStatus(into.status).is_open:
        raise TransitionRefused(
            CaseAction.MERGE, f"case {into.number} is {into.status}; merge into an open case"
        )
    transition(
        session, case, CaseAction.MERGE, actor=actor, settings=settings, now=now, data={"into": into.number}
    )
    case.merged_into_id = into.id
    for uniqueid in session.scalars(select(CaseCall.call_uniqueid).where(CaseCall.case_id == case.id)):
        link_call(session, into, uniqueid, actor=actor, now=now)
    record(
        session,
        into,
        actor=actor,
        action="merged_in",
        now=now,
        settings=settings,
        note=case.number,
        data={"duplicate": case.number},
    )


def supervise(
    session: Session,
    case: Case,
    reason: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """督办: flag the case for pressing; the department is told."""
    transition(session, case, CaseAction.SUPERVISE, actor=actor, settings=settings, reason=reason, now=now)
    case.supervised = True
    case.supervision_reason = reason.strip()


def end_supervision(
    session: Session,
    case: Case,
    *,
    actor: Actor,
    settings: Settings,
    reason: str = "",
    now: datetime | None = None,
) -> None:
    transition(
        session, case, CaseAction.END_SUPERVISION, actor=actor, settings=settings, reason=reason, now=now
    )
    case.supervised = False


def link_call(
    session: Session, case: Case, uniqueid: str, *, actor: Actor, now: datetime | None = None
) -> bool:
    """Attach a call (its recording and transcript come with it); False if it already was."""
    uniqueid = uniqueid.strip()
    if not uniqueid or len(uniqueid) > 64:
        raise CaseInputError("call: a call's uniqueid")
    exists = session.scalar(
        select(CaseCall.id).where(CaseCall.case_id == case.id, CaseCall.call_uniqueid == uniqueid)
    )
    if exists is not None:
        return False
    session.add(
        CaseCall(case_id=case.id, call_uniqueid=uniqueid, linked_at=now or utcnow(), linked_by=actor.name)
    )
    session.flush()
    return True


def link_repeat_call(
    session: Session,
    case: Case,
    uniqueid: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """One click in the console: this call is about that case (a repeat call, 重复来电)."""
    now = now or utcnow()
    if link_call(session, case, uniqueid, actor=actor, now=now):
        record(
            session,
            case,
            actor=actor,
            action="link_call",
            now=now,
            settings=settings,
            note=uniqueid,
            data={"call": uniqueid},
        )


def update_details(
    session: Session,
    case: Case,
    *,
    actor: Actor,
    settings: Settings,
    category_code: str | None = None,
    title: str | None = None,
    content: str | None = None,
    address: str | None = None,
    street: str | None = None,
    grid_cell: str | None = None,
    urgency: str | None = None,
    now: datetime | None = None,
) -> None:
    """Correct what the case says while it is still with the hotline (intake, filed, returned)."""
    if CaseStatus(case.status) not in (CaseStatus.INTAKE, CaseStatus.FILED, CaseStatus.RETURNED):
        raise TransitionRefused(
            CaseAction.FILE, f"the case is {case.status}; its details are fixed once dispatched"
        )
    changed: dict[str, object] = {}
    if category_code is not None:
        category = catalogue.category_by_code(session, category_code) if category_code else None
        if category_code and category is None:
            raise CaseInputError(f"category: unknown category {category_code}")
        case.category_id = category.id if category else None
        changed["category"] = category_code
    if urgency is not None:
        if urgency not in (Urgency.NORMAL, Urgency.URGENT):
            raise CaseInputError("urgency: normal or urgent")
        case.urgency = urgency
        changed["urgency"] = urgency
    corrections = (
        ("title", title, 200),
        ("content", content, MAX_CONTENT),
        ("address", address, 256),
        ("street", street, 64),
        ("grid_cell", grid_cell, 32),
    )
    for name, value, limit in corrections:
        if value is not None:
            setattr(case, name, _clean(value, limit, name))
            changed[name] = getattr(case, name)
    if changed:
        case.search_text = _search_text(case)
        record(
            session, case, actor=actor, action="edit", now=now or utcnow(), settings=settings, data=changed
        )


def file_voicemail_case(
    session: Session,
    *,
    call_uniqueid: str,
    caller_number: str,
    settings: Settings,
    now: datetime | None = None,
) -> Case:
    """A message left out of hours becomes a filed case for the dispatcher; the recording and,
    once made, its transcript come with the linked call. Once per call, however often asked."""
    now = now or utcnow()
    local = now.astimezone(settings.site.zone).strftime("%Y-%m-%d %H:%M")
    new = NewCase(
        source=CaseSource.VOICEMAIL,
        title=f"来电留言 {local}",
        content=f"来电留言（{local}），内容见录音及转写。",
        caller_number=caller_number,
        call_uniqueids=[call_uniqueid],
        idempotency_key=f"voicemail:{call_uniqueid}",
    )
    case, _ = create_case(
        session, new, actor=Actor.system("voicemail"), settings=settings, dispatch=False, now=now
    )
    return case
