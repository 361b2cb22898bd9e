"""Durable facts about calls. Live state stays in Asterisk; these rows are what survives it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UtcDateTime


class Disposition(StrEnum):
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"  # an agent took the call
    ABANDONED = "abandoned"  # the caller hung up while waiting in a queue
    IVR_ONLY = "ivr_only"  # ended in the IVR (hung up during greeting, flow chose hangup)
    VOICEMAIL = "voicemail"  # after-hours message left
    # Turned away: every channel was busy, or the queue gave up (max_wait, max_callers) and the
    # caller left no message in its overflow flow.
    OVERFLOW = "overflow"
    FAILED = "failed"  # never got into the IVR (e.g. rejected before answer)
    ABNORMAL = "abnormal"  # the call was live when Asterisk went away; closed on recovery


class Call(Base):
    """One inbound call, keyed by the Asterisk uniqueid of the caller's channel.

    The row is written when the channel appears (not when a CDR arrives) so a call that is live
    when Asterisk dies is still on record and is closed as abnormal on recovery.
    """

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    node: Mapped[str] = mapped_column(String(40), default="main")
    channel: Mapped[str] = mapped_column(String(128))
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(128), default="")
    called_number: Mapped[str] = mapped_column(String(64), default="")
    trunk: Mapped[str] = mapped_column(String(40), default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    agent_connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    disposition: Mapped[str] = mapped_column(String(20), default=Disposition.IN_PROGRESS)
    hangup_cause: Mapped[str] = mapped_column(String(64), default="")
    ivr_path: Mapped[str] = mapped_column(Text, default="")
    route: Mapped[str] = mapped_column(String(20), default="")
    queue: Mapped[str] = mapped_column(String(40), default="")
    agent: Mapped[str] = mapped_column(String(128), default="")
    end_reason: Mapped[str] = mapped_column(Text, default="")
    # What the agent recorded in wrap-up (settings.agents.dispositions), and their note.
    outcome: Mapped[str] = mapped_column(String(32), default="", server_default="")
    outcome_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Whole seconds from the channel's start to its hang-up, set when the row closes: the
    # recordings search filters on it.
    duration_seconds: Mapped[int | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_open", "ended_at"),
        # The supervisors' search: one field narrowed, newest first.
        Index("ix_calls_caller_started", "caller_number", "started_at"),
        Index("ix_calls_agent_started", "agent", "started_at"),
        Index("ix_calls_queue_started", "queue", "started_at"),
        Index("ix_calls_disposition_started", "disposition", "started_at"),
    )

    @property
    def is_open(self) -> bool:
        return self.ended_at is None
