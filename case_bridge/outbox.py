"""Sending the outbox: SMS, e-mail and webhooks written by ``notify`` with the change they tell of.

One run (``deliver_due``) works in three kinds of short transactions, and never holds one open
while a receiver is being waited for:

1. claim: due PENDING rows are taken with a lease (``next_attempt_at`` moved past the time the
   sends may take). On PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``; on every engine
   the lease is written only if ``next_attempt_at`` is still what was read (compare-and-set), so
   of two workers that read the same rows (SQLite reads take no lock) only one wins each row.
2. send, outside any transaction, through ``case_bridge.gateways``.
3. record, one transaction per message: a ``DeliveryAttempt`` row (the delivery log), and the
   message SENT, PENDING again after a backoff, or DEAD (refused for good, or out of attempts).

A message whose channel has no gateway configured is HELD, not failed: nothing is lost, and it
goes out once the gateway is set (``release_held``, run at the start of every run). A worker that
dies mid-send leaves its rows leased; they are due again when the lease ends, and the receiver
de-duplicates by the message's idempotency key.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from case_bridge import jobs
from case_bridge.gateways import (
    DETAIL_LIMIT,
    Delivery,
    Gateways,
    Verdict,
    configured,
)
from case_bridge.models import DeliveryAttempt, OutboxMessage, OutboxStatus
from hotline.case_settings import CaseSettings, OutboxSettings
from hotline.db import Database, after_commit, utcnow
from hotline.settings import Settings

log = logging.getLogger("case_bridge.outbox")

# Rows claimed per transaction: the lease must cover sending all of them one after the other.
CLAIM_BATCH = 10
LEASE_MARGIN = timedelta(seconds=30)
# The jitter takes up to this share off a delay, so messages that failed together spread out.
JITTER = 0.1


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # tried and to be tried again
    dead: int = 0
    held: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.sent + other.sent,
            self.failed + other.failed,
            self.dead + other.dead,
            self.held + other.held,
        )

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.dead + self.held


@dataclass(frozen=True)
class Claimed:
    """What a worker took out of the outbox: the row's values as claimed, and its lease."""

    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    payload: dict[str, Any]
    idempotency_key: str
    event: str
    attempts: int
    lease_until: datetime


class MessageNotFound(LookupError):
    pass


class NotRetryable(ValueError):
    """Only a dead or held message can be sent again by hand (a pending one is on its way)."""


# ----- the schedule ---------------------------------------------------------------------------------


def retry_delay(attempts: int, outbox: OutboxSettings, *, spread: float | None = None) -> timedelta:
    """How long after the ``attempts``-th failed try the next one is due: ``first_retry_seconds``
    doubled per try, capped at ``max_retry_seconds``, less up to 10 % jitter (``spread`` in
    [0, 1] fixes the jitter for tests; None draws it)."""
    exponent = min(max(attempts, 1) - 1, 60)  # 2**60 is past any cap already
    nominal = min(outbox.first_retry_seconds * 2**exponent, outbox.max_retry_seconds)
    # Not a secret: spreading retries out needs no cryptographic randomness.
    draw = random.random() if spread is None else spread  # noqa: S311
    return timedelta(seconds=nominal * (1 - JITTER * draw))


def _lease(cases: CaseSettings, batch: int) -> timedelta:
    """Long enough to send the whole batch at the slowest timeout; twice that, because the
    timeout bounds each socket operation and an SMTP conversation has several."""
    hooks = [hook.timeout_seconds for hook in cases.webhooks]
    longest = max(cases.sms.timeout_seconds, cases.email.timeout_seconds, *hooks)
    return timedelta(seconds=2 * longest * batch) + LEASE_MARGIN


def _no_gateway(channel: str) -> str:
    where = {"sms": "cases.sms.gateway_url", "email": "cases.email.smtp_host", "webhook": "cases.webhooks"}
    return f"held: no {channel} gateway configured ({where.get(channel, 'unknown channel')})"


# ----- one run ---------------------------------------------------------------------------------------


def deliver_due(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 100,
    gateways: Gateways | None = None,
) -> DeliveryReport:
    """Send up to ``limit`` due messages; each is tried at most once per run.

    ``now`` fixes the clock (tests); without it every step reads the real time. ``gateways``
    replaces the ones made from the settings (tests); those made here are closed at the end.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    started = clock()
    own = gateways is None
    ways = Gateways.from_settings(settings.cases) if gateways is None else gateways
    report = DeliveryReport()
    try:
        with db.unit_of_work() as session:
            release_held(session, settings, now=started)
        while report.total < limit:
            batch = min(CLAIM_BATCH, limit - report.total)
            claimed, held = _claim(db, settings, due_by=started, at=clock(), batch=batch)
            report += DeliveryReport(held=held)
            if not claimed and not held:
                break
            for message in claimed:
                report += _deliver_one(db, settings, ways, message, clock)
    finally:
        if own:
            ways.close()
    if report.total:
        log.info(
            "outbox: %d sent, %d to retry, %d dead, %d held",
            report.sent, report.failed, report.dead, report.held,
        )  # fmt: skip
    return report


def _claim(
    db: Database, settings: Settings, *, due_by: datetime, at: datetime, batch: int
) -> tuple[list[Claimed], int]:
    """Lease up to ``batch`` due rows (and hold those without a gateway) in one transaction."""
    lease_until = at + _lease(settings.cases, batch)
    claimed: list[Claimed] = []
    held = 0
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= due_by)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
            # PostgreSQL: another worker's claimed rows are skipped, not waited for. SQLite
            # renders nothing here; the compare-and-set below does the job there.
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            mine = (
                OutboxMessage.id == row.id,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at == row.next_attempt_at,
            )
            if not configured(settings.cases, row.channel, row.recipient):
                changed = session.execute(
                    update(OutboxMessage)
                    .where(*mine)
                    .values(status=OutboxStatus.HELD, last_error=_no_gateway(row.channel))
                    .execution_options(synchronize_session=False)
                )
                held += _rowcount(changed)
                continue
            won = session.execute(
                update(OutboxMessage)
                .where(*mine)
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(won) == 1:
                claimed.append(
                    Claimed(
                        id=row.id,
                        channel=row.channel,
                        recipient=row.recipient,
                        subject=row.subject,
                        body=row.body,
                        payload=dict(row.payload or {}),
                        idempotency_key=row.idempotency_key,
                        event=row.event,
                        attempts=row.attempts,
                        lease_until=lease_until,
                    )
                )
    return claimed, held


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


def send(ways: Gateways, message: Claimed) -> Delivery:
    """One try through the channel's gateway; never raises for a receiver's fault."""
    key = message.idempotency_key
    if message.channel == "sms" and ways.sms is not None:
        return ways.sms.send_sms(to=message.recipient, text=message.body, idempotency_key=key)
    if message.channel == "email" and ways.email is not None:
        return ways.email.send_email(
            to=message.recipient, subject=message.subject, text=message.body, idempotency_key=key
        )
    sender = ways.webhooks.get(message.recipient) if message.channel == "webhook" else None
    if sender is not None:
        event = str(message.payload.get("type") or f"case.{message.event}")
        return sender.post_event(event=event, payload=message.payload, idempotency_key=key)
    # Configured in the settings but not in the gateways given: the run's own mismatch, not the
    # message's, so it is tried again.
    return Delivery(Verdict.RETRY, None, f"no sender for {message.channel} {message.recipient}")


def _deliver_one(
    db: Database, settings: Settings, ways: Gateways, message: Claimed, clock: Callable[[], datetime]
) -> DeliveryReport:
    began = time.monotonic()
    try:
        delivery = send(ways, message)
    except Exception as exc:  # a gateway's bug must not stop the other messages; logged and retried
        log.exception("outbox: sending message %d failed", message.id)
        delivery = Delivery(Verdict.RETRY, None, f"{type(exc).__name__}: {exc}"[:DETAIL_LIMIT])
    duration_ms = int((time.monotonic() - began) * 1000)
    try:
        return _record(db, settings.cases.outbox, message, delivery, at=clock(), duration_ms=duration_ms)
    except SQLAlchemyError:
        # The row stays leased and is due again when the lease ends; the receiver de-duplicates.
        log.exception("outbox: could not record the delivery of message %d", message.id)
        return DeliveryReport(failed=1)


def _record(
    db: Database,
    outbox: OutboxSettings,
    message: Claimed,
    delivery: Delivery,
    *,
    at: datetime,
    duration_ms: int,
) -> DeliveryReport:
    attempts = message.attempts + 1
    # Still ours: nobody (an expired lease taken by another worker, an administrator) moved it.
    ours = (
        OutboxMessage.id == message.id,
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.next_attempt_at == message.lease_until,
    )
    with db.unit_of_work() as session:
        if delivery.verdict is Verdict.SENT:
            # Sent is a fact whoever holds the row now; only a row already SENT is left alone.
            changed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id, OutboxMessage.status != OutboxStatus.SENT)
                .values(status=OutboxStatus.SENT, sent_at=at, attempts=attempts, last_error="")
                .execution_options(synchronize_session=False)
            )
            outcome = DeliveryReport(sent=1)
        else:
            dead = delivery.verdict is Verdict.REFUSED or attempts >= outbox.max_attempts
            if delivery.verdict is Verdict.REFUSED:
                error = f"refused: {delivery.detail}"
            elif dead:
                error = f"gave up after {attempts} attempts: {delivery.detail}"
            else:
                error = delivery.detail
            values: dict[str, Any] = {"attempts": attempts, "last_error": error[:DETAIL_LIMIT]}
            if dead:
                values["status"] = OutboxStatus.DEAD
                log.warning("outbox: message %d is dead: %s", message.id, error)
            else:
                values["next_attempt_at"] = at + retry_delay(attempts, outbox)
            changed = session.execute(
                update(OutboxMessage)
                .where(*ours)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            outcome = DeliveryReport(dead=1) if dead else DeliveryReport(failed=1)
        if _rowcount(changed) == 0 and session.get(OutboxMessage, message.id) is None:
            return DeliveryReport()  # the message was deleted meanwhile: nothing to log against
        session.add(
            DeliveryAttempt(
                message_id=message.id,
                at=at,
                ok=delivery.verdict is Verdict.SENT,
                status_code=delivery.status_code,
                detail=delivery.detail[:DETAIL_LIMIT],
                duration_ms=duration_ms,
            )
        )
    return outcome


# ----- what administrators (and the start of each run) do ----------------------------------------


def release_held(session: Session, settings: Settings, *, now: datetime | None = None) -> int:
    """Held messages whose channel now has a gateway become due at once; returns how many."""
    now = now or utcnow()
    released = 0
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.HELD)):
        if configured(settings.cases, row.channel, row.recipient):
            row.status = OutboxStatus.PENDING
            row.next_attempt_at = now
            row.last_error = ""
            released += 1
    return released


def retry_message(session: Session, message_id: int, *, now: datetime | None = None) -> OutboxMessage:
    """An administrator sends a dead or held message again: due now, with a fresh set of
    attempts (its earlier tries stay in the delivery log)."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise MessageNotFound(message_id)
    if message.status not in (OutboxStatus.DEAD, OutboxStatus.HELD):
        raise NotRetryable(f"message {message_id} is {message.status}; only dead or held ones are retried")
    message.status = OutboxStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = now or utcnow()
    message.last_error = ""
    session.flush()
    after_commit(session, jobs.queue_delivery)  # sent at once, not at the next sweep
    return message
