"""Status updates from a department's own system: who may send them, and that a replay changes
nothing (the case moves once, a refusal is given again word for word)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agents_ui.app import create_app
from case_bridge import service
from case_bridge.gateways import signature
from case_bridge.inbound import MAX_BODY_BYTES, InboundOutcome, InboundResult, receive_update
from case_bridge.lifecycle import Party
from case_bridge.models import Case, CaseEvent, CaseSource, Department, InboundUpdate, OutboxMessage
from case_bridge.timeline import Actor
from hotline.case_settings import CaseSettings, WebhookSettings
from hotline.db import Database
from hotline.settings import DatabaseSettings, RedisSettings, Settings, SiteSettings

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECRET = "water-company-system-secret"
WATER = WebhookSettings(name="water", url="http://water.example/hook", secret=SECRET, accepts_updates=True)
# Told of every event, never allowed to send updates.
MEDIA = WebhookSettings(name="media", url="http://media.example/hook", secret="media-secret-0123456")
SETTINGS = Settings(cases=CaseSettings(webhooks=(WATER, MEDIA)))
AGENT = Actor(name="li.agent", party=Party.HOTLINE)


def new_case(db: Database) -> str:
    with db.unit_of_work() as session:
        session.add(Department(code="water", name="自来水公司"))
        session.flush()
        case, _ = service.create_case(
            session,
            service.NewCase(source=CaseSource.PHONE, content="东华街道停水两天", department_code="water"),
            actor=AGENT,
            settings=SETTINGS,
            now=T0,
        )
        assert case.status == "dispatched"
        return case.number


def send(
    db: Database,
    update: dict[str, Any] | bytes,
    *,
    key: str = "upd-1",
    system: str = "water",
    at: datetime = T0,
    now: datetime | None = None,
    secret: str = SECRET,
    signed: str | None = None,
) -> InboundResult:
    body = update if isinstance(update, bytes) else json.dumps(update, ensure_ascii=False).encode()
    stamp = str(int(at.timestamp()))
    with db.unit_of_work() as session:
        return receive_update(
            session,
            SETTINGS,
            system=system,
            idempotency_key=key,
            body=body,
            timestamp=stamp,
            signature=signed if signed is not None else signature(secret, stamp, key, body),
            now=now or at,
        )


def case_of(db: Database, number: str) -> Case:
    with db.unit_of_work() as session:
        return service.get_case(session, number)


def timeline(db: Database, number: str) -> list[tuple[str, str]]:
    with db.unit_of_work() as session:
        case = service.get_case(session, number)
        rows = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
        return [(event.actor, event.action) for event in rows]


def kept(db: Database) -> list[tuple[str, str, str]]:
    with db.unit_of_work() as session:
        rows = session.scalars(select(InboundUpdate).order_by(InboundUpdate.id))
        return [(row.idempotency_key, row.outcome, row.detail) for row in rows]


# ----- who may send -----------------------------------------------------------------------------------


def test_given_a_signed_sign_for_when_received_then_the_case_is_signed_by_the_outside_system(db):
    number = new_case(db)

    result = send(db, {"case": number, "action": "sign_for"})

    assert (result.outcome, result.http_status, result.replayed) == (InboundOutcome.APPLIED, 200, False)
    assert (result.case_number, result.case_status) == (number, "signed")
    assert case_of(db, number).signed_at == T0
    assert timeline(db, number)[-1] == ("external:water", "sign_for")
    assert kept(db) == [("upd-1", "applied", "sign_for")]


def test_given_a_wrong_signature_when_received_then_401_and_nothing_changes(db):
    number = new_case(db)
    body = json.dumps({"case": number, "action": "sign_for"}).encode()

    forged = send(db, body, secret="not-the-shared-secret")
    tampered = send(db, body, signed=signature(SECRET, str(int(T0.timestamp())), "upd-1", body + b" "))
    unsigned = send(db, body, signed="")

    for result in (forged, tampered, unsigned):
        assert (result.outcome, result.http_status) == (InboundOutcome.UNAUTHORIZED, 401)
        assert "X-Hotline-Signature" in result.detail
    assert case_of(db, number).status == "dispatched" and kept(db) == []


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_given_a_timestamp_outside_five_minutes_when_received_then_401(db, skew):
    number = new_case(db)

    result = send(db, {"case": number, "action": "sign_for"}, at=T0 + skew, now=T0)

    assert result.http_status == 401 and "5 minutes" in result.detail
    assert case_of(db, number).status == "dispatched"


def test_given_a_timestamp_within_the_window_when_received_then_it_is_accepted(db):
    number = new_case(db)

    result = send(db, {"case": number, "action": "sign_for"}, at=T0 - timedelta(minutes=4), now=T0)

    assert result.outcome is InboundOutcome.APPLIED


@pytest.mark.parametrize("system", ["media", "nobody"])
def test_given_a_system_that_may_not_send_updates_when_it_does_then_404(db, system):
    number = new_case(db)

    result = send(db, {"case": number, "action": "sign_for"}, system=system, secret="media-secret-0123456")

    assert (result.outcome, result.http_status) == (InboundOutcome.UNKNOWN_SYSTEM, 404)


@pytest.mark.parametrize("key", ["", "k" * 161, "tab\there", "键"])
def test_given_a_bad_idempotency_key_when_received_then_422_and_nothing_is_kept(db, key):
    number = new_case(db)

    result = send(db, {"case": number, "action": "sign_for"}, key=key)

    assert (result.outcome, result.http_status) == (InboundOutcome.MALFORMED, 422)
    assert kept(db) == [] and case_of(db, number).status == "dispatched"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        ({"case": "1", "action": "close"}, "action"),
        ({"action": "sign_for"}, "case"),
        ({"case": "1", "action": "reply"}, "text"),
        ({"case": "1", "action": "return", "text": "x"}, "reason"),
        ({"case": "1", "action": "sign_for", "reson": "typo"}, "reson"),
    ],
)
def test_given_a_body_that_cannot_be_read_when_received_then_422_saying_why(db, body, says):
    result = send(db, body)

    assert (result.outcome, result.http_status) == (InboundOutcome.MALFORMED, 422)
    assert says in result.detail and kept(db) == []


def test_given_an_unknown_case_when_received_then_404_and_the_key_stays_free(db):
    new_case(db)

    result = send(db, {"case": "2099010100001", "action": "sign_for"})

    assert (result.outcome, result.http_status) == (InboundOutcome.UNKNOWN_CASE, 404)
    assert kept(db) == []


# ----- replays ----------------------------------------------------------------------------------------


def test_given_the_same_update_twice_when_replayed_then_the_case_changes_once(db):
    number = new_case(db)
    send(db, {"case": number, "action": "sign_for"}, key="sign-1")
    update = {"case": number, "action": "reply", "text": "已抢修，恢复供水"}

    first = send(db, update, key="reply-1")
    again = send(db, update, key="reply-1", at=T0 + timedelta(minutes=3))

    assert (first.outcome, first.replayed) == ("applied", False)
    assert (again.outcome, again.replayed) == ("applied", True)
    assert again.case_status == "replied" and again.http_status == 200
    replies = [row for row in timeline(db, number) if row[1] == "reply"]
    assert replies == [("external:water", "reply")]
    assert case_of(db, number).reply_text == "已抢修，恢复供水"
    assert [k for k, _, _ in kept(db)] == ["sign-1", "reply-1"]


def test_given_a_replay_after_the_window_when_signed_afresh_then_the_kept_answer_comes_back(db):
    number = new_case(db)
    send(db, {"case": number, "action": "sign_for"})

    later = send(db, {"case": number, "action": "sign_for"}, at=T0 + timedelta(days=1))

    assert later.replayed and later.outcome is InboundOutcome.APPLIED
    assert [a for _, a in timeline(db, number)].count("sign_for") == 1


def test_given_a_refused_transition_when_replayed_then_the_same_refusal_and_the_case_untouched(db):
    number = new_case(db)
    update = {"case": number, "action": "reply", "text": "已处理"}  # not signed for yet

    refused = send(db, update, key="early-reply")
    before = timeline(db, number)

    assert (refused.outcome, refused.http_status, refused.replayed) == (InboundOutcome.REFUSED, 409, False)
    assert "the case is dispatched" in refused.detail
    # service.reply sets the text before the rules refuse: the savepoint undid it.
    assert case_of(db, number).reply_text == "" and case_of(db, number).status == "dispatched"

    # Signed for since: the same key still answers what it answered, and applies nothing.
    send(db, {"case": number, "action": "sign_for"}, key="sign-1")
    again = send(db, update, key="early-reply", at=T0 + timedelta(minutes=1))

    assert (again.outcome, again.http_status, again.replayed) == (InboundOutcome.REFUSED, 409, True)
    assert again.detail == refused.detail
    assert timeline(db, number) == [*before, ("external:water", "sign_for")]
    assert kept(db)[0][:2] == ("early-reply", "refused")


def test_given_text_the_service_cannot_use_when_received_then_422_kept_and_replayed(db):
    number = new_case(db)
    send(db, {"case": number, "action": "sign_for"}, key="sign-1")
    update = {"case": number, "action": "reply", "text": "\x01\x02"}  # nothing left once cleaned

    first = send(db, update, key="blank")
    again = send(db, update, key="blank")

    assert (first.outcome, first.http_status) == (InboundOutcome.INVALID, 422)
    assert (again.outcome, again.replayed, again.detail) == (InboundOutcome.INVALID, True, first.detail)
    assert case_of(db, number).status == "signed"


def test_given_a_malformed_update_when_fixed_and_sent_under_the_same_key_then_it_applies(db):
    number = new_case(db)

    broken = send(db, {"case": number, "action": "return"}, key="ret-1")
    fixed = send(db, {"case": number, "action": "return", "reason": "不属于本单位管辖"}, key="ret-1")

    assert broken.http_status == 422 and fixed.outcome is InboundOutcome.APPLIED
    assert case_of(db, number).status == "returned" and case_of(db, number).returns == 1


# ----- what the update does --------------------------------------------------------------------------


def test_given_a_note_when_received_then_a_timeline_row_only_and_other_systems_are_told(db):
    number = new_case(db)

    result = send(db, {"case": number, "action": "note", "text": "维修队已出发"})

    assert result.outcome is InboundOutcome.APPLIED and result.case_status == "dispatched"
    with db.unit_of_work() as session:
        event = session.scalars(select(CaseEvent).order_by(CaseEvent.id.desc())).first()
        assert event is not None
        assert (event.action, event.actor, event.party, event.note) == (
            "external_note",
            "external:water",
            "department",
            "维修队已出发",
        )
        hooks = session.scalars(
            select(OutboxMessage.recipient).where(
                OutboxMessage.channel == "webhook", OutboxMessage.event == "external_note"
            )
        ).all()
    # The system that wrote the note is not told of it; the others are.
    assert hooks == ["media"]


def test_given_a_case_with_no_department_when_a_system_acts_on_it_then_it_is_refused(db):
    number = new_case(db)
    with db.unit_of_work() as session:
        case = service.get_case(session, number)
        staff = Actor("water.staff", Party.DEPARTMENT, frozenset({case.department_id or 0}))
        service.return_case(session, case, "不归我们", actor=staff, settings=SETTINGS, now=T0)
        case.department_id = None  # a returned case the dispatcher cleared

    result = send(db, {"case": number, "action": "sign_for"})

    assert result.outcome is InboundOutcome.REFUSED and "not with your department" in result.detail


def test_given_the_same_update_at_once_from_two_connections_when_both_land_then_it_applies_once(db_url):
    setup = Database(db_url)
    number = new_case(setup)
    update = json.dumps({"case": number, "action": "sign_for"}).encode()
    stamp = str(int(T0.timestamp()))
    gate = threading.Barrier(4)
    results: list[InboundResult] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        database = Database(db_url)
        try:
            gate.wait()
            with database.unit_of_work() as session:
                result = receive_update(
                    session,
                    SETTINGS,
                    system="water",
                    idempotency_key="twice",
                    body=update,
                    timestamp=stamp,
                    signature=signature(SECRET, stamp, "twice", update),
                    now=T0,
                )
            results.append(result)
        except BaseException as exc:
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(r.replayed for r in results) == [False, True, True, True]
    assert {r.outcome for r in results} == {InboundOutcome.APPLIED}
    assert [a for _, a in timeline(setup, number)].count("sign_for") == 1
    with setup.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(InboundUpdate)) == 1
    setup.dispose()


# ----- the route --------------------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path, db_url):
    app = create_app(
        Settings(
            site=SiteSettings(state_dir=tmp_path / "state"),
            database=DatabaseSettings(url=db_url),
            redis=RedisSettings(url="redis://127.0.0.1:1/0"),
            cases=SETTINGS.cases,
        )
    )
    # No Origin header, no cookie: what a department's server sends.
    with TestClient(app) as client:
        yield client, app.state.db
    app.state.db.dispose()


def post(client: TestClient, update: dict[str, Any], *, key: str, secret: str = SECRET) -> Any:
    body = json.dumps(update).encode()
    stamp = str(int(datetime.now(UTC).timestamp()))
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        "X-Hotline-Timestamp": stamp,
        "X-Hotline-Signature": signature(secret, stamp, key, body),
    }
    return client.post("/api/integrations/water/updates", content=body, headers=headers)


def test_given_a_signed_update_without_origin_when_posted_then_the_csrf_rule_lets_it_through(web):
    client, db = web
    number = new_case(db)

    first = post(client, {"case": number, "action": "sign_for"}, key="k-1")
    again = post(client, {"case": number, "action": "sign_for"}, key="k-1")

    assert first.status_code == 200, first.text
    assert first.json() == {"outcome": "applied", "case": number, "status": "signed", "replayed": False}
    assert again.status_code == 200 and again.json()["replayed"] is True
    # Other state-changing routes still need the same-site Origin.
    assert client.post("/api/session", json={"username": "x", "password": "y"}).status_code == 403


def test_given_bad_requests_when_posted_then_each_gets_its_documented_answer(web):
    client, db = web
    number = new_case(db)

    forged = post(client, {"case": number, "action": "sign_for"}, key="k-1", secret="guessed-secret-0000")
    refused = post(client, {"case": number, "action": "reply", "text": "修好了"}, key="k-2")
    malformed = post(client, {"case": number, "action": "close"}, key="k-3")
    unknown = post(client, {"case": "2099010100001", "action": "sign_for"}, key="k-4")
    huge = client.post("/api/integrations/water/updates", content=b"x" * (MAX_BODY_BYTES + 1))
    nobody = client.post("/api/integrations/nobody/updates", content=b"{}")

    assert forged.status_code == 401 and forged.headers["www-authenticate"].startswith("HMAC")
    assert refused.status_code == 409
    assert refused.json() == {
        "outcome": "refused",
        "detail": "the case is dispatched; only possible when handling, signed",
        "case": number,
        "status": "dispatched",
        "replayed": False,
    }
    assert malformed.status_code == 422 and malformed.json()["outcome"] == "malformed"
    assert unknown.status_code == 404 and huge.status_code == 413 and nobody.status_code == 404
    assert case_of(db, number).status == "dispatched"
