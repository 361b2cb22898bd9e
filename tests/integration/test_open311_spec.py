"""Open311 GeoReport v2 conformance: the running platform, judged by a client built from the spec.

The client (tests/open311_client.py) was written from http://wiki.open311.org/GeoReport_v2 only,
without reading the server; these tests hold the server to that text.

Fixture contract (provided by tests/integration/conftest.py; any scope):

* ``open311_base`` (str): the GeoReport v2 endpoint of a running platform, e.g.
  ``"http://127.0.0.1:8123/open311/v2/"``.
* ``open311_api_key`` (str): an api_key the platform accepts for POST Service Request.
* ``open311_service_code`` (str): a service that exists in ``services.json``, whose ``type`` is
  ``realtime`` or ``batch`` (a ``blackbox`` request cannot be followed), and that needs no
  attributes (``metadata`` false, or a definition without required attributes). Requests are
  posted at LAT/LONG below (central Beijing); the platform must accept that point.

What the spec says on the points a reader could take either way, and what is asserted:

* Status codes (spec, "Errors"): "404 for resources that don't exist, 403 for errors because of
  wrong or missing api_key and basically 400 for any other error where the request can not be
  fulfilled". Bodies are ``[{code, description}]`` / ``<errors><error>``; ``code`` need not equal
  the HTTP status. POST Service Request lists "404 - service_code … was not found" and "400 -
  service_code … was not provided": an unknown service_code is 404, a missing one 400.
* Service definition of a ``metadata=false`` service: the spec only says the call "is only
  necessary if the Service selected has metadata set as true"; it does not forbid it. Accepted:
  404 in the error format (no definition resource), or 200 with a valid definition for that
  code that requires no attribute. An unknown service_code is 404.
* Tokens: POST answers ``service_request_id`` or ``token``, never both; a ``realtime`` service
  answers the id at once, a ``batch`` one a token. ``tokens/{token}`` answers
  ``[{service_request_id, token}]``; while the id is not known yet the tests read a missing or
  empty service_request_id as "pending" and poll for up to 20 s. An unknown token is 404.
* GET Service Requests: without dates "the range defaults to most recent 90 days" and "Default
  query limit is a span of 90 days or first 1000 requests returned, whichever is smallest";
  ``service_request_id`` (comma delimited) "overrides all other arguments"; ``service_code`` and
  ``status`` may be comma delimited; dates "must use w3 format" (so a malformed one is 400); a
  range may not span more than 90 days (a wider one may be refused with 400 or served within
  the limits; both pass, a 5xx does not). "Optional" arguments sent empty behave as absent.
* ``expected_datetime`` is "May not be returned" in the spec; this platform promises it (the
  case deadline), so a new request must carry one later than ``requested_datetime``.
* ``description`` is "limited to 4,000 characters" and "may contain line breaks, but not html or
  code": a 10 000+ character, control-character or markup/SQL description may be refused with
  400, or accepted and then returned verbatim (JSON), and as well-formed XML in which only the
  characters XML 1.0 cannot carry may be dropped or replaced by U+FFFD. Never a 5xx.
* Text is UTF-8 everywhere: a Chinese/emoji description must come back verbatim in both formats.

Run: ``.venv/bin/pytest -q tests/integration/test_open311_spec.py`` (the conftest starts the
platform or points at one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.open311_client import (
    Format,
    GeoReportClient,
    GeoReportError,
    Record,
    check_content_type,
    check_post_response,
    check_service_definition,
    check_service_request,
    check_service_requests,
    check_services,
    check_token_response,
    check_xml_declaration,
    coordinate,
    format_w3c_datetime,
    ids_of,
    parse_w3c_datetime,
    xml_forms,
)

LAT, LONG = 39.9042, 116.4074
CLOCK_SLACK = timedelta(minutes=5)
TOKEN_TIMEOUT = 20.0
BEIJING = timezone(timedelta(hours=8))
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def client(open311_base: str, open311_api_key: str) -> Iterator[GeoReportClient]:
    with GeoReportClient(open311_base, open311_api_key, fmt="json") as json_client:
        yield json_client


@pytest.fixture
def xml_client(client: GeoReportClient) -> Iterator[GeoReportClient]:
    with client.with_format("xml") as speaking_xml:
        yield speaking_xml


@pytest.fixture(params=["json", "xml"])
def fmt_client(request: pytest.FixtureRequest, client: GeoReportClient) -> Iterator[GeoReportClient]:
    """The keyed client in each format in turn."""
    fmt: Format = request.param
    with client.with_format(fmt) as either:
        yield either


@pytest.fixture
def services(client: GeoReportClient) -> list[Record]:
    listed = client.services()
    check_services(listed)
    return listed


@pytest.fixture
def service(services: list[Record], open311_service_code: str) -> Record:
    """The fixture's service, as services.json lists it, checked against the fixture contract."""
    found = [entry for entry in services if entry["service_code"] == open311_service_code]
    assert found, (
        f"open311_service_code={open311_service_code!r} is not in services.json "
        f"(codes: {[entry['service_code'] for entry in services]})"
    )
    assert found[0]["type"] in ("realtime", "batch"), (
        f"open311_service_code must name a realtime or batch service, not {found[0]['type']!r}: "
        "a blackbox request returns no id the tests could follow"
    )
    return found[0]


@dataclass(frozen=True)
class Created:
    service_request_id: str
    description: str
    post_answer: list[Record]
    not_before: datetime  # client clock just before the POST
    not_after: datetime  # client clock once the id was known


def marker(label: str) -> str:
    return f"open311 conformance {label} {uuid.uuid4().hex}"


def post_request(client: GeoReportClient, service_code: str, description: str, **fields: Any) -> Created:
    fields.setdefault("lat", LAT)
    fields.setdefault("long", LONG)
    not_before = datetime.now(UTC)
    answer = client.submit(service_code=service_code, description=description, **fields)
    check_post_response(answer)
    request_id = client.resolve_request_id(answer, timeout=TOKEN_TIMEOUT)
    return Created(request_id, description, answer, not_before, datetime.now(UTC))


@pytest.fixture
def created(client: GeoReportClient, service: Record) -> Created:
    """A request just posted with lat/long and a unique description."""
    return post_request(client, service["service_code"], marker("street light out at the corner"))


# --- helpers ------------------------------------------------------------------------------------


def assert_error(
    client: GeoReportClient, response: httpx.Response, expected: int | tuple[int, ...], what: str
) -> list[Record]:
    """``response`` is an error with one of the ``expected`` statuses, in the spec's error format."""
    allowed = (expected,) if isinstance(expected, int) else expected
    wanted = " or ".join(str(status) for status in allowed)
    assert response.status_code < 500, (
        f"{what}: expected HTTP {wanted}, the server failed with HTTP {response.status_code}: "
        f"{response.content[:400]!r}"
    )
    try:
        answer = client.decode(response, "errors")
    except GeoReportError as error:
        assert error.status in allowed, f"{what}: expected HTTP {wanted}, got {error}"
        check_content_type(response, client.fmt)
        if client.fmt == "xml":
            check_xml_declaration(response.content)
        return error.errors
    pytest.fail(
        f"{what}: expected HTTP {wanted} with an error body, got HTTP {response.status_code}: {answer!r:.400}"
    )


def requested_at(record: Record) -> datetime:
    return parse_w3c_datetime(record["requested_datetime"], "requested_datetime")


def blank_as_none(value: Any) -> Any:
    """ "" and null are the same absent text (XML cannot tell them apart)."""
    if isinstance(value, list):
        return [blank_as_none(item) for item in value]
    if isinstance(value, dict):
        return {key: blank_as_none(item) for key, item in value.items()}
    return None if value == "" else value


def z_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_xml(xml_client: GeoReportClient, request_id: str) -> tuple[httpx.Response, Record]:
    response = xml_client.get_raw("requests", request_id)
    assert response.status_code < 500, f"requests/{request_id}.xml failed: HTTP {response.status_code}"
    check_content_type(response, "xml")
    check_xml_declaration(response.content)
    answer = xml_client.decode(response, "service_requests")
    assert isinstance(answer, list) and len(answer) == 1, f"requests/{request_id}.xml: one request expected"
    check_service_request(answer[0])
    record: Record = answer[0]
    return response, record


# --- GET Service List ---------------------------------------------------------------------------


def test_service_list_has_the_spec_fields(fmt_client: GeoReportClient, open311_service_code: str) -> None:
    response = fmt_client.get_raw("services")
    check_content_type(response, fmt_client.fmt)
    if fmt_client.fmt == "xml":
        check_xml_declaration(response.content)
    listed = fmt_client.decode(response, "services")
    check_services(listed)
    assert listed, "services lists no service"
    assert open311_service_code in [entry["service_code"] for entry in listed]


def test_service_list_is_the_same_in_json_and_xml(
    client: GeoReportClient, xml_client: GeoReportClient
) -> None:
    from_json = {entry["service_code"]: blank_as_none(entry) for entry in client.services()}
    from_xml = {entry["service_code"]: blank_as_none(entry) for entry in xml_client.services()}
    assert from_xml == from_json


# --- GET Service Definition -----------------------------------------------------------------------


def test_the_fixture_service_needs_no_attributes(client: GeoReportClient, service: Record) -> None:
    if service["metadata"]:
        definition = client.service_definition(service["service_code"])
        check_service_definition(definition, service["service_code"])
        required = [attribute["code"] for attribute in definition["attributes"] if attribute["required"]]
        assert not required, f"open311_service_code must need no attributes; it requires {required}"


def test_definition_of_a_metadata_false_service_is_404_or_empty(
    fmt_client: GeoReportClient, services: list[Record]
) -> None:
    without = [entry["service_code"] for entry in services if entry["metadata"] is False]
    if not without:
        pytest.skip("every listed service has metadata=true")
    for code in without[:5]:
        response = fmt_client.get_raw("services", code)
        if response.status_code >= 400:
            assert_error(fmt_client, response, 404, f"services/{code}.{fmt_client.fmt} (metadata=false)")
            continue
        definition = fmt_client.decode(response, "service_definition")
        check_service_definition(definition, code)
        required = [attribute["code"] for attribute in definition["attributes"] if attribute["required"]]
        assert not required, f"service {code!r} says metadata=false yet its definition requires {required}"


def test_definitions_of_metadata_true_services_are_valid(
    fmt_client: GeoReportClient, services: list[Record]
) -> None:
    with_metadata = [entry["service_code"] for entry in services if entry["metadata"] is True]
    if not with_metadata:
        pytest.skip("no listed service has metadata=true")
    for code in with_metadata:
        response = fmt_client.get_raw("services", code)
        check_content_type(response, fmt_client.fmt)
        check_service_definition(fmt_client.decode(response, "service_definition"), code)


def test_definition_of_an_unknown_service_is_404(fmt_client: GeoReportClient) -> None:
    code = f"no-such-service-{uuid.uuid4().hex[:12]}"
    assert_error(fmt_client, fmt_client.get_raw("services", code), 404, f"services/{code}")


# --- POST Service Request, then GET it ------------------------------------------------------------


def test_post_then_get_returns_the_open_request(
    client: GeoReportClient, service: Record, created: Created
) -> None:
    entry = created.post_answer[0]
    if service["type"] == "realtime":
        assert entry.get("service_request_id"), f"a realtime service answers the id at once: {entry}"
    else:
        assert entry.get("token"), f"a batch service answers a token: {entry}"

    record = client.request(created.service_request_id)
    check_service_request(record)
    assert record["service_request_id"] == created.service_request_id
    assert record["status"] == "open"
    assert record["description"] == created.description
    assert record["service_code"] == service["service_code"]
    assert record["service_name"] == service["service_name"]

    requested = requested_at(record)
    assert created.not_before - CLOCK_SLACK <= requested <= created.not_after + CLOCK_SLACK, (
        f"requested_datetime {record['requested_datetime']} is not the time of the POST "
        f"({created.not_before.isoformat()} .. {created.not_after.isoformat()})"
    )
    updated = parse_w3c_datetime(record["updated_datetime"], "updated_datetime")
    assert updated >= requested, "updated_datetime precedes requested_datetime"
    assert record.get("expected_datetime") is not None, (
        "the platform promises expected_datetime (its deadline) on a new request"
    )
    expected = parse_w3c_datetime(record["expected_datetime"], "expected_datetime")
    assert expected > requested, (
        f"expected_datetime {record['expected_datetime']} is not after requested_datetime "
        f"{record['requested_datetime']}"
    )
    assert coordinate(record["lat"]) == pytest.approx(LAT, abs=1e-5)
    assert coordinate(record["long"]) == pytest.approx(LONG, abs=1e-5)


def test_xml_request_matches_json(
    client: GeoReportClient, xml_client: GeoReportClient, created: Created
) -> None:
    from_json = client.request(created.service_request_id)
    _, from_xml = get_xml(xml_client, created.service_request_id)
    for key in ("service_request_id", "status", "service_code", "service_name", "description"):
        assert from_xml[key] == from_json[key], f"{key}: XML {from_xml[key]!r} vs JSON {from_json[key]!r}"
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        if from_json.get(key) is not None:
            assert parse_w3c_datetime(from_xml[key], key) == parse_w3c_datetime(from_json[key], key), key
    for key in ("lat", "long"):
        assert coordinate(from_xml[key]) == pytest.approx(coordinate(from_json[key])), key


def test_post_and_follow_in_xml(xml_client: GeoReportClient, service: Record) -> None:
    description = marker("posted as xml")
    response = xml_client.post_raw(
        xml_client.form(service_code=service["service_code"], lat=LAT, long=LONG, description=description)
    )
    check_content_type(response, "xml")
    check_xml_declaration(response.content)
    answer = xml_client.decode(response, "service_requests")
    check_post_response(answer)
    request_id = xml_client.resolve_request_id(answer, timeout=TOKEN_TIMEOUT)
    _, record = get_xml(xml_client, request_id)
    assert record["description"] == description and record["status"] == "open"


def test_a_token_names_its_request(
    client: GeoReportClient, xml_client: GeoReportClient, created: Created
) -> None:
    token = created.post_answer[0].get("token")
    if not token:
        pytest.skip("the fixture service is realtime: POST answered the id, no token")
    for either in (client, xml_client):
        answer = either.token(token)
        check_token_response(answer, token)
        assert answer[0]["service_request_id"] == created.service_request_id


def test_two_posts_create_two_requests(client: GeoReportClient, service: Record) -> None:
    description = marker("twice the same report")
    first = post_request(client, service["service_code"], description)
    second = post_request(client, service["service_code"], description)
    assert first.service_request_id != second.service_request_id
    for made in (first, second):
        assert client.request(made.service_request_id)["service_request_id"] == made.service_request_id


def test_empty_optional_fields_are_as_if_absent(client: GeoReportClient, service: Record) -> None:
    empty = dict.fromkeys(
        ("email", "device_id", "account_id", "first_name", "last_name", "phone", "media_url", "address_id"),
        "",
    )
    made = post_request(client, service["service_code"], marker("empty optional fields"), **empty)
    record = client.request(made.service_request_id)
    check_service_request(record)
    assert record["media_url"] in (None, "")


def test_unicode_comes_back_verbatim(
    client: GeoReportClient, xml_client: GeoReportClient, service: Record
) -> None:
    text = f"市民反映：小区门口路灯不亮，已持续三天。Ñandú, Größe, emoji 🚧🌃 {uuid.uuid4().hex}"
    made = post_request(client, service["service_code"], text)
    assert client.request(made.service_request_id)["description"] == text
    _, from_xml = get_xml(xml_client, made.service_request_id)
    assert from_xml["description"] == text


# --- GET Service Requests and its filters -------------------------------------------------------------


def test_listed_by_service_request_id(
    fmt_client: GeoReportClient, client: GeoReportClient, service: Record, created: Created
) -> None:
    other = post_request(client, service["service_code"], marker("second of a pair"))
    alone = fmt_client.requests(service_request_id=created.service_request_id)
    check_service_requests(alone)
    assert ids_of(alone) == [created.service_request_id]
    assert alone[0]["description"] == created.description
    pair = fmt_client.requests(service_request_id=[created.service_request_id, other.service_request_id])
    check_service_requests(pair)
    assert sorted(ids_of(pair)) == sorted([created.service_request_id, other.service_request_id])


def test_service_request_id_overrides_other_filters(client: GeoReportClient, created: Created) -> None:
    listed = client.requests(
        service_request_id=created.service_request_id,
        service_code=f"no-such-service-{uuid.uuid4().hex[:8]}",
        status="closed",
        start_date="2000-01-01T00:00:00Z",
        end_date="2000-01-02T00:00:00Z",
    )
    assert ids_of(listed) == [created.service_request_id], (
        "service_request_id must override all other arguments"
    )


def test_filter_by_service_code(client: GeoReportClient, services: list[Record], created: Created) -> None:
    code = client.request(created.service_request_id)["service_code"]
    listed = client.requests(service_code=code)
    check_service_requests(listed)
    assert created.service_request_id in ids_of(listed)
    assert {entry["service_code"] for entry in listed} == {code}

    others = [entry["service_code"] for entry in services if entry["service_code"] != code]
    if others:
        only_other = client.requests(service_code=others[0])
        assert created.service_request_id not in ids_of(only_other)
        assert {entry["service_code"] for entry in only_other} <= {others[0]}
        both = client.requests(service_code=[code, others[0]])
        assert created.service_request_id in ids_of(both)
        assert {entry["service_code"] for entry in both} <= {code, others[0]}


def test_filter_by_status(fmt_client: GeoReportClient, created: Created) -> None:
    opened = fmt_client.requests(status="open")
    check_service_requests(opened)
    assert created.service_request_id in ids_of(opened)
    assert {entry["status"] for entry in opened} == {"open"}

    closed = fmt_client.requests(status="closed")
    check_service_requests(closed)
    assert created.service_request_id not in ids_of(closed)
    assert {entry["status"] for entry in closed} <= {"closed"}

    either = fmt_client.requests(status=["open", "closed"])
    assert created.service_request_id in ids_of(either)


def test_filter_by_dates(client: GeoReportClient, created: Created) -> None:
    requested = requested_at(client.request(created.service_request_id))
    second = timedelta(seconds=2)
    windows = {
        "UTC Z": (z_time(requested - second), z_time(requested + second)),
        "+08:00": (
            format_w3c_datetime((requested - second).astimezone(BEIJING)),
            format_w3c_datetime((requested + second).astimezone(BEIJING)),
        ),
        "-05:00": (
            format_w3c_datetime((requested - second).astimezone(NEW_YORK_WINTER)),
            format_w3c_datetime((requested + second).astimezone(NEW_YORK_WINTER)),
        ),
    }
    for label, (start, end) in windows.items():
        listed = client.requests(start_date=start, end_date=end)
        check_service_requests(listed)
        assert created.service_request_id in ids_of(listed), (
            f"not found in the {label} window {start} .. {end}"
        )
        low, high = parse_w3c_datetime(start), parse_w3c_datetime(end)
        outside = [entry["service_request_id"] for entry in listed if not low <= requested_at(entry) <= high]
        assert not outside, f"requests outside {start} .. {end}: {outside}"

    minute, day = timedelta(minutes=1), timedelta(days=1)
    before = client.requests(start_date=z_time(requested - day), end_date=z_time(requested - minute))
    assert created.service_request_id not in ids_of(before), "listed by a window that ends before it"
    after = client.requests(start_date=z_time(requested + minute), end_date=z_time(requested + day))
    assert created.service_request_id not in ids_of(after), "listed by a window that starts after it"


def test_default_window_is_90_days_and_1000_requests(client: GeoReportClient, created: Created) -> None:
    listed = client.requests()
    check_service_requests(listed)
    assert len(listed) <= 1000, f"{len(listed)} requests without filters; the default limit is 1000"
    oldest_allowed = datetime.now(UTC) - timedelta(days=90) - CLOCK_SLACK
    too_old = [entry["service_request_id"] for entry in listed if requested_at(entry) < oldest_allowed]
    assert not too_old, f"the default range is the most recent 90 days; older: {too_old[:10]}"


def test_a_range_wider_than_90_days_is_refused_or_bounded(client: GeoReportClient) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(days=200), now + timedelta(minutes=1)
    response = client.get_raw("requests", params={"start_date": z_time(start), "end_date": z_time(end)})
    if response.status_code >= 400:
        assert_error(client, response, 400, "a 200-day range")
        return
    listed = client.decode(response, "service_requests")
    check_service_requests(listed)
    assert len(listed) <= 1000
    assert all(start - CLOCK_SLACK <= requested_at(entry) <= end + CLOCK_SLACK for entry in listed)


def test_empty_filters_are_as_if_absent(client: GeoReportClient, created: Created) -> None:
    plain = client.requests()
    emptied = client.requests(service_code="", status="", start_date="", end_date="", service_request_id="")
    assert ids_of(emptied) == ids_of(plain)


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("api_key", [None, ""], ids=["absent", "empty"])
def test_post_without_api_key_is_403(
    fmt_client: GeoReportClient, service: Record, api_key: str | None
) -> None:
    with fmt_client.with_api_key(api_key) as keyless:
        # the form carries api_key="" in the "empty" case, and no api_key at all in the "absent" one
        form = keyless.form(
            service_code=service["service_code"], lat=LAT, long=LONG, description=marker("no key")
        )
        assert_error(keyless, keyless.post_raw(form), 403, "POST without api_key")


def test_post_with_a_wrong_api_key_is_403(fmt_client: GeoReportClient, service: Record) -> None:
    with fmt_client.with_api_key(f"wrong-{uuid.uuid4().hex}") as wrong:
        form = wrong.form(
            service_code=service["service_code"], lat=LAT, long=LONG, description=marker("bad key")
        )
        assert_error(wrong, wrong.post_raw(form), 403, "POST with a wrong api_key")


@pytest.mark.parametrize(
    "service_code",
    [f"no-such-service-{uuid.uuid4().hex[:12]}", "1' OR '1'='1", 'x"; DROP TABLE services; --'],
    ids=["unknown", "sql-or", "sql-drop"],
)
def test_post_with_an_unknown_service_code_is_404(fmt_client: GeoReportClient, service_code: str) -> None:
    form = fmt_client.form(
        service_code=service_code, lat=LAT, long=LONG, description=marker("unknown service")
    )
    assert_error(fmt_client, fmt_client.post_raw(form), 404, f"POST with service_code={service_code!r}")


@pytest.mark.parametrize("service_code", [None, ""], ids=["absent", "empty"])
def test_post_without_service_code_is_400(fmt_client: GeoReportClient, service_code: str | None) -> None:
    form = fmt_client.form(service_code=service_code, lat=LAT, long=LONG, description=marker("no service"))
    assert_error(fmt_client, fmt_client.post_raw(form), 400, "POST without service_code")


@pytest.mark.parametrize(
    "location",
    [
        {},
        {"lat": "", "long": "", "address_string": "", "address_id": ""},
        {"lat": str(LAT)},
        {"long": str(LONG)},
        {"lat": "north", "long": "east"},
        {"lat": "200", "long": str(LONG)},
    ],
    ids=["none", "all-empty", "lat-only", "long-only", "not-numbers", "lat-out-of-range"],
)
def test_post_without_a_usable_location_is_400(
    fmt_client: GeoReportClient, service: Record, location: dict[str, str]
) -> None:
    form = fmt_client.form(service_code=service["service_code"], description=marker("no location"))
    form.extend(location.items())
    assert_error(fmt_client, fmt_client.post_raw(form), 400, f"POST with location {location}")


@pytest.mark.parametrize(
    "request_id", [f"no-such-request-{uuid.uuid4().hex[:12]}", "98765432109876"], ids=["text", "number"]
)
def test_an_unknown_request_is_404(fmt_client: GeoReportClient, request_id: str) -> None:
    assert_error(fmt_client, fmt_client.get_raw("requests", request_id), 404, f"requests/{request_id}")


def test_an_unknown_token_is_404(fmt_client: GeoReportClient) -> None:
    token = f"no-such-token-{uuid.uuid4().hex[:12]}"
    assert_error(fmt_client, fmt_client.get_raw("tokens", token), 404, f"tokens/{token}")


def test_a_hostile_request_id_is_refused_not_run(fmt_client: GeoReportClient, created: Created) -> None:
    hostile = "1' OR '1'='1"
    assert_error(fmt_client, fmt_client.get_raw("requests", hostile), (400, 404), "requests/<sql>")
    response = fmt_client.get_raw("requests", params={"service_request_id": f"{hostile},{hostile}"})
    if response.status_code >= 400:
        assert_error(fmt_client, response, (400, 404), "requests?service_request_id=<sql>")
    else:
        listed = fmt_client.decode(response, "service_requests")
        assert listed == [], f"an id that matches nothing listed {len(listed)} requests"


@pytest.mark.parametrize("field", ["start_date", "end_date"])
@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2024-13-45T00:00:00Z",
        "2024-01-01T25:00:00Z",
        "2024-01-01T00:00:00+99:00",
        "'; DROP TABLE x; --",
    ],
)
def test_a_malformed_date_filter_is_400(fmt_client: GeoReportClient, field: str, value: str) -> None:
    response = fmt_client.get_raw("requests", params={field: value})
    assert_error(fmt_client, response, 400, f"requests?{field}={value!r}")


@pytest.mark.parametrize("status", ["pending", "open;closed", "' OR 1=1 --"])
def test_an_unknown_status_filter_is_400(fmt_client: GeoReportClient, status: str) -> None:
    response = fmt_client.get_raw("requests", params={"status": status})
    assert_error(fmt_client, response, 400, f"requests?status={status!r}")


# --- hostile descriptions ---------------------------------------------------------------------------

HOSTILE_DESCRIPTIONS = {
    "over-10000-chars": "Lamp post 17 flickers all night; 17号路灯整夜闪烁。" * 300,
    "c0-controls": "bell\x07 escape\x1b[31m vtab\x0b formfeed\x0c delete\x7f tab\t newline\n end",
    "nul": "before\x00after",
    "markup-and-sql": (
        "<script>alert('x')</script> <img src=x onerror=alert(1)> '; DROP TABLE requests; -- "
        '" OR "1"="1 & &amp; &#x41; ]]> <![CDATA[ y ]]> {{7*7}} ${7*7} %s %n \\ \\\\'
    ),
}


@pytest.mark.parametrize("label", list(HOSTILE_DESCRIPTIONS))
def test_a_hostile_description_is_refused_or_kept_verbatim(
    client: GeoReportClient, xml_client: GeoReportClient, service: Record, label: str
) -> None:
    text = HOSTILE_DESCRIPTIONS[label]
    assert label != "over-10000-chars" or len(text) > 10_000
    form = client.form(service_code=service["service_code"], lat=LAT, long=LONG, description=text)
    response = client.post_raw(form)
    if response.status_code >= 400:
        assert_error(client, response, 400, f"POST with a {label} description")
        return
    answer = client.decode(response, "service_requests")
    request_id = client.resolve_request_id(answer, timeout=TOKEN_TIMEOUT)

    record = client.request(request_id)
    check_service_request(record)
    assert record["description"] == text, f"the {label} description was accepted but changed"

    xml_response, from_xml = get_xml(xml_client, request_id)
    # Equal text after parsing also proves the markup was escaped (or in CDATA), not emitted as elements.
    assert from_xml["description"] in xml_forms(text), (
        f"the {label} description is not kept in XML: {from_xml['description']!r:.200}"
    )
    assert xml_response.status_code == 200
