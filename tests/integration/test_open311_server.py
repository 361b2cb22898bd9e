"""Our own Open311 checks, beyond what the spec's client asks: a request becomes a real case (routed,
dispatched, given a deadline), retries are safe, hostile text stays text in XML, keys can be
revoked, the case's life shows in the record, and nothing private or phone-borne is published.

The site is tests/integration/open311_fixtures.py's (a real uvicorn on loopback); checks that need
other settings (a jurisdiction, a default department, Open311 off) run a second app on the same
database in-process.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agents_ui.app import create_app
from case_bridge import service
from case_bridge.api_clients import add_api_client, revoke_api_client
from case_bridge.lifecycle import CaseStatus, Party
from case_bridge.models import Case, CaseEvent, CaseSource, Department
from case_bridge.timeline import Actor
from hotline.case_settings import CaseSettings, Open311Settings
from tests.integration.open311_fixtures import SITE, Open311Site
from tests.open311_client import GeoReportClient, Record, parse_w3c_datetime

LAT, LONG = 39.9042, 116.4074
AGENT = Actor("agent1", Party.HOTLINE)


@pytest.fixture
def site(request: pytest.FixtureRequest, open311_base: str) -> Open311Site:
    """The running site behind open311_base: its database, settings and API key."""
    return request.config.stash[SITE]


@pytest.fixture
def client(site: Open311Site) -> Iterator[GeoReportClient]:
    with GeoReportClient(site.base, site.api_key) as json_client:
        yield json_client


@pytest.fixture
def http(site: Open311Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base, timeout=30) as raw:
        yield raw


def marker(label: str) -> str:
    return f"open311 server {label} {uuid.uuid4().hex}"


def post(http: httpx.Client, fields: dict[str, str], *, fmt: str = "json", **headers: str) -> httpx.Response:
    return http.post(f"requests.{fmt}", data=fields, headers=headers)


def form(site: Open311Site, description: str, **more: str) -> dict[str, str]:
    return {
        "api_key": site.api_key,
        "service_code": "street_light",
        "lat": str(LAT),
        "long": str(LONG),
        "description": description,
        **more,
    }


def case_of(site: Open311Site, number: str) -> Case:
    with site.db.unit_of_work() as session:
        case = service.get_case(session, number)
        session.expunge(case)
        return case


@pytest.fixture
def other_app(site: Open311Site) -> Iterator[Any]:
    """A second app on the site's database with other Open311 settings: call it with them."""
    made: list[Any] = []

    def start(open311_settings: Open311Settings) -> TestClient:
        settings = site.settings.model_copy(update={"cases": CaseSettings(open311=open311_settings)})
        app = create_app(settings)
        made.append(app)
        return TestClient(app, base_url="http://open311.test/open311/v2/")

    yield start
    for app in made:
        app.state.db.dispose()


# --- a request is a case ------------------------------------------------------------------------------


def test_given_a_post_when_filed_then_the_case_is_routed_dispatched_and_its_deadline_is_expected(
    site: Open311Site, http: httpx.Client, client: GeoReportClient
) -> None:
    answer = post(http, form(site, marker("street light")))
    assert answer.status_code == 200, answer.text
    number = answer.json()[0]["service_request_id"]

    case = case_of(site, number)
    with site.db.unit_of_work() as session:
        department = session.get(Department, case.department_id)
        assert department is not None and department.code == "city_management"
        actors = set(session.scalars(select(CaseEvent.actor).where(CaseEvent.case_id == case.id)))
    assert case.source == CaseSource.OPEN311 and case.status == CaseStatus.DISPATCHED
    assert case.due_at is not None and case.sign_due_at is not None
    assert actors == {"open311:conformance-client"}

    record = client.request(number)
    assert parse_w3c_datetime(record["expected_datetime"]) == case.due_at
    assert record["expected_datetime"].endswith("+08:00")  # the site's clock
    assert record["agency_responsible"] == "城市管理局"
    assert record["service_notice"].startswith("已转城市管理局办理")
    assert answer.json()[0]["service_notice"] == record["service_notice"]


def test_given_the_same_idempotency_key_when_a_post_is_retried_then_one_case_answers_both(
    site: Open311Site, http: httpx.Client
) -> None:
    description, key = marker("retried"), str(uuid.uuid4())

    first = post(http, form(site, description), **{"Idempotency-Key": key})
    again = post(http, form(site, description), **{"Idempotency-Key": key}, fmt="xml")

    assert first.status_code == again.status_code == 200
    number = first.json()[0]["service_request_id"]
    assert ET.fromstring(again.content).findtext("request/service_request_id") == number
    with site.db.unit_of_work() as session:
        assert session.scalar(select(func.count(Case.id)).where(Case.content == description)) == 1


def test_given_two_clients_with_one_idempotency_key_when_both_post_then_each_gets_its_own_case(
    site: Open311Site, http: httpx.Client
) -> None:
    with site.db.unit_of_work() as session:
        second_key = add_api_client(session, f"second-{uuid.uuid4().hex[:8]}")
    key = str(uuid.uuid4())

    mine = post(http, form(site, marker("mine")), **{"Idempotency-Key": key})
    theirs = post(http, {**form(site, marker("theirs")), "api_key": second_key}, **{"Idempotency-Key": key})

    assert mine.json()[0]["service_request_id"] != theirs.json()[0]["service_request_id"]


def test_given_an_idempotency_key_that_is_no_header_token_when_posted_then_400_in_the_spec_format(
    site: Open311Site, http: httpx.Client
) -> None:
    answer = post(http, form(site, marker("long key")), **{"Idempotency-Key": "k" * 101})
    assert answer.status_code == 400
    assert answer.json()[0]["code"] == 400 and "Idempotency-Key" in answer.json()[0]["description"]


def test_given_a_revoked_key_when_it_posts_then_403(site: Open311Site, http: httpx.Client) -> None:
    name = f"revoked-{uuid.uuid4().hex[:8]}"
    with site.db.unit_of_work() as session:
        key = add_api_client(session, name)
    assert post(http, {**form(site, marker("before")), "api_key": key}).status_code == 200
    with site.db.unit_of_work() as session:
        revoke_api_client(session, name)

    refused = post(http, {**form(site, marker("after")), "api_key": key}, fmt="xml")

    assert refused.status_code == 403
    assert ET.fromstring(refused.content).findtext("error/code") == "403"


# --- what is published ----------------------------------------------------------------------------


def test_given_hostile_text_when_read_as_xml_then_it_stays_text(
    site: Open311Site, http: httpx.Client
) -> None:
    hostile = (
        "</description><status>closed</status><description>"
        " & &amp; <![CDATA[ x ]]> <?pi?> <!-- c --> \"quoted\" 'single' " + uuid.uuid4().hex
    )
    number = post(http, form(site, hostile, address_string="<b>人民路</b> & 12号")).json()[0][
        "service_request_id"
    ]

    answer = http.get(f"requests/{number}.xml")

    assert answer.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    request = ET.fromstring(answer.content).find("request")
    assert request is not None
    assert request.findtext("description") == hostile
    assert request.findtext("address") == "<b>人民路</b> & 12号"
    assert [child.tag for child in request].count("status") == 1
    assert request.findtext("status") == "open"


def test_given_a_request_with_personal_data_when_read_then_none_of_it_is_returned(
    site: Open311Site, http: httpx.Client
) -> None:
    private = {
        "first_name": "伟",
        "last_name": "张",
        "phone": "13912345678",
        "email": f"zhang.{uuid.uuid4().hex[:6]}@example.cn",
        "device_id": f"device-{uuid.uuid4().hex}",
        "account_id": f"account-{uuid.uuid4().hex}",
    }
    extra = {"media_url": "https://img.example.cn/light.jpg", "address_id": "A-17"}
    answer = post(http, form(site, marker("private"), **private, **extra))
    number = answer.json()[0]["service_request_id"]
    assert answer.json()[0]["account_id"] == private["account_id"]  # the client's own, echoed to it

    case = case_of(site, number)
    assert (case.caller_name, case.caller_number, case.caller_email) == (
        "张伟",
        "13912345678",
        private["email"],
    )
    for fmt in ("json", "xml"):
        for url in (f"requests/{number}.{fmt}", f"requests.{fmt}?service_request_id={number}"):
            body = http.get(url).text
            assert all(value not in body for value in private.values()), url
            assert "https://img.example.cn/light.jpg" in body and "A-17" in body
    with site.db.unit_of_work() as session:
        kept = session.scalars(select(CaseEvent.data).where(CaseEvent.case_id == case.id)).all()
    assert private["device_id"] not in repr(kept)


def test_given_a_case_taken_on_the_phone_when_asked_for_then_open311_does_not_know_it(
    site: Open311Site, http: httpx.Client
) -> None:
    with site.db.unit_of_work() as session:
        phone_case, _ = service.create_case(
            session,
            service.NewCase(source=CaseSource.PHONE, content=marker("phone"), category_code="street_light"),
            actor=AGENT,
            settings=site.settings,
        )
        number = phone_case.number

    assert http.get(f"requests/{number}.json").status_code == 404
    assert http.get(f"tokens/{number}.json").status_code == 404
    assert http.get("requests.json", params={"service_request_id": number}).json() == []


def test_given_a_case_closed_through_the_service_when_read_then_it_is_closed_with_the_reply(
    site: Open311Site, http: httpx.Client, client: GeoReportClient
) -> None:
    number = post(http, form(site, marker("to close"))).json()[0]["service_request_id"]
    assert client.request(number)["status"] == "open"

    with site.db.unit_of_work() as session:
        case = service.get_case(session, number)
        staff = Actor("staff-city", Party.DEPARTMENT, frozenset({case.department_id or 0}))
        service.sign_for(session, case, actor=staff, settings=site.settings)
        service.reply(session, case, "路灯已修复。", actor=staff, settings=site.settings)
        service.close_case(session, case, actor=AGENT, settings=site.settings)
        closed_at = case.closed_at
    assert closed_at is not None

    record = client.request(number)
    assert record["status"] == "closed"
    assert record["status_notes"] == "路灯已修复。"
    assert parse_w3c_datetime(record["updated_datetime"]) == closed_at.replace(microsecond=0)
    assert record["service_notice"] is None
    assert number in [entry["service_request_id"] for entry in client.requests(status="closed")]
    assert number not in [entry["service_request_id"] for entry in client.requests(status="open")]


# --- settings ---------------------------------------------------------------------------------------


def test_given_a_jurisdiction_when_set_then_another_one_is_404_and_none_is_fine(
    site: Open311Site, other_app: Any
) -> None:
    app = other_app(Open311Settings(jurisdiction_id="hotline.example.gov.cn"))

    assert app.get("services.json").status_code == 200
    assert app.get("services.json", params={"jurisdiction_id": "hotline.example.gov.cn"}).status_code == 200
    other = app.get("services.json", params={"jurisdiction_id": "sfgov.org"})
    assert other.status_code == 404 and "jurisdiction_id" in other.json()[0]["description"]
    elsewhere = {**form(site, marker("elsewhere")), "jurisdiction_id": "x"}
    assert app.post("requests.json", data=elsewhere).status_code == 404


def test_given_a_default_department_when_a_service_has_no_route_then_the_case_goes_there(
    site: Open311Site, other_app: Any
) -> None:
    app = other_app(Open311Settings(default_department="east_district"))

    answer = app.post("requests.json", data={**form(site, marker("enquiry")), "service_code": "enquiry"})

    assert answer.status_code == 200, answer.text
    case = case_of(site, answer.json()[0]["service_request_id"])
    with site.db.unit_of_work() as session:
        department = session.get(Department, case.department_id)
        assert department is not None and department.code == "east_district"


def test_given_open311_turned_off_when_called_then_every_resource_is_404(
    site: Open311Site, other_app: Any
) -> None:
    app = other_app(Open311Settings(enabled=False))

    assert app.get("services.xml").status_code == 404
    assert app.post("requests.json", data=form(site, marker("off"))).status_code == 404


# --- errors stay in the spec's format -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "services.html", 404),
        ("GET", "request.json", 404),
        ("GET", "requests", 404),
        ("POST", "requests.yaml", 404),
        ("GET", "requests.json?start_date=soon", 400),
    ],
)
def test_given_a_wrong_url_when_called_then_the_error_is_in_the_spec_format(
    http: httpx.Client, method: str, url: str, status: int
) -> None:
    answer = http.request(method, url)

    assert answer.status_code == status
    if answer.headers["content-type"].startswith("application/json"):
        errors: list[Record] = answer.json()
    else:
        errors = [{"code": int(e.findtext("code") or 0)} for e in ET.fromstring(answer.content)]
    assert errors and errors[0]["code"] == status


def test_given_ids_with_control_characters_when_asked_for_then_refused_before_any_lookup(
    http: httpx.Client,
) -> None:
    # A NUL never reaches the database (PostgreSQL refuses it in a query: it would be a 500).
    assert http.get("requests/2026091800001%00.json").status_code == 404
    assert http.get("tokens/%00.xml").status_code == 404
    assert http.get("requests.json", params={"service_request_id": "1\x00"}).status_code == 400


def test_given_a_json_body_when_posted_then_it_is_refused_as_not_a_form(
    site: Open311Site, http: httpx.Client
) -> None:
    answer = http.post("requests.json", json=form(site, marker("json")))
    assert answer.status_code == 400 and "x-www-form-urlencoded" in answer.json()[0]["description"]


def test_given_a_cross_site_origin_when_posting_then_the_api_key_decides_not_the_origin(
    site: Open311Site, http: httpx.Client
) -> None:
    answer = post(http, form(site, marker("from a city app")), Origin="https://city-app.example")
    assert answer.status_code == 200, answer.text
