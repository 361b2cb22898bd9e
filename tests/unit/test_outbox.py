"""The outbox worker: backoff, signatures, dead and held messages, and claims two workers share.

Receivers here are httpx MockTransports in front of the real gateways (the wire format is what
is checked); tests/integration/test_webhooks_delivery.py sends over real sockets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agents_ui.accounts.models import AuditEntry, Role
from agents_ui.app import create_app
from case_bridge import gateways
from case_bridge.gateways import (
    Delivery,
    Gateways,
    HttpSmsGateway,
    HttpWebhookSender,
    Verdict,
    http_verdict,
    signature,
    signature_matches,
)
from case_bridge.lifecycle import Party
from case_bridge.models import CaseSource, DeliveryAttempt, Department, OutboxMessage, OutboxStatus
from case_bridge.outbox import (
    DeliveryReport,
    NotRetryable,
    deliver_due,
    release_held,
    retry_delay,
    retry_message,
)
from case_bridge.service import NewCase, create_case
from case_bridge.timeline import Actor
from hotline.case_settings import CaseSettings, OutboxSettings, SmsSettings, WebhookSettings
from hotline.db import Database
from hotline.settings import DatabaseSettings, RedisSettings, Settings, SiteSettings
from tests.unit.accounts_support import ORIGIN, logged_in_as

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SECRET = "grid-platform-shared-secret"
HOOK = WebhookSettings(name="grid", url="http://grid.example/hook", secret=SECRET)
SMS = SmsSettings(gateway_url="http://sms.example/send", api_key="sms-key", sender="12345")
OUTBOX = OutboxSettings(max_attempts=3, first_retry_seconds=5, max_retry_seconds=60)

Handler = Callable[[httpx.Request], httpx.Response]


def settings_with(
    *,
    sms: SmsSettings | None = SMS,
    hooks: tuple[WebhookSettings, ...] = (HOOK,),
    outbox: OutboxSettings = OUTBOX,
) -> Settings:
    return Settings(cases=CaseSettings(sms=sms or SmsSettings(), webhooks=hooks, outbox=outbox))


def add_message(db: Database, channel: str = "webhook", *, n: int = 1, at: datetime = T0) -> int:
    with db.unit_of_work() as session:
        recipient = {"webhook": "grid", "sms": "13800138000", "email": "water@example.org"}[channel]
        row = OutboxMessage(
            channel=channel,
            recipient=recipient,
            subject="[12345] 2026030200001 dispatch" if channel == "email" else "",
            body="新工单2026030200001已派遣" if channel != "webhook" else "",
            payload={"event_id": f"case-event-{n}", "type": "case.dispatch", "case": {"number": "1"}}
            if channel == "webhook"
            else {},
            idempotency_key=f"{channel}:{n}:{recipient}",
            event="dispatch",
            next_attempt_at=at,
            created_at=at,
        )
        session.add(row)
        session.flush()
        return row.id


def message(db: Database, message_id: int) -> OutboxMessage:
    with db.unit_of_work() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row


def attempts_of(db: Database, message_id: int) -> list[DeliveryAttempt]:
    with db.unit_of_work() as session:
        return list(
            session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.message_id == message_id)
                .order_by(DeliveryAttempt.id)
            )
        )


def answering(*statuses: int, seen: list[httpx.Request] | None = None) -> Handler:
    """A receiver giving these statuses in turn (the last one ever after)."""
    queue = list(statuses)

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(status, text=f"answer {status}")

    return handle


def webhook_ways(handler: Handler, clock: Callable[[], float] | None = None) -> Gateways:
    transport = httpx.MockTransport(handler)
    sender = HttpWebhookSender(HOOK, transport=transport, clock=clock or (lambda: T0.timestamp()))
    return Gateways(webhooks={"grid": sender})


# ----- the schedule ---------------------------------------------------------------------------------


def test_given_failed_tries_when_the_next_is_scheduled_then_the_delay_doubles_up_to_the_cap():
    delays = [retry_delay(n, OUTBOX, spread=0).total_seconds() for n in range(1, 7)]
    assert delays == [5, 10, 20, 40, 60, 60]


def test_given_jitter_when_drawn_then_a_delay_is_at_most_a_tenth_shorter_never_longer():
    for n in range(1, 8):
        nominal = min(5 * 2 ** (n - 1), 60)
        assert retry_delay(n, OUTBOX, spread=1).total_seconds() == pytest.approx(nominal * 0.9)
        drawn = retry_delay(n, OUTBOX).total_seconds()
        assert nominal * 0.9 <= drawn <= nominal


def test_given_a_receiver_that_fails_when_delivered_then_the_next_try_is_due_after_the_backoff(db):
    settings = settings_with(
        outbox=OutboxSettings(max_attempts=5, first_retry_seconds=5, max_retry_seconds=60)
    )
    message_id = add_message(db)
    ways = webhook_ways(answering(503))

    report = deliver_due(db, settings, now=T0, gateways=ways)

    row = message(db, message_id)
    assert report.failed == 1 and row.status == OutboxStatus.PENDING and row.attempts == 1
    assert T0 + timedelta(seconds=4.5) <= row.next_attempt_at <= T0 + timedelta(seconds=5)
    assert "503" in row.last_error
    # Not due yet: a run a second later leaves it alone.
    assert deliver_due(db, settings, now=T0 + timedelta(seconds=1), gateways=ways).total == 0
    [attempt] = attempts_of(db, message_id)
    assert (attempt.ok, attempt.status_code) == (False, 503)


# ----- the webhook's wire format --------------------------------------------------------------------


def test_given_a_webhook_when_sent_then_headers_and_signature_are_what_the_receiver_checks(db):
    seen: list[httpx.Request] = []
    message_id = add_message(db)

    deliver_due(db, settings_with(), now=T0, gateways=webhook_ways(answering(200, seen=seen)))

    [request] = seen
    body = request.content
    stamp = request.headers["X-Hotline-Timestamp"]
    assert stamp == str(int(T0.timestamp()))
    key = request.headers["Idempotency-Key"].encode()
    signed = stamp.encode() + b"." + key + b"." + body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert request.headers["X-Hotline-Signature"] == f"sha256={expected}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Hotline-Event"] == "case.dispatch"
    assert request.headers["Idempotency-Key"] == "webhook:1:grid"
    assert json.loads(body)["event_id"] == "case-event-1"
    row = message(db, message_id)
    assert row.status == OutboxStatus.SENT and row.sent_at == T0 and row.attempts == 1


def test_given_a_signature_when_body_time_or_secret_differ_then_it_does_not_match():
    body = b'{"case":"2026030200001","action":"sign_for"}'
    good = signature(SECRET, "1767225600", "upd-1", body)
    assert signature_matches(SECRET, "1767225600", "upd-1", body, good)
    assert not signature_matches(SECRET, "1767225601", "upd-1", body, good)
    assert not signature_matches(SECRET, "1767225600", "upd-2", body, good)  # replayed under a new key
    assert not signature_matches(SECRET, "1767225600", "upd-1", body + b" ", good)
    assert not signature_matches("another-secret-of-16", "1767225600", "upd-1", body, good)
    assert not signature_matches(SECRET, "1767225600", "upd-1", body, good.removeprefix("sha256="))
    assert not signature_matches(SECRET, "１７６７", "upd-1", body, good)  # full-width digits are not a time


def test_given_the_sms_gateway_when_a_text_is_sent_then_it_gets_json_and_the_bearer_key(db):
    seen: list[httpx.Request] = []
    message_id = add_message(db, "sms")
    sms = HttpSmsGateway(SMS, transport=httpx.MockTransport(answering(202, seen=seen)))

    report = deliver_due(db, settings_with(), now=T0, gateways=Gateways(sms=sms))

    [request] = seen
    assert report.sent == 1 and message(db, message_id).status == OutboxStatus.SENT
    assert str(request.url) == "http://sms.example/send" and request.method == "POST"
    assert request.headers["Authorization"] == "Bearer sms-key"
    assert request.headers["Idempotency-Key"] == "sms:1:13800138000"
    assert json.loads(request.content) == {
        "to": "13800138000",
        "text": "新工单2026030200001已派遣",
        "sender": "12345",
    }


# ----- what answers mean ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "webhook", "verdict"),
    [
        (200, False, Verdict.SENT),
        (204, True, Verdict.SENT),
        (400, False, Verdict.REFUSED),
        (401, True, Verdict.REFUSED),
        (404, True, Verdict.REFUSED),
        (410, False, Verdict.REFUSED),
        (408, False, Verdict.RETRY),
        (425, True, Verdict.RETRY),
        (429, True, Verdict.RETRY),
        (409, False, Verdict.RETRY),
        (409, True, Verdict.SENT),  # a webhook receiver that has it already
        (500, True, Verdict.RETRY),
        (503, False, Verdict.RETRY),
        (301, True, Verdict.RETRY),
    ],
)
def test_given_an_http_answer_when_judged_then_only_a_lasting_4xx_is_final(status, webhook, verdict):
    assert http_verdict(status, conflict_means_delivered=webhook) is verdict


def test_given_a_receiver_that_says_400_when_delivered_then_the_message_is_dead_at_once_with_why(db):
    message_id = add_message(db)

    report = deliver_due(db, settings_with(), now=T0, gateways=webhook_ways(answering(400)))

    row = message(db, message_id)
    assert report.dead == 1 and row.status == OutboxStatus.DEAD and row.attempts == 1
    assert row.last_error.startswith("refused: 400") and "answer 400" in row.last_error


def test_given_a_receiver_that_has_it_already_when_it_says_409_then_the_webhook_counts_as_sent(db):
    message_id = add_message(db)

    report = deliver_due(db, settings_with(), now=T0, gateways=webhook_ways(answering(409)))

    assert report.sent == 1 and message(db, message_id).status == OutboxStatus.SENT


def test_given_a_receiver_that_keeps_failing_when_max_attempts_are_used_then_the_message_is_dead(db):
    message_id = add_message(db)
    ways = webhook_ways(answering(503))
    moment = T0
    reports = []
    for _ in range(5):
        reports.append(deliver_due(db, settings_with(), now=moment, gateways=ways))
        moment += timedelta(minutes=5)  # past any backoff

    row = message(db, message_id)
    assert [r.failed for r in reports] == [1, 1, 0, 0, 0]
    assert [r.dead for r in reports] == [0, 0, 1, 0, 0]
    assert row.status == OutboxStatus.DEAD and row.attempts == 3
    assert row.last_error.startswith("gave up after 3 attempts: 503")
    assert [a.status_code for a in attempts_of(db, message_id)] == [503, 503, 503]


def test_given_a_receiver_that_times_out_when_delivered_then_it_is_tried_again_with_the_reason(db):
    message_id = add_message(db)

    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    deliver_due(db, settings_with(), now=T0, gateways=webhook_ways(too_slow))

    row = message(db, message_id)
    assert row.status == OutboxStatus.PENDING and "no answer within 10 s" in row.last_error
    [attempt] = attempts_of(db, message_id)
    assert attempt.status_code is None and not attempt.ok


# ----- held, released, retried by hand ---------------------------------------------------------------


def test_given_no_sms_gateway_when_due_then_the_text_is_held_and_goes_out_once_one_is_set(db):
    message_id = add_message(db, "sms")

    report = deliver_due(db, settings_with(sms=None), now=T0)

    row = message(db, message_id)
    assert report.held == 1 and row.status == OutboxStatus.HELD and row.attempts == 0
    assert "cases.sms.gateway_url" in row.last_error and attempts_of(db, message_id) == []
    # Still no gateway: it stays held, and is not counted again.
    assert deliver_due(db, settings_with(sms=None), now=T0 + timedelta(hours=1)).total == 0

    seen: list[httpx.Request] = []
    sms = HttpSmsGateway(SMS, transport=httpx.MockTransport(answering(200, seen=seen)))
    later = T0 + timedelta(hours=2)
    report = deliver_due(db, settings_with(), now=later, gateways=Gateways(sms=sms))

    assert report.sent == 1 and len(seen) == 1
    assert message(db, message_id).status == OutboxStatus.SENT


def test_given_a_webhook_no_longer_configured_when_due_then_it_is_held_not_failed(db):
    message_id = add_message(db)

    deliver_due(db, settings_with(hooks=()), now=T0)

    assert message(db, message_id).status == OutboxStatus.HELD
    with db.unit_of_work() as session:
        assert release_held(session, settings_with(hooks=()), now=T0) == 0
    with db.unit_of_work() as session:
        assert release_held(session, settings_with(), now=T0) == 1
    assert message(db, message_id).status == OutboxStatus.PENDING


def test_given_a_dead_message_when_an_administrator_retries_it_then_it_is_due_with_fresh_attempts(db):
    message_id = add_message(db)
    deliver_due(db, settings_with(), now=T0, gateways=webhook_ways(answering(400)))
    later = T0 + timedelta(hours=1)

    with db.unit_of_work() as session:
        retry_message(session, message_id, now=later)
    row = message(db, message_id)
    assert (row.status, row.attempts, row.next_attempt_at, row.last_error) == (
        OutboxStatus.PENDING,
        0,
        later,
        "",
    )

    deliver_due(db, settings_with(), now=later, gateways=webhook_ways(answering(200)))
    assert message(db, message_id).status == OutboxStatus.SENT
    assert [a.ok for a in attempts_of(db, message_id)] == [False, True]  # the log keeps both
    with db.unit_of_work() as session, pytest.raises(NotRetryable):
        retry_message(session, message_id)


# ----- two workers ------------------------------------------------------------------------------------


def test_given_a_second_run_during_a_send_when_it_claims_then_the_message_in_flight_is_not_sent_twice(db):
    for n in range(1, 6):
        add_message(db, n=n)
    settings = settings_with()
    sent: Counter[str] = Counter()
    inner_reports: list[DeliveryReport] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent[request.headers["Idempotency-Key"]] += 1
        if len(inner_reports) < 2:
            # Another worker runs while this one waits for the receiver (same clock, same rows).
            inner_reports.append(deliver_due(db, settings, now=T0, gateways=ways))
        return httpx.Response(200)

    ways = webhook_ways(handle)
    outer = deliver_due(db, settings, now=T0, gateways=ways)

    assert sorted(sent) == [f"webhook:{n}:grid" for n in range(1, 6)]
    assert set(sent.values()) == {1}
    # The first run leased all five before it sent any: the others found nothing due.
    assert outer.sent == 5 and [r.total for r in inner_reports] == [0, 0]
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 5


def test_given_two_workers_in_threads_when_both_deliver_then_every_message_is_sent_once(db_url):
    first, second = Database(db_url), Database(db_url)
    try:
        for n in range(1, 41):
            add_message(first, n=n)
        sent: Counter[str] = Counter()
        lock = threading.Lock()
        gate = threading.Barrier(2)

        def handle(request: httpx.Request) -> httpx.Response:
            with lock:
                sent[request.headers["Idempotency-Key"]] += 1
            return httpx.Response(200)

        reports = []

        def worker(database: Database) -> None:
            gate.wait()
            reports.append(deliver_due(database, settings_with(), now=T0, gateways=webhook_ways(handle)))

        threads = [threading.Thread(target=worker, args=(d,)) for d in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert len(sent) == 40 and set(sent.values()) == {1}
        assert sum(r.sent for r in reports) == 40
    finally:
        first.dispose()
        second.dispose()


def test_given_a_gateway_that_raises_when_delivered_then_the_run_goes_on_and_the_message_waits(db):
    broken, fine = add_message(db, n=1), add_message(db, n=2)

    class Flaky:
        def post_event(self, *, event, payload, idempotency_key):
            if idempotency_key.startswith("webhook:1:"):
                raise RuntimeError("bug in a sender")
            return Delivery(Verdict.SENT, 200, "ok")

    report = deliver_due(db, settings_with(), now=T0, gateways=Gateways(webhooks={"grid": Flaky()}))

    assert (report.sent, report.failed) == (1, 1)
    assert (
        message(db, broken).status == OutboxStatus.PENDING
        and "bug in a sender" in message(db, broken).last_error
    )
    assert message(db, fine).status == OutboxStatus.SENT


def test_given_the_settings_when_gateways_are_made_then_only_configured_channels_have_one():
    made = Gateways.from_settings(settings_with(sms=None).cases)
    try:
        assert made.sms is None and made.email is None and set(made.webhooks) == {"grid"}
    finally:
        made.close()
    assert gateways.configured(settings_with().cases, "sms", "13800138000")
    assert not gateways.configured(settings_with().cases, "fax", "x")


# ----- the administrators' API and page ---------------------------------------------------------------


@pytest.fixture
def admin_client(tmp_path, db_url):
    app = create_app(
        Settings(
            site=SiteSettings(state_dir=tmp_path / "state"),
            database=DatabaseSettings(url=db_url),
            redis=RedisSettings(url="redis://127.0.0.1:1/0"),
            cases=settings_with().cases,
        )
    )
    with TestClient(app) as client:
        yield logged_in_as(client, app.state.db, "wang.admin", Role.ADMINISTRATOR), app.state.db
    app.state.db.dispose()


def test_given_messages_when_an_administrator_lists_them_then_newest_first_filtered_and_paged(admin_client):
    client, db = admin_client
    ids = [add_message(db, n=n) for n in range(1, 6)]
    sms = add_message(db, "sms", n=6)
    # Webhooks refused (dead), no SMS gateway (held).
    deliver_due(db, settings_with(sms=None), now=T0, gateways=webhook_ways(answering(400)))

    everything = client.get("/api/outbox").json()
    dead = client.get("/api/outbox", params={"status": "dead", "limit": 2}).json()
    rest = client.get(
        "/api/outbox", params={"status": "dead", "limit": 2, "before": dead["next_before"]}
    ).json()
    texts = client.get("/api/outbox", params={"channel": "sms"}).json()

    assert [m["id"] for m in everything["messages"]] == [sms, *reversed(ids)]
    assert everything["next_before"] is None
    assert [m["id"] for m in dead["messages"]] == [ids[4], ids[3]] and dead["next_before"] == ids[3]
    assert [m["id"] for m in rest["messages"]] == [ids[2], ids[1]]
    assert [m["id"] for m in texts["messages"]] == [sms] and texts["messages"][0]["status"] == "held"
    assert everything["messages"][1]["last_error"].startswith("refused: 400")


def test_given_a_case_number_when_filtered_then_only_that_cases_messages(admin_client):
    client, db = admin_client
    with db.unit_of_work() as session:
        session.add(Department(code="water", name="自来水公司", sms_number="13900139000"))
        session.flush()
        case, _ = create_case(
            session,
            NewCase(source=CaseSource.PHONE, content="停水", department_code="water"),
            actor=Actor("li.agent", Party.HOTLINE),
            settings=settings_with(),
            now=T0,
        )
        number = case.number
    add_message(db, n=99)  # another case's

    found = client.get("/api/outbox", params={"case": number}).json()["messages"]
    assert {(m["channel"], m["recipient"], m["case"]) for m in found} == {
        ("sms", "13900139000", number),
        ("webhook", "grid", number),
    }
    assert client.get("/api/outbox", params={"case": "2099010100001"}).json()["messages"] == []


def test_given_a_dead_message_when_read_and_retried_then_the_log_shows_and_the_retry_is_audited(admin_client):
    client, db = admin_client
    message_id = add_message(db)
    deliver_due(db, settings_with(), now=T0, gateways=webhook_ways(answering(410)))

    detail = client.get(f"/api/outbox/{message_id}").json()
    retried = client.post(f"/api/outbox/{message_id}/retry", headers={"origin": ORIGIN})
    again = client.post(f"/api/outbox/{message_id}/retry", headers={"origin": ORIGIN})

    assert detail["status"] == "dead" and detail["payload"]["event_id"] == "case-event-1"
    [attempt] = detail["delivery_log"]
    assert (attempt["ok"], attempt["status_code"]) == (False, 410)
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert again.status_code == 409 and "only dead or held" in again.json()["detail"]
    assert client.get("/api/outbox/99999").status_code == 404
    assert client.post("/api/outbox/99999/retry", headers={"origin": ORIGIN}).status_code == 404
    with db.unit_of_work() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.retry")).one()
        assert (entry.actor, entry.target) == ("wang.admin", f"outbox:{message_id}")


@pytest.mark.parametrize(("lang", "words"), [("zh-CN", "消息发送队列"), ("en", "Outbox")])
def test_given_the_outbox_page_when_opened_then_it_speaks_the_language_asked(admin_client, lang, words):
    client, _ = admin_client

    page = client.get("/admin/outbox", params={"lang": lang})

    assert page.status_code == 200 and words in page.text
    assert "/static/outbox/outbox.js" in page.text
    assert client.get("/static/outbox/outbox.js").status_code == 200
