"""The outbox for administrators: what was sent, what waits, what failed and why (the delivery
log), and sending a dead or held message again. The page ``/admin/outbox`` is a frame; what it
shows comes from these routes in the browser.

Messages hold citizens' numbers and case texts, so everything here is for administrators only,
and each retry goes on the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts import audit
from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CurrentUser, client_ip, require, require_page
from agents_ui.api_types import ROW_ID_MAX, RowId
from agents_ui.deps import DbSession, get_settings, templates
from agents_ui.i18n import pick_language, translator
from case_bridge.models import Case, DeliveryAttempt, OutboxMessage
from case_bridge.outbox import MessageNotFound, NotRetryable, retry_message
from hotline.settings import Settings

router = APIRouter()

Administrator = Annotated[CurrentUser, Depends(require(Role.ADMINISTRATOR))]
PAGE_SIZE = 50

StatusName = Literal["pending", "sent", "dead", "held"]
ChannelName = Literal["sms", "email", "webhook"]


class Problem(BaseModel):
    detail: str


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not logged in"},
    403: {"model": Problem, "description": "Not an administrator"},
}
NO_MESSAGE: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such message"}}


class MessageOut(BaseModel):
    id: int
    channel: str = Field(description="sms, email or webhook")
    recipient: str = Field(description="A mobile number, an e-mail address, or a webhook's name")
    subject: str
    event: str = Field(description="The case event that called for it (dispatch, reply, ...)")
    case: str | None = Field(description="The case's number")
    status: str = Field(description="pending, sent, dead (gave up or refused) or held (no gateway)")
    attempts: int = Field(description="Tries since it was written or last retried by hand")
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    sent_at: datetime | None
    idempotency_key: str = Field(description="What the receiver de-duplicates by")


class AttemptOut(BaseModel):
    at: datetime
    ok: bool
    status_code: int | None = Field(description="The receiver's HTTP or SMTP code; null: no answer")
    detail: str
    duration_ms: int


class MessageDetail(MessageOut):
    body: str
    payload: dict[str, Any]
    delivery_log: list[AttemptOut] = Field(description="Every try, oldest first")


class MessagePage(BaseModel):
    messages: list[MessageOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null: no more")


def _out(message: OutboxMessage, case_number: str | None) -> dict[str, Any]:
    return {
        "id": message.id,
        "channel": message.channel,
        "recipient": message.recipient,
        "subject": message.subject,
        "event": message.event,
        "case": case_number,
        "status": message.status,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "last_error": message.last_error,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
        "idempotency_key": message.idempotency_key,
    }


def _case_number(session: Session, message: OutboxMessage) -> str | None:
    if message.case_id is None:
        return None
    return session.scalar(select(Case.number).where(Case.id == message.case_id))


@router.get(
    "/api/outbox",
    response_model=MessagePage,
    summary="Outbox messages, newest first (administrators)",
    responses=PROBLEMS,
)
def list_messages(
    session: DbSession,
    _admin: Administrator,
    status: StatusName | None = None,
    channel: ChannelName | None = None,
    case: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{1,20}$", description="A case number")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=ROW_ID_MAX, description="next_before of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> MessagePage:
    # Keyset paging on the id: a page stays right while new messages keep arriving on top.
    query = (
        select(OutboxMessage, Case.number)
        .outerjoin(Case, Case.id == OutboxMessage.case_id)
        .order_by(OutboxMessage.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    if case is not None:
        query = query.where(Case.number == case)
    if before is not None:
        query = query.where(OutboxMessage.id < before)
    rows = session.execute(query).all()
    page = rows[:limit]
    return MessagePage(
        messages=[MessageOut(**_out(message, number)) for message, number in page],
        next_before=page[-1][0].id if len(rows) > limit else None,
    )


@router.get(
    "/api/outbox/{message_id}",
    response_model=MessageDetail,
    summary="One outbox message with its delivery log (administrators)",
    responses={**PROBLEMS, **NO_MESSAGE},
)
def message_detail(message_id: RowId, session: DbSession, _admin: Administrator) -> MessageDetail:
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise HTTPException(404, "no such message")
    tries = session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.message_id == message.id).order_by(DeliveryAttempt.id)
    )
    return MessageDetail(
        **_out(message, _case_number(session, message)),
        body=message.body,
        payload=dict(message.payload or {}),
        delivery_log=[
            AttemptOut(
                at=t.at, ok=t.ok, status_code=t.status_code, detail=t.detail, duration_ms=t.duration_ms
            )
            for t in tries
        ],
    )


@router.post(
    "/api/outbox/{message_id}/retry",
    response_model=MessageOut,
    summary="Send a dead or held message again, now (administrators; audited)",
    responses={
        **PROBLEMS,
        **NO_MESSAGE,
        409: {"model": Problem, "description": "The message is pending or sent: nothing to retry"},
    },
)
def retry(message_id: RowId, request: Request, session: DbSession, admin: Administrator) -> MessageOut:
    try:
        message = retry_message(session, message_id)
    except MessageNotFound:
        raise HTTPException(404, "no such message") from None
    except NotRetryable as exc:
        raise HTTPException(409, str(exc)) from None
    audit.record(
        session,
        actor=admin.username,
        action="outbox.retry",
        outcome=audit.Outcome.OK,
        target=f"outbox:{message.id}",
        source_ip=client_ip(request),
        detail=f"{message.channel} to {message.recipient} ({message.event})",
    )
    return MessageOut(**_out(message, _case_number(session, message)))


# ----- the page ---------------------------------------------------------------------------------------


@router.get("/admin/outbox", response_class=HTMLResponse, include_in_schema=False)
def outbox_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(Role.ADMINISTRATOR))],
    lang: str | None = None,
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    t = translator(language)
    return templates.TemplateResponse(
        request,
        "outbox.html",
        {
            "t": t,
            "lang": language,
            "site": settings.site.name,
            "zone": settings.site.timezone,
            "me": user,
            "words": {key: value for key, value in t.items() if key.startswith("o_")},
        },
    )
