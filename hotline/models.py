"""Every context's tables, imported in one place so Alembic and tests see the whole schema."""

from agents_ui.accounts.models import AuditEntry, LoginSession, LoginThrottle, User
from hotline.alerts import Alert
from hotline.db import Base
from recording.models import KeyPhraseHit, Recording, RecordingPause, Transcript, TranscriptSegment
from telephony.models import Call

__all__ = [
    "Alert",
    "AuditEntry",
    "Base",
    "Call",
    "KeyPhraseHit",
    "LoginSession",
    "LoginThrottle",
    "Recording",
    "RecordingPause",
    "Transcript",
    "TranscriptSegment",
    "User",
]
