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

# The page's own words (zh-CN first); the account bar's words come from agents_ui.i18n.
WORDS: dict[str, dict[str, str]] = {
    "o_title": {"zh-CN": "消息发送队列", "en": "Outbox"},
    "o_help": {
        "zh-CN": "短信、邮件和对外推送（webhook）在此排队发送。失败的消息按逐步加长的间隔重试，"
        "达到最大次数或被对方明确拒绝后标记为“已放弃”；未配置网关的渠道暂存消息，配置后自动发送。",
        "en": "SMS, e-mails and webhooks wait here to be sent. A failed message is tried again after "
        "a growing delay and marked dead after the last attempt or a lasting refusal; a channel with "
        "no gateway holds its messages until one is configured.",
    },
    "o_channel": {"zh-CN": "渠道", "en": "Channel"},
    "o_channel_sms": {"zh-CN": "短信", "en": "SMS"},
    "o_channel_email": {"zh-CN": "邮件", "en": "E-mail"},
    "o_channel_webhook": {"zh-CN": "对外推送", "en": "Webhook"},
    "o_status": {"zh-CN": "状态", "en": "Status"},
    "o_status_pending": {"zh-CN": "待发送", "en": "Pending"},
    "o_status_sent": {"zh-CN": "已发送", "en": "Sent"},
    "o_status_dead": {"zh-CN": "已放弃", "en": "Dead"},
    "o_status_held": {"zh-CN": "暂存（未配置网关）", "en": "Held (no gateway)"},
    "o_case": {"zh-CN": "工单号", "en": "Case"},
    "o_recipient": {"zh-CN": "接收方", "en": "Recipient"},
    "o_event": {"zh-CN": "事件", "en": "Event"},
    "o_attempts": {"zh-CN": "尝试次数", "en": "Attempts"},
    "o_next": {"zh-CN": "下次尝试", "en": "Next try"},
    "o_created": {"zh-CN": "创建时间", "en": "Created"},
    "o_sent_at": {"zh-CN": "发送时间", "en": "Sent"},
    "o_last_error": {"zh-CN": "最近错误", "en": "Last error"},
    "o_actions": {"zh-CN": "操作", "en": "Actions"},
    "o_retry": {"zh-CN": "重新发送", "en": "Retry"},
    "o_retried": {"zh-CN": "已重新排队，稍后发送。", "en": "Queued again; it goes out shortly."},
    "o_log": {"zh-CN": "发送记录", "en": "Delivery log"},
    "o_log_empty": {"zh-CN": "尚未尝试发送。", "en": "Not tried yet."},
    "o_ok": {"zh-CN": "成功", "en": "OK"},
    "o_not_ok": {"zh-CN": "失败", "en": "Failed"},
    "o_code": {"zh-CN": "应答码", "en": "Code"},
    "o_duration": {"zh-CN": "耗时(毫秒)", "en": "Time (ms)"},
    "o_detail": {"zh-CN": "说明", "en": "Detail"},
    "o_any": {"zh-CN": "全部", "en": "Any"},
    "o_filter": {"zh-CN": "筛选", "en": "Filter"},
    "o_more": {"zh-CN": "加载更多", "en": "More"},
    "o_none": {"zh-CN": "没有符合条件的消息。", "en": "No message matches."},
    "o_loading": {"zh-CN": "正在加载…", "en": "Loading…"},
    "o_failed": {"zh-CN": "出错了：", "en": "Something went wrong: "},
    "o_refused": {"zh-CN": "无权访问：", "en": "Not allowed: "},
}


def page_words(language: str) -> dict[str, str]:
    shared = translator(language)
    clash = shared.keys() & WORDS.keys()
    if clash:  # a key defined in two tables would show one of them at random
        raise RuntimeError(f"i18n keys defined twice: {sorted(clash)}")
    own = {key: words.get(language, words["zh-CN"]) for key, words in WORDS.items()}
    return {**shared, **own}


@router.get("/admin/outbox", response_class=HTMLResponse, include_in_schema=False)
def outbox_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(Role.ADMINISTRATOR))],
    lang: str | None = None,
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    t = page_words(language)
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
