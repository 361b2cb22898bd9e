"""Status updates from outside systems: a department's own system signs for, replies to or
returns a case, or adds a note, and the hotline's case moves as if the department's staff had
done it in the portal.

The sender is a configured webhook with ``accepts_updates``; it signs each update the way the
hotline signs its webhooks (``gateways.signature``: HMAC-SHA256 over ``timestamp + "." + key + "." +
body`` with the shared secret) and names it with an idempotency key. What an update did is kept
in ``inbound_updates`` under (system, key): the same key again returns the same answer and
changes nothing, so a sender that lost our answer simply sends again.

What is kept and what is not: an update that reached the case is kept with its outcome, whether
applied, refused by the case's rules (409) or unusable to the service (422). A request that was
not authentic, named no known case, or could not be read is answered and forgotten, so the
sender can fix it and send it again under the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from case_bridge import service
from case_bridge.gateways import signature_matches
from case_bridge.lifecycle import Party, TransitionRefused
from case_bridge.models import Case, InboundUpdate
from case_bridge.timeline import Actor, record
from hotline.case_settings import WebhookSettings
from hotline.db import utcnow
from hotline.settings import Settings

# How far a request's timestamp may be from our clock: long enough for clock drift and a slow
# network, short enough that a captured request is soon useless.
REPLAY_WINDOW = timedelta(minutes=5)
MAX_KEY = 160
MAX_BODY_BYTES = 64 * 1024
MAX_REASON = 2000
NOTE_ACTION = "external_note"


class InboundOutcome(StrEnum):
    APPLIED = "applied"  # 200
    REFUSED = "refused"  # 409: the case's rules do not allow it now (kept)
    INVALID = "invalid"  # 422: the service could not use what was sent (kept)
    MALFORMED = "malformed"  # 422: the body or key could not be read (not kept)
    UNAUTHORIZED = "unauthorized"  # 401: bad signature or timestamp (not kept)
    UNKNOWN_SYSTEM = "unknown_system"  # 404 (not kept)
    UNKNOWN_CASE = "unknown_case"  # 404 (not kept)


HTTP_STATUS = {
    InboundOutcome.APPLIED: 200,
    InboundOutcome.REFUSED: 409,
    InboundOutcome.INVALID: 422,
    InboundOutcome.MALFORMED: 422,
    InboundOutcome.UNAUTHORIZED: 401,
    InboundOutcome.UNKNOWN_SYSTEM: 404,
    InboundOutcome.UNKNOWN_CASE: 404,
}
# The outcomes an inbound_updates row can hold.
KEPT = frozenset({InboundOutcome.APPLIED, InboundOutcome.REFUSED, InboundOutcome.INVALID})


@dataclass(frozen=True)
class InboundResult:
    outcome: InboundOutcome
    detail: str = ""
    case_number: str | None = None
    case_status: str | None = None
    replayed: bool = False

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.outcome]


class StatusUpdate(BaseModel):
    """The body of an update (JSON). Unknown fields are refused, so a misspelt one is noticed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case: str = Field(pattern=r"^[0-9A-Za-z-]{1,20}$", description="The hotline's case number")
    action: Literal["sign_for", "reply", "return", "note"] = Field(
        description="sign_for: accept the case; reply: the department's answer (text); "
        "return: not ours (reason); note: a line on the case's timeline (text)"
    )
    text: str = Field("", max_length=service.MAX_CONTENT, description="The reply or the note")
    reason: str = Field("", max_length=MAX_REASON, description="Why the case is returned")

    @model_validator(mode="after")
    def _says_enough(self) -> StatusUpdate:
        if self.action in ("reply", "note") and not self.text.strip():
            raise ValueError(f"text: a {self.action} needs text")
        if self.action == "return" and not self.reason.strip():
            raise ValueError("reason: a return needs a reason")
        return self


def _sender(settings: Settings, system: str) -> WebhookSettings | None:
    for hook in settings.cases.webhooks:
        if hook.name == system and hook.accepts_updates:
            return hook
    return None


def _authentic(
    hook: WebhookSettings, *, key: str, body: bytes, timestamp: str, signature: str, now: datetime
) -> str:
    """Why the request is not authentic, or "" when it is."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "X-Hotline-Timestamp: Unix seconds"
    if abs(now.timestamp() - int(timestamp)) > REPLAY_WINDOW.total_seconds():
        return "X-Hotline-Timestamp: more than 5 minutes from the hotline's clock"
    if not signature_matches(hook.secret, timestamp, key, body, signature):
        return "X-Hotline-Signature: does not match the key and body"
    return ""


def _key_problem(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY:
        return f"Idempotency-Key: 1 to {MAX_KEY} characters"
    if not key.isascii() or not key.isprintable():
        return "Idempotency-Key: printable ASCII"
    return ""


def _parse(body: bytes) -> StatusUpdate | str:
    """The update, or what is wrong with the body."""
    if len(body) > MAX_BODY_BYTES:
        return f"body: at most {MAX_BODY_BYTES} bytes"
    try:
        return StatusUpdate.model_validate_json(body)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "body"
            problems.append(f"{where}: {error['msg']}")
        return "; ".join(problems)[:500]


def _stored(session: Session, system: str, key: str) -> InboundUpdate | None:
    return session.scalar(
        select(InboundUpdate).where(InboundUpdate.system == system, InboundUpdate.idempotency_key == key)
    )


def _replay(session: Session, kept: InboundUpdate) -> InboundResult:
    """The answer first given, with the case as it stands now."""
    case = session.get(Case, kept.case_id) if kept.case_id is not None else None
    return InboundResult(
        outcome=InboundOutcome(kept.outcome),
        detail=kept.detail,
        case_number=case.number if case else None,
        case_status=case.status if case else None,
        replayed=True,
    )


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch in "\n\t" or ch >= " ").strip()


def _apply(
    session: Session, case: Case, update_: StatusUpdate, *, system: str, settings: Settings, now: datetime
) -> None:
    # The system speaks for the case's department, whichever that is now; it cannot act on a case
    # with no department (service refuses that with NotYourCase).
    departments = frozenset({case.department_id}) if case.department_id is not None else frozenset()
    actor = Actor(name=f"external:{system}", party=Party.DEPARTMENT, department_ids=departments)
    if update_.action == "sign_for":
        service.sign_for(session, case, actor=actor, settings=settings, now=now)
    elif update_.action == "reply":
        service.reply(session, case, update_.text, actor=actor, settings=settings, now=now)
    elif update_.action == "return":
        service.return_case(session, case, update_.reason, actor=actor, settings=settings, now=now)
    else:
        record(
            session, case, actor=actor, action=NOTE_ACTION, now=now, settings=settings,
            note=_clean(update_.text), data={"system": system},
        )  # fmt: skip


def receive_update(
    session: Session,
    settings: Settings,
    *,
    system: str,
    idempotency_key: str,
    body: bytes,
    timestamp: str,
    signature: str,
    now: datetime | None = None,
) -> InboundResult:
    """Check, then apply (or replay) one update. Never commits; the caller's unit of work does,
    and it must commit whatever the outcome (a refusal is kept too)."""
    now = now or utcnow()
    hook = _sender(settings, system)
    if hook is None:
        return InboundResult(InboundOutcome.UNKNOWN_SYSTEM, f"no system {system!r} sends updates here")
    why = _authentic(hook, key=idempotency_key, body=body, timestamp=timestamp, signature=signature, now=now)
    if why:
        return InboundResult(InboundOutcome.UNAUTHORIZED, why)
    why = _key_problem(idempotency_key)
    if why:
        return InboundResult(InboundOutcome.MALFORMED, why)
    kept = _stored(session, system, idempotency_key)
    if kept is not None:  # the common replay: answered from the row, nothing written
        return _replay(session, kept)
    parsed = _parse(body)
    if isinstance(parsed, str):
        return InboundResult(InboundOutcome.MALFORMED, parsed)

    # Lock the case with a write that changes nothing: on PostgreSQL the row lock makes a second
    # update of the same case wait here; on SQLite the write takes the database's write lock
    # (and opens the transaction the savepoints below need). Either way what is read next is
    # what the last committed update left.
    locked = session.execute(
        update(Case)
        .where(Case.number == parsed.case)
        .values(updated_at=Case.updated_at)
        .execution_options(synchronize_session=False)
    )
    if not getattr(locked, "rowcount", 0):
        return InboundResult(InboundOutcome.UNKNOWN_CASE, f"no case {parsed.case}")
    kept = _stored(session, system, idempotency_key)
    if kept is not None:  # the same update arrived twice at once and the other one won
        return _replay(session, kept)
    case = session.scalars(
        select(Case).where(Case.number == parsed.case).execution_options(populate_existing=True)
    ).one()

    claim = InboundUpdate(
        system=system,
        idempotency_key=idempotency_key,
        case_id=case.id,
        received_at=now,
        outcome=InboundOutcome.APPLIED.value,
        detail=parsed.action,
    )
    try:
        # As in service.create_case: the unique (system, key) decides a race the lock did not
        # cover (one key sent for two cases); only this insert is undone.
        with session.begin_nested():
            session.add(claim)
            session.flush()
    except IntegrityError:
        kept = _stored(session, system, idempotency_key)
        if kept is not None:
            return _replay(session, kept)
        raise

    try:
        # A refused action may have changed the case in memory before the rules said no
        # (service.reply sets the reply text first): the savepoint's rollback undoes all of it.
        with session.begin_nested():
            _apply(session, case, parsed, system=system, settings=settings, now=now)
    except (TransitionRefused, service.NotYourCase) as exc:
        claim.outcome = InboundOutcome.REFUSED.value
        claim.detail = (exc.reason if isinstance(exc, TransitionRefused) else str(exc))[:2000]
    except service.CaseInputError as exc:
        claim.outcome = InboundOutcome.INVALID.value
        claim.detail = str(exc)[:2000]
    session.flush()
    return InboundResult(
        outcome=InboundOutcome(claim.outcome),
        detail=claim.detail,
        case_number=case.number,
        case_status=case.status,
    )
