"""Every context's tables, imported in one place so Alembic and tests see the whole schema."""

from agents_ui.accounts.models import AuditEntry, LoginSession, LoginThrottle, User
from case_bridge.models import (
    ApiClient,
    Case,
    CaseAttachment,
    CaseCall,
    CaseEvent,
    CaseNumberCounter,
    Category,
    DeliveryAttempt,
    Department,
    DepartmentMember,
    InboundUpdate,
    OutboxMessage,
    RoutingRule,
)
from hotline.alerts import Alert
from hotline.db import Base
from recording.models import KeyPhraseHit, Recording, RecordingPause, Transcript, TranscriptSegment
from telephony.models import Call

__all__ = [
    "Alert",
    "ApiClient",
    "AuditEntry",
    "Base",
    "Call",
    "Case",
    "CaseAttachment",
    "CaseCall",
    "CaseEvent",
    "CaseNumberCounter",
    "Category",
    "DeliveryAttempt",
    "Department",
    "DepartmentMember",
    "InboundUpdate",
    "KeyPhraseHit",
    "LoginSession",
    "LoginThrottle",
    "OutboxMessage",
    "Recording",
    "RecordingPause",
    "RoutingRule",
    "Transcript",
    "TranscriptSegment",
    "User",
]
