"""Alerts: conditions an operator must act on (a full recording disk, transcription failing).

One open alert per key: raising it again counts and refreshes it instead of flooding the list, and
clearing it closes it with the time, so the history of incidents stays in the table.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline.db import Base, UtcDateTime, utcnow

log = logging.getLogger("hotline.alerts")


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(16))  # "critical" or "warning"
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    count: Mapped[int] = mapped_column(Integer, default=1)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)

    __table_args__ = (Index("ix_alerts_key_open", "key", "cleared_at"),)


def raise_alert(session: Session, key: str, message: str, *, severity: str = "critical") -> Alert:
    now = utcnow()
    alert = session.scalar(select(Alert).where(Alert.key == key, Alert.cleared_at.is_(None)))
    if alert is None:
        alert = Alert(key=key, severity=severity, message=message, raised_at=now, last_seen_at=now, count=1)
        session.add(alert)
        log.error("alert raised", extra={"alert": key, "why": message})
    else:
        alert.count += 1
        alert.last_seen_at = now
        alert.message = message
    return alert


def clear_alert(session: Session, key: str) -> None:
    alert = session.scalar(select(Alert).where(Alert.key == key, Alert.cleared_at.is_(None)))
    if alert is not None:
        alert.cleared_at = utcnow()
        log.warning("alert cleared", extra={"alert": key})


def open_alerts(session: Session) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.cleared_at.is_(None)).order_by(Alert.raised_at)))
