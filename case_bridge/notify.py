"""Which messages a case event calls for: outbox rows for SMS, e-mail and webhooks.

Only rows are written here, in the caller's transaction; the outbox worker sends them
(``case_bridge.outbox``). Every row's idempotency key is made from the event and the recipient,
so recording the same event twice cannot send twice.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from case_bridge import jobs
from case_bridge.models import Case, CaseEvent, Department, OutboxMessage
from hotline.db import after_commit
from hotline.settings import Settings

# A mainland mobile number (optionally with +86/0086): only these can receive a text.
_MOBILE = re.compile(r"^(?:\+?86|0086)?(1[3-9][0-9]{9})$")

# What the department is told, and when.
_TO_DEPARTMENT = frozenset(
    {"dispatch", "redispatch", "reopen", "deadline_warning", "overdue", "sign_overdue"}
)
# What the hotline's own staff are told.
_TO_HOTLINE = frozenset({"reply", "return", "request_extension", "escalate"})
# What the citizen is told (SMS to the number they called from).
_TO_CITIZEN = frozenset({"close"})

_TEXTS_ZH = {
    "dispatch": "新工单{number}已派遣至{department}，请于{sign_due}前签收、{due}前办结。{title}",
    "redispatch": "工单{number}已改派至{department}，请于{sign_due}前签收、{due}前办结。{title}",
    "reopen": "工单{number}已重新派遣至{department}（重办），请于{due}前办结。{title}",
    "deadline_warning": "工单{number}将于{due}到期，请抓紧办理。{title}",
    "overdue": "工单{number}已超期（期限{due}），请立即办理并答复。{title}",
    "sign_overdue": "工单{number}超时未签收（期限{sign_due}），请立即签收。{title}",
    "reply": "工单{number}已由{department}答复，请核实结案。{title}",
    "return": "工单{number}被{department}退回：{note}",
    "request_extension": "{department}申请工单{number}延期{days}个工作日：{note}",
    "escalate": "督办：工单{number}（{department}）已超期，期限{due}。{title}",
    "close": "您反映的问题（工单号{number}）已办结：{reply}。感谢您对12345热线的支持。",
}
_TEXTS_EN = {
    "dispatch": "New case {number} for {department}: sign for it by {sign_due}, complete by {due}. {title}",
    "redispatch": "Case {number} moved to {department}: sign for it by {sign_due}, due {due}. {title}",
    "reopen": "Case {number} reopened for {department}: complete by {due}. {title}",
    "deadline_warning": "Case {number} is due {due}. {title}",
    "overdue": "Case {number} is overdue (due {due}): act and reply now. {title}",
    "sign_overdue": "Case {number} not signed for by {sign_due}: sign for it now. {title}",
    "reply": "Case {number} was replied to by {department}: verify and close it. {title}",
    "return": "Case {number} was returned by {department}: {note}",
    "request_extension": "{department} asks {days} more working days for case {number}: {note}",
    "escalate": "Supervision: case {number} ({department}) is overdue, due {due}. {title}",
    "close": "Your case {number} is complete: {reply}. Thank you for calling the hotline.",
}


def mobile_number(number: str) -> str | None:
    match = _MOBILE.match(re.sub(r"[\s-]", "", number))
    return match.group(1) if match else None


def _local(settings: Settings, moment: Any) -> str:
    return moment.astimezone(settings.site.zone).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _text(settings: Settings, case: Case, event: CaseEvent, department: Department | None) -> str:
    texts = _TEXTS_EN if settings.site.language == "en" else _TEXTS_ZH
    name = (department.name_en or department.name) if department and settings.site.language == "en" else None
    values = {
        "number": case.number,
        "department": name or (department.name if department else "-"),
        "sign_due": _local(settings, case.sign_due_at),
        "due": _local(settings, case.due_at),
        "title": case.title[:60],
        "note": event.note[:120],
        "days": event.data.get("days", ""),
        "reply": case.reply_text[:120],
    }
    return texts[event.action].format(**values)


def webhook_payload(case: Case, event: CaseEvent, department: Department | None) -> dict[str, Any]:
    """What an outside system receives: the event, and the case as it stands after it."""
    return {
        "event_id": f"case-event-{event.id}",
        "type": f"case.{event.action}",
        "occurred_at": event.at.isoformat(),
        "actor": event.actor,
        "note": event.note,
        "data": event.data,
        "case": {
            "number": case.number,
            "status": case.status,
            "source": case.source,
            "urgency": case.urgency,
            "title": case.title,
            "content": case.content,
            "address": case.address,
            "street": case.street,
            "grid_cell": case.grid_cell,
            "lat": case.lat,
            "long": case.lon,
            "department": department.code if department else None,
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "supervised": case.supervised,
            "reply": case.reply_text,
        },
    }


def on_event(session: Session, case: Case, event: CaseEvent, settings: Settings) -> None:
    department = session.get(Department, case.department_id) if case.department_id else None
    rows: list[OutboxMessage] = []

    def add(channel: str, recipient: str, body: str, subject: str = "", payload: Any = None) -> None:
        rows.append(
            OutboxMessage(
                channel=channel,
                recipient=recipient,
                subject=subject,
                body=body,
                payload=payload or {},
                idempotency_key=f"{channel}:{event.id}:{recipient}"[:160],
                case_id=case.id,
                event=event.action,
                next_attempt_at=event.at,
            )
        )

    if event.action in _TO_DEPARTMENT and department is not None:
        text = _text(settings, case, event, department)
        if department.sms_number:
            add("sms", department.sms_number, text)
        if department.email:
            add("email", department.email, text, subject=f"[12345] {case.number} {event.action}")
    if event.action in _TO_HOTLINE:
        text = _text(settings, case, event, department)
        for address in settings.cases.hotline_emails:
            add("email", address, text, subject=f"[12345] {case.number} {event.action}")
        if event.action == "escalate":
            for number in settings.cases.hotline_sms:
                add("sms", number, text)
    if event.action in _TO_CITIZEN and settings.cases.citizen_sms:
        mobile = mobile_number(case.caller_number)
        if mobile:
            add("sms", mobile, _text(settings, case, event, department))
    for hook in settings.cases.webhooks:
        if hook.events and event.action not in hook.events and f"case.{event.action}" not in hook.events:
            continue
        if event.actor == f"external:{hook.name}":
            continue  # the system that caused the change knows of it already
        add("webhook", hook.name, "", payload=webhook_payload(case, event, department))
    session.add_all(rows)
    if rows:
        # Once per transaction (after_commit runs a function once): the worker sends all of it.
        after_commit(session, jobs.queue_delivery)
