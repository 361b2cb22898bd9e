"""Cases (工单) and what they hang on: departments, the category tree, routing rules, the
timeline, and the tables of the bridges to outside systems (outbox, inbound updates, API keys).

A case's timeline rows are only ever added; the case row holds the current picture (status,
department, deadlines) so lists and timers never have to replay the timeline.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UtcDateTime, utcnow


class CaseSource(StrEnum):
    PHONE = "phone"
    VOICEMAIL = "voicemail"
    WEB = "web"
    OPEN311 = "open311"
    EXTERNAL = "external"  # an outside system (grid platform, leader's instruction, media)


class Urgency(StrEnum):
    NORMAL = "normal"  # 一般: working-day limits
    URGENT = "urgent"  # 紧急: clock-hour limits


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class Department(Base):
    """A responsible unit cases are dispatched to (a bureau, a district, a utility company)."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="", server_default="")
    sms_number: Mapped[str] = mapped_column(String(32), default="", server_default="")
    email: Mapped[str] = mapped_column(String(128), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")


class Category(Base):
    """A node of the category tree; leaves are what cases are filed under.

    ``kind`` follows the city-management standard (GB/T 30428): ``event`` and ``component``
    classes for city-management matters, ``service`` for the hotline's other requests.
    """

    __tablename__ = "case_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("case_categories.id"), default=None, index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="", server_default="")
    kind: Mapped[str] = mapped_column(String(16), default="service", server_default="service")
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Key-phrase categories (asr.vocabulary) and words that suggest this category on intake.
    keywords: Mapped[str] = mapped_column(Text, default="", server_default="")
    limit_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    urgent_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    default_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None)
    open311: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RoutingRule(Base):
    """Where a case goes by category and place: the most specific matching rule wins.

    Empty fields match anything; ``grid_prefix`` matches unit-grid codes that start with it (a
    street's grid cells share its prefix)."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str] = mapped_column(String(40), default="", server_default="")
    street: Mapped[str] = mapped_column(String(64), default="", server_default="")
    grid_prefix: Mapped[str] = mapped_column(String(32), default="", server_default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    # YYYYMMDD + a 5-digit count of the day (local date): digits only, so a caller can key it.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_categories.id"), default=None, index=True
    )
    urgency: Mapped[str] = mapped_column(String(16), default=Urgency.NORMAL)
    title: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    caller_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    caller_name: Mapped[str] = mapped_column(String(64), default="")
    caller_email: Mapped[str] = mapped_column(String(128), default="")
    address: Mapped[str] = mapped_column(String(256), default="")
    street: Mapped[str] = mapped_column(String(64), default="", index=True)
    grid_cell: Mapped[str] = mapped_column(String(32), default="", index=True)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    sign_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None, index=True)
    warn_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    overdue_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    sign_overdue_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    reply_text: Mapped[str] = mapped_column(Text, default="")
    satisfaction: Mapped[str] = mapped_column(String(24), default="")
    evaluation_note: Mapped[str] = mapped_column(Text, default="")
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    supervision_reason: Mapped[str] = mapped_column(Text, default="")
    extension_days: Mapped[int] = mapped_column(Integer, default=0)  # pending request, 0: none
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    extensions_granted: Mapped[int] = mapped_column(Integer, default=0)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    reopens: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    # The client's key for "create this case": a retried request gets the same case back.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None, unique=True)
    external_ref: Mapped[str] = mapped_column(String(128), default="")
    # Tokens of title, content and address for full-text search (see hotline.text_tokens).
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Years whose holiday calendar had to be guessed when the deadline was set.
    calendar_guessed: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        Index("ix_cases_created_at", "created_at"),
        Index("ix_cases_department_status", "department_id", "status"),
        # The search walks the narrowest filter newest first (case_bridge.search, migration 0007).
        Index("ix_cases_status_created", "status", "created_at"),
        Index("ix_cases_department_created", "department_id", "created_at"),
        Index("ix_cases_category_created", "category_id", "created_at"),
        Index("ix_cases_department_category", "department_id", "category_id"),
    )


class CaseCall(Base):
    """A call about the case: its recording and transcript are found by the call's uniqueid."""

    __tablename__ = "case_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    call_uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    linked_by: Mapped[str] = mapped_column(String(64), default="")
    __table_args__ = (UniqueConstraint("case_id", "call_uniqueid", name="uq_case_calls_case_call"),)


class CaseEvent(Base):
    """One line of a case's timeline: who did what, when, from which status to which."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    party: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_case_events_case_at", "case_id", "at"),)


class CaseAttachment(Base):
    """A file given with a reply (photos of the repaired street light, a letter)."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"), default=None)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CaseNumberCounter(Base):
    """The last number given out on a local date; incremented under the row's lock."""

    __tablename__ = "case_number_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class DepartmentMember(Base):
    """A department-staff user's department (a user may serve more than one)."""

    __tablename__ = "department_members"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    )


class OutboxStatus(StrEnum):
    PENDING = "pending"  # to be sent at next_attempt_at
    SENT = "sent"
    DEAD = "dead"  # gave up after outbox.max_attempts; an administrator may retry it
    HELD = "held"  # no gateway configured for its channel; kept, sent once one is


class OutboxMessage(Base):
    """A notification or webhook delivery, written in the same transaction as the change it tells
    of, and sent by the outbox worker with retries: nothing is told that did not happen, and
    nothing that happened goes untold."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | email | webhook
    recipient: Mapped[str] = mapped_column(String(256))  # number, address, or webhook name
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # One per event and recipient: the receiver's de-duplication key, and ours against re-queueing.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), default=None, index=True
    )
    event: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class DeliveryAttempt(Base):
    """Each try of an outbox message: the delivery log administrators read."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class InboundUpdate(Base):
    """A status update an outside system sent us, kept by its idempotency key: a replay finds the
    row and changes nothing."""

    __tablename__ = "inbound_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(160))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), default=None)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # applied | refused
    detail: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (UniqueConstraint("system", "idempotency_key", name="uq_inbound_updates_key"),)


class ApiClient(Base):
    """An outside system allowed to file cases (Open311 ``api_key``); only the key's hash is kept."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
