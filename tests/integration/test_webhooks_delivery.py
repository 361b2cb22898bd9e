"""The outbox over real sockets on 127.0.0.1: webhooks to a receiver that fails at first, a text
to an HTTP SMS gateway, e-mail to an SMTP server, and a signed status update posted to the web
app. Cases are made through case_bridge.service on a migrated SQLite database, so the messages
are the ones the case events really call for.

The receivers are written here, small and bounded (timeouts, size limits), and count what they
accepted: "exactly once" means one 2xx-accepted delivery per idempotency key, whatever the
retries and timeouts on the way.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from agents_ui.app import create_app
from case_bridge import service
from case_bridge.gateways import Gateways, HttpWebhookSender, signature
from case_bridge.inbound import receive_update
from case_bridge.lifecycle import Party
from case_bridge.models import (
    Case,
    CaseEvent,
    CaseSource,
    DeliveryAttempt,
    Department,
    OutboxMessage,
    OutboxStatus,
)
from case_bridge.outbox import DeliveryReport, deliver_due
from case_bridge.timeline import Actor
from hotline.case_settings import CaseSettings, EmailSettings, OutboxSettings, SmsSettings, WebhookSettings
from hotline.db import Database
from hotline.migrate import upgrade
from hotline.settings import DatabaseSettings, RedisSettings, Settings, SiteSettings
from tests import servers
from tests.integration.web_alone import serving
from tests.servers import HOST, free_port

SECRET = "grid-platform-shared-secret-01"
FAST = OutboxSettings(max_attempts=10, first_retry_seconds=0.05, max_retry_seconds=0.2, every_seconds=1)
AGENT = Actor(name="li.agent", party=Party.HOTLINE)
MAX_REQUEST = 256 * 1024  # the receivers' own limit: a test sends nothing near it


# ----- a webhook receiver -----------------------------------------------------------------------------


@dataclass
class Receiver:
    """What a receiver saw: every try (key, status answered) and the payloads it accepted."""

    url: str
    tries: list[tuple[str, int]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> payload
    accepted_count: Counter[str] = field(default_factory=Counter)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


Decide = Callable[[Receiver, str, int], tuple[int, float]]  # (receiver, key, try number) -> status, delay


@contextmanager
def http_receiver(decide: Decide, *, path: str = "/hook", secret: str = SECRET) -> Iterator[Receiver]:
    """A webhook receiver: checks the signature, asks ``decide`` what to answer (and how long
    to take), and counts a delivery accepted when it answers 2xx to it."""
    port = free_port()
    seen = Receiver(url=f"http://{HOST}:{port}{path}")

    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a stuck client cannot hold the server

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if length > MAX_REQUEST:
                self.send_error(413)
                return
            body = self.rfile.read(length)
            key = self.headers.get("Idempotency-Key", "")
            stamp = self.headers.get("X-Hotline-Timestamp", "")
            sent = self.headers.get("X-Hotline-Signature", "")
            # Checked with hmac directly, not with the code under test.
            wanted = (
                "sha256="
                + hmac.new(secret.encode(), f"{stamp}.{key}.".encode() + body, hashlib.sha256).hexdigest()
            )
            with seen.lock:
                number = len(seen.tries) + 1
                if not hmac.compare_digest(sent, wanted):
                    seen.bad_signatures += 1
                    status, delay = 401, 0.0
                else:
                    status, delay = decide(seen, key, number)
                seen.tries.append((key, status))
                if 200 <= status < 300:
                    seen.accepted[key] = json.loads(body)
                    seen.accepted_count[key] += 1
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up waiting (the timeout variant)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ----- a tiny SMTP server ------------------------------------------------------------------------------


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, Mailbox]]:
    """Just enough SMTP (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on loopback. Recipients whose
    address starts with "refuse" get 550, as a server with no such mailbox answers."""
    box = Mailbox()

    class Session(socketserver.StreamRequestHandler):
        timeout = 5

        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def read_line(self) -> bytes:
            return self.rfile.readline(1000)

        def handle(self) -> None:
            self.reply("220 hotline-test ESMTP")
            recipients: list[str] = []
            for _ in range(100):  # bounded: a client cannot keep a session forever
                line = self.read_line()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    self.reply("250-hotline-test")
                    self.reply("250 8BITMIME")
                elif verb == b"MAIL":
                    recipients = []
                    self.reply("250 OK")
                elif verb == b"RCPT":
                    address = line.decode(errors="replace").partition(":")[2].strip().strip("<>")
                    if address.startswith("refuse"):
                        with box.lock:
                            box.refused.append(address)
                        self.reply("550 5.1.1 no such mailbox")
                    else:
                        recipients.append(address)
                        self.reply("250 OK")
                elif verb == b"DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    self.take_data()
                    self.reply("250 queued")
                elif verb in (b"RSET", b"NOOP"):
                    self.reply("250 OK")
                elif verb == b"QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not here")

        def take_data(self) -> None:
            lines: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(MAX_REQUEST)
                if line in (b".\r\n", b".\n", b""):
                    break
                size += len(line)
                if size > MAX_REQUEST:
                    raise ConnectionError("message too large")
                lines.append(line[1:] if line.startswith(b"..") else line)  # undo dot-stuffing
            parsed = email.message_from_bytes(b"".join(lines), policy=default_policy)
            assert isinstance(parsed, EmailMessage)
            with box.lock:
                box.messages.append(parsed)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    server = Server((HOST, 0), Session)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="smtp-receiver", daemon=True)
    thread.start()
    try:
        yield port, box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ----- cases and the outbox loop ----------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def make_settings(**cases: Any) -> Settings:
    return Settings(cases=CaseSettings(outbox=FAST, **cases))


def grid_hook(url: str) -> WebhookSettings:
    return WebhookSettings(name="grid", url=url, secret=SECRET)


def file_cases(
    db: Database, settings: Settings, count: int, *, walk: bool = True, **department: str
) -> list[str]:
    """``count`` cases dispatched to the water company; with ``walk`` the department signs for
    and replies to each and the hotline closes them (every step an event)."""
    numbers = []
    with db.unit_of_work() as session:
        # One water company per database (the PostgreSQL tests share theirs).
        if session.scalar(select(Department.id).where(Department.code == "water")) is None:
            session.add(Department(code="water", name="自来水公司", **department))
    for n in range(count):
        with db.unit_of_work() as session:
            case, _ = service.create_case(
                session,
                service.NewCase(
                    source=CaseSource.PHONE,
                    content=f"东华街道{n}号停水",
                    caller_number="13800138000",
                    department_code="water",
                ),
                actor=AGENT,
                settings=settings,
            )
            numbers.append(case.number)
            if walk:
                staff = Actor("water.staff", Party.DEPARTMENT, frozenset({case.department_id or 0}))
                service.sign_for(session, case, actor=staff, settings=settings)
                service.reply(session, case, "已恢复供水", actor=staff, settings=settings)
                service.close_case(session, case, actor=AGENT, settings=settings)
    return numbers


def event_ids(db: Database, numbers: list[str] | None = None) -> set[str]:
    """The webhook event ids of these cases' timeline rows (of every case when None)."""
    query = select(CaseEvent.id)
    if numbers is not None:
        query = query.join(Case, Case.id == CaseEvent.case_id).where(Case.number.in_(numbers))
    with db.unit_of_work() as session:
        return {f"case-event-{i}" for i in session.scalars(query)}


def pending(db: Database) -> int:
    with db.unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING)
            )
            or 0
        )


def deliver_until_done(
    db: Database, settings: Settings, gateways: Gateways | None = None, *, rounds: int = 200
) -> DeliveryReport:
    """Run the worker as beat would, until nothing waits (bounded: a bug cannot hang the suite)."""
    total = DeliveryReport()
    for _ in range(rounds):
        total += deliver_due(db, settings, gateways=gateways)
        if pending(db) == 0:
            return total
        time.sleep(0.05)
    raise AssertionError(f"the outbox still had {pending(db)} pending messages after {rounds} rounds")


def statuses(db: Database, channel: str) -> Counter[str]:
    with db.unit_of_work() as session:
        return Counter(session.scalars(select(OutboxMessage.status).where(OutboxMessage.channel == channel)))


# ----- webhooks ---------------------------------------------------------------------------------------


def test_given_a_receiver_failing_the_first_three_when_delivered_then_every_event_arrives_once(db):
    def first_three_fail(_seen: Receiver, _key: str, number: int) -> tuple[int, float]:
        return (503 if number <= 3 else 200), 0.0

    with http_receiver(first_three_fail) as grid:
        settings = make_settings(webhooks=(grid_hook(grid.url),))
        file_cases(db, settings, 3)
        report = deliver_until_done(db, settings)

    events = event_ids(db)
    assert len(events) == 3 * 7  # intake, file, dispatch, sign_for, start_handling, reply, close
    assert {p["event_id"] for p in grid.accepted.values()} == events
    assert set(grid.accepted_count.values()) == {1}  # one accepted delivery per key
    assert grid.bad_signatures == 0
    assert [status for _, status in grid.tries[:3]] == [503, 503, 503]
    assert report.sent == len(events) and report.dead == 0
    assert statuses(db, "webhook") == Counter({"sent": len(events)})
    with db.unit_of_work() as session:
        log = session.execute(select(DeliveryAttempt.ok, DeliveryAttempt.status_code)).all()
    # The delivery log has every try: the three refusals and one success per message.
    assert Counter(log) == Counter({(True, 200): len(events), (False, 503): 3})


def test_given_a_receiver_that_times_out_once_when_retried_then_its_409_counts_as_delivered(db):
    def slow_first(seen: Receiver, key: str, number: int) -> tuple[int, float]:
        if key in seen.accepted:
            return 409, 0.0  # "I have this one already": the first try did arrive
        return 200, (1.5 if number == 1 else 0.0)  # the first answer comes after the sender gave up

    with http_receiver(slow_first) as grid:
        hook = grid_hook(grid.url)
        settings = make_settings(webhooks=(hook,))
        file_cases(db, settings, 1, walk=False)
        ways = Gateways(webhooks={"grid": HttpWebhookSender(hook, timeout=0.5)})
        try:
            report = deliver_until_done(db, settings, ways)
        finally:
            ways.close()

    events = event_ids(db)
    assert {p["event_id"] for p in grid.accepted.values()} == events
    assert set(grid.accepted_count.values()) == {1}
    assert report.sent == len(events) and statuses(db, "webhook") == Counter({"sent": len(events)})
    with db.unit_of_work() as session:
        first = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        assert first is not None
        log = session.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.message_id == first.id).order_by(DeliveryAttempt.id)
        ).all()
    assert [(a.ok, a.status_code) for a in log] == [(False, None), (True, 409)]
    assert "no answer within 0.5 s" in log[0].detail and log[0].duration_ms >= 500


# ----- SMS and e-mail ---------------------------------------------------------------------------------


@dataclass
class SmsGatewaySeen:
    texts: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)


@contextmanager
def sms_gateway() -> Iterator[tuple[str, SmsGatewaySeen]]:
    port = free_port()
    seen = SmsGatewaySeen()

    class Handler(BaseHTTPRequestHandler):
        timeout = 5

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(min(length, MAX_REQUEST))
            seen.texts.append(json.loads(body))
            seen.authorizations.append(self.headers.get("Authorization", ""))
            reply = b'{"id": "sms-1", "status": "queued"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="sms-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}/v1/sms", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_given_an_sms_gateway_and_an_smtp_server_when_cases_move_then_texts_and_mail_arrive(db):
    with sms_gateway() as (sms_url, texts), smtp_receiver() as (smtp_port, mailbox):
        settings = make_settings(
            sms=SmsSettings(gateway_url=sms_url, api_key="gateway-key", sender="12345"),
            email=EmailSettings(smtp_host=HOST, smtp_port=smtp_port, sender="hotline@example.gov.cn"),
            hotline_emails=("duty@example.gov.cn", "refuse.me@example.gov.cn"),
        )
        [number] = file_cases(db, settings, 1, sms_number="13900139000", email="water@example.gov.cn")
        report = deliver_until_done(db, settings)

    # Dispatch: the department's text and mail; reply: the hotline's two addresses; close: the citizen.
    assert sorted((t["to"], t["sender"]) for t in texts.texts) == [
        ("13800138000", "12345"),
        ("13900139000", "12345"),
    ]
    assert set(texts.authorizations) == {"Bearer gateway-key"}
    assert any(number in t["text"] and "派遣" in t["text"] for t in texts.texts)
    assert statuses(db, "sms") == Counter({"sent": 2})

    received = {str(m["To"]): m for m in mailbox.messages}
    assert set(received) == {"water@example.gov.cn", "duty@example.gov.cn"}
    dispatch = received["water@example.gov.cn"]
    assert str(dispatch["Subject"]) == f"[12345] {number} dispatch"
    assert number in dispatch.get_content() and str(dispatch["Message-ID"]).startswith("<outbox.")
    # The refused mailbox: 550 is final, so the message is dead after one try, with the reason.
    assert mailbox.refused == ["refuse.me@example.gov.cn"]
    assert statuses(db, "email") == Counter({"sent": 2, "dead": 1})
    with db.unit_of_work() as session:
        dead = session.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)).one()
    assert dead.attempts == 1 and "550" in dead.last_error and "no such mailbox" in dead.last_error
    assert (report.sent, report.dead) == (4, 1)


def test_given_no_gateways_when_cases_move_then_texts_and_mail_are_held_and_sent_once_configured(db):
    held_settings = make_settings()
    file_cases(db, held_settings, 1, walk=False, sms_number="13900139000", email="water@example.gov.cn")

    first = deliver_due(db, held_settings)

    assert first.held == 2 and statuses(db, "sms") == Counter({"held": 1})
    with sms_gateway() as (sms_url, texts), smtp_receiver() as (smtp_port, mailbox):
        configured = make_settings(
            sms=SmsSettings(gateway_url=sms_url),
            email=EmailSettings(smtp_host=HOST, smtp_port=smtp_port),
        )
        deliver_until_done(db, configured)
    assert len(texts.texts) == 1 and len(mailbox.messages) == 1
    assert statuses(db, "sms") == Counter({"sent": 1}) and statuses(db, "email") == Counter({"sent": 1})


# ----- a status update over HTTP ------------------------------------------------------------------------


def test_given_a_signed_update_posted_twice_over_http_when_replayed_then_the_case_moves_once(tmp_path):
    state = tmp_path / "state"
    settings = Settings(
        site=SiteSettings(state_dir=state),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'web.db'}"),
        redis=RedisSettings(url="redis://127.0.0.1:1/0", managed=False),
        cases=CaseSettings(
            webhooks=(
                WebhookSettings(
                    name="water_system",
                    url="http://127.0.0.1:9/unused",
                    secret=SECRET,
                    accepts_updates=True,
                ),
            )
        ),
    )
    upgrade(settings.database_url)
    app = create_app(settings)
    [number] = file_cases(app.state.db, settings, 1, walk=False)
    body = json.dumps({"case": number, "action": "sign_for"}).encode()

    def signed_headers() -> dict[str, str]:
        stamp = str(int(datetime.now(UTC).timestamp()))
        return {
            "Content-Type": "application/json",
            "Idempotency-Key": "water-system-update-0001",
            "X-Hotline-Timestamp": stamp,
            "X-Hotline-Signature": signature(SECRET, stamp, "water-system-update-0001", body),
        }

    try:
        # A plain client: no Origin, no cookie, as a department's server posts.
        with serving(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            first = client.post(
                "/api/integrations/water_system/updates", content=body, headers=signed_headers()
            )
            second = client.post(
                "/api/integrations/water_system/updates", content=body, headers=signed_headers()
            )
            stale = {**signed_headers(), "X-Hotline-Timestamp": "1000000000"}
            old = client.post("/api/integrations/water_system/updates", content=body, headers=stale)
        with app.state.db.unit_of_work() as session:
            case = service.get_case(session, number)
            signs = session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "sign_for")
            ).all()
            status = case.status
    finally:
        app.state.db.dispose()

    assert first.status_code == 200 and first.json() == {
        "outcome": "applied",
        "case": number,
        "status": "signed",
        "replayed": False,
    }
    assert second.status_code == 200 and second.json()["replayed"] is True
    assert old.status_code == 401
    assert status == "signed" and [e.actor for e in signs] == ["external:water_system"]


# ----- two workers on PostgreSQL ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[Database]:
    with servers.postgres_server() as server:
        url = server.create_database()
        upgrade(url)
        database = Database(url)
        try:
            yield database
        finally:
            database.dispose()


def test_given_three_workers_on_postgresql_when_they_deliver_then_each_event_is_sent_once(postgres_db):
    db = postgres_db

    def slow_ok(_seen: Receiver, _key: str, _number: int) -> tuple[int, float]:
        return 200, 0.01  # long enough that both workers are claiming at the same time

    with http_receiver(slow_ok) as grid:
        settings = make_settings(webhooks=(grid_hook(grid.url),))
        numbers = file_cases(db, settings, 6)
        gate = threading.Barrier(3)
        reports: list[DeliveryReport] = []

        def worker() -> None:
            gate.wait()
            reports.append(deliver_due(db, settings, limit=1000))

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

    events = event_ids(db, numbers)
    assert {p["event_id"] for p in grid.accepted.values()} == events
    assert set(grid.accepted_count.values()) == {1} and len(grid.tries) == len(events)
    assert sum(r.sent for r in reports) == len(events)
    assert statuses(db, "webhook") == Counter({"sent": len(events)})


def test_given_the_same_update_at_once_on_postgresql_when_both_land_then_the_case_moves_once(postgres_db):
    db = postgres_db
    settings = make_settings(
        webhooks=(
            WebhookSettings(
                name="water_pg", url="http://127.0.0.1:9/unused", secret=SECRET, accepts_updates=True
            ),
        )
    )
    [number] = file_cases(db, settings, 1, walk=False)
    body = json.dumps({"case": number, "action": "sign_for"}).encode()
    stamp = str(int(datetime.now(UTC).timestamp()))
    gate = threading.Barrier(4)
    results: list[Any] = []

    def deliver() -> None:
        gate.wait()
        with db.unit_of_work() as session:
            result = receive_update(
                session,
                settings,
                system="water_pg",
                idempotency_key="same-key",
                body=body,
                timestamp=stamp,
                signature=signature(SECRET, stamp, "same-key", body),
            )
        results.append(result)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(r.replayed for r in results) == [False, True, True, True]
    with db.unit_of_work() as session:
        case = service.get_case(session, number)
        signs = session.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.case_id == case.id, CaseEvent.action == "sign_for")
        )
    assert signs == 1
