"""Every context's tables, imported in one place so Alembic and tests see the whole schema."""

from agents_ui.accounts.models import AuditEntry, LoginSession, LoginThrottle, User
from hotline.db import Base
from recording.models import Recording
from telephony.models import Call

__all__ = ["AuditEntry", "Base", "Call", "LoginSession", "LoginThrottle", "Recording", "User"]
