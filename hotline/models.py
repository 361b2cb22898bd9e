"""Every context's tables, imported in one place so Alembic and tests see the whole schema."""

from hotline.db import Base
from recording.models import Recording
from telephony.models import Call

__all__ = ["Base", "Call", "Recording"]
