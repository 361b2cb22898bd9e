"""The GeoReport v2 test client reads the spec's documented answers, in both formats, alike.

The bodies below follow the examples of http://wiki.open311.org/GeoReport_v2 (service list,
service definition, POST answer, token answer, request list, errors), rewritten here; where the
spec's JSON examples are not valid JSON (``"service_code":001``) they are quoted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.open311_client import (
    GeoReportClient,
    GeoReportError,
    GeoReportProtocolError,
    SpecViolation,
    check_content_type,
    check_errors,
    check_post_response,
    check_service,
    check_service_definition,
    check_service_request,
    check_service_requests,
    check_services,
    check_xml_declaration,
    format_w3c_datetime,
    ids_of,
    parse_w3c_datetime,
    xml_forms,
)

BASE = "http://open311.test/open311/v2/"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

SERVICES_XML = (
    DECLARATION
    + """<services>
  <service>
    <service_code>001</service_code>
    <service_name>Cans left out 24x7</service_name>
    <description>Garbage or recycling cans left out after collection.</description>
    <metadata>true</metadata>
    <type>realtime</type>
    <keywords>lorem, ipsum, dolor</keywords>
    <group>sanitation</group>
  </service>
  <service>
    <service_code>002</service_code>
    <metadata>false</metadata>
    <type>batch</type>
    <keywords>lorem, ipsum, dolor</keywords>
    <group>street</group>
    <service_name>Construction plate shifted</service_name>
    <description></description>
  </service>
</services>"""
)
SERVICES_JSON: list[dict[str, Any]] = [
    {
        "service_code": "001",
        "service_name": "Cans left out 24x7",
        "description": "Garbage or recycling cans left out after collection.",
        "metadata": True,
        "type": "realtime",
        "keywords": "lorem, ipsum, dolor",
        "group": "sanitation",
    },
    {
        "service_code": "002",
        "metadata": False,
        "type": "batch",
        "keywords": "lorem, ipsum, dolor",
        "group": "street",
        "service_name": "Construction plate shifted",
        "description": None,
    },
]

DEFINITION_XML = (
    DECLARATION
    + """<service_definition>
  <service_code>DMV66</service_code>
  <attributes>
    <attribute>
      <variable>true</variable>
      <code>WHISHETN</code>
      <datatype>singlevaluelist</datatype>
      <required>true</required>
      <datatype_description></datatype_description>
      <order>1</order>
      <description>What is the ticket/tag/DL number?</description>
      <values>
        <value><key>123</key><name>Ford</name></value>
        <value><key>124</key><name>Chrysler</name></value>
      </values>
    </attribute>
  </attributes>
</service_definition>"""
)
DEFINITION_JSON: dict[str, Any] = {
    "service_code": "DMV66",
    "attributes": [
        {
            "variable": True,
            "code": "WHISHETN",
            "datatype": "singlevaluelist",
            "required": True,
            "datatype_description": None,
            "order": 1,
            "description": "What is the ticket/tag/DL number?",
            "values": [{"key": 123, "name": "Ford"}, {"key": 124, "name": "Chrysler"}],
        }
    ],
}

POST_XML = (
    DECLARATION
    + """<service_requests>
  <request>
    <service_request_id>293944</service_request_id>
    <service_notice>The City will inspect within 24 hours.</service_notice>
    <account_id/>
  </request>
</service_requests>"""
)
POST_JSON = [
    {
        "service_request_id": 293944,
        "service_notice": "The City will inspect within 24 hours.",
        "account_id": None,
    }
]

REQUESTS_XML = (
    DECLARATION
    + """<service_requests>
  <request>
    <service_request_id>638344</service_request_id>
    <status>closed</status>
    <status_notes>Duplicate request.</status_notes>
    <service_name>Sidewalk and Curb Issues</service_name>
    <service_code>006</service_code>
    <description></description>
    <agency_responsible></agency_responsible>
    <service_notice></service_notice>
    <requested_datetime>2010-04-14T06:37:38-08:00</requested_datetime>
    <updated_datetime>2010-04-14T06:37:38-08:00</updated_datetime>
    <expected_datetime>2010-04-15T06:37:38-08:00</expected_datetime>
    <address>8TH AVE and JUDAH ST</address>
    <address_id>545483</address_id>
    <zipcode>94122</zipcode>
    <lat>37.762221815</lat>
    <long>-122.4651145</long>
    <media_url>http://city.gov.s3.amazonaws.com/requests/media/638344.jpg</media_url>
  </request>
  <request>
    <service_request_id>638349</service_request_id>
    <status>open</status>
    <status_notes></status_notes>
    <service_name>Sidewalk and Curb Issues</service_name>
    <service_code>006</service_code>
    <description>Crack &amp; hole &lt;near&gt; the curb</description>
    <agency_responsible></agency_responsible>
    <service_notice></service_notice>
    <requested_datetime>2010-04-19T06:37:38Z</requested_datetime>
    <updated_datetime>2010-04-19T06:37:38Z</updated_datetime>
    <expected_datetime>2010-04-19T06:37:38Z</expected_datetime>
    <address>8TH AVE and JUDAH ST</address>
    <address_id>545483</address_id>
    <zipcode>94122</zipcode>
    <lat>37.762221815</lat>
    <long>-122.4651145</long>
    <media_url>http://city.gov.s3.amazonaws.com/requests/media/638349.jpg</media_url>
  </request>
</service_requests>"""
)
REQUESTS_JSON: list[dict[str, Any]] = [
    {
        "service_request_id": 638344,
        "status": "closed",
        "status_notes": "Duplicate request.",
        "service_name": "Sidewalk and Curb Issues",
        "service_code": "006",
        "description": None,
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": "2010-04-14T06:37:38-08:00",
        "updated_datetime": "2010-04-14T06:37:38-08:00",
        "expected_datetime": "2010-04-15T06:37:38-08:00",
        "address": "8TH AVE and JUDAH ST",
        "address_id": 545483,
        "zipcode": 94122,
        "lat": 37.762221815,
        "long": -122.4651145,
        "media_url": "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg",
    },
    {
        "service_request_id": "638349",
        "status": "open",
        "status_notes": None,
        "service_name": "Sidewalk and Curb Issues",
        "service_code": "006",
        "description": "Crack & hole <near> the curb",
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": "2010-04-19T06:37:38Z",
        "updated_datetime": "2010-04-19T06:37:38Z",
        "expected_datetime": "2010-04-19T06:37:38Z",
        "address": "8TH AVE and JUDAH ST",
        "address_id": "545483",
        "zipcode": "94122",
        "lat": 37.762221815,
        "long": -122.4651145,
        "media_url": "http://city.gov.s3.amazonaws.com/requests/media/638349.jpg",
    },
]

ERROR_XML = (
    DECLARATION
    + """<errors>
  <error>
    <code>403</code>
    <description>Invalid api_key received -- can't proceed with create_request.</description>
  </error>
</errors>"""
)
ERROR_JSON = [{"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}]

Handler = Callable[[httpx.Request], httpx.Response]


def xml_answer(body: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=body.encode("utf-8"), headers={"Content-Type": "text/xml; charset=utf-8"}
    )


def json_answer(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def client_for(handler: Handler, fmt: str = "json", **kwargs: Any) -> GeoReportClient:
    return GeoReportClient(BASE, fmt=fmt, transport=httpx.MockTransport(handler), **kwargs)  # type: ignore[arg-type]


def answering(path_to_body: dict[str, httpx.Response]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        response = path_to_body.get(request.url.path)
        assert response is not None, f"unexpected request {request.method} {request.url}"
        return response

    return handle


# --- the same answer, in either format, parses to the same values ---------------------------------


def test_service_list_parses_alike_in_both_formats() -> None:
    from_xml = client_for(answering({"/open311/v2/services.xml": xml_answer(SERVICES_XML)}), "xml").services()
    from_json = client_for(answering({"/open311/v2/services.json": json_answer(SERVICES_JSON)})).services()
    assert from_xml == from_json
    assert from_xml[0]["metadata"] is True and from_xml[1]["metadata"] is False
    assert [s["service_code"] for s in from_xml] == ["001", "002"]
    check_services(from_xml)


def test_service_definition_parses_alike_in_both_formats() -> None:
    xml_client = client_for(answering({"/open311/v2/services/DMV66.xml": xml_answer(DEFINITION_XML)}), "xml")
    json_client = client_for(answering({"/open311/v2/services/DMV66.json": json_answer(DEFINITION_JSON)}))
    from_xml = xml_client.service_definition("DMV66")
    assert from_xml == json_client.service_definition("DMV66")
    assert from_xml["attributes"][0]["order"] == 1
    assert from_xml["attributes"][0]["values"] == [
        {"key": "123", "name": "Ford"},
        {"key": "124", "name": "Chrysler"},
    ]
    check_service_definition(from_xml, "DMV66")


def test_request_lists_parse_alike_and_pass_the_checks() -> None:
    from_xml = client_for(answering({"/open311/v2/requests.xml": xml_answer(REQUESTS_XML)}), "xml").requests()
    from_json = client_for(answering({"/open311/v2/requests.json": json_answer(REQUESTS_JSON)})).requests()
    assert from_xml == from_json
    assert ids_of(from_xml) == ["638344", "638349"]
    assert from_xml[1]["description"] == "Crack & hole <near> the curb"
    assert from_xml[0]["lat"] == pytest.approx(37.762221815)
    check_service_requests(from_xml)


def test_post_answer_parses_alike_and_gives_the_id() -> None:
    xml_client = client_for(answering({"/open311/v2/requests.xml": xml_answer(POST_XML)}), "xml", api_key="k")
    json_client = client_for(answering({"/open311/v2/requests.json": json_answer(POST_JSON)}), api_key="k")
    from_xml = xml_client.submit(service_code="001", lat=37.76, long=-122.42)
    assert from_xml == json_client.submit(service_code="001", lat=37.76, long=-122.42)
    assert from_xml[0]["account_id"] is None
    check_post_response(from_xml)
    assert json_client.resolve_request_id(from_xml) == "293944"


def test_a_single_request_is_the_one_entry_of_its_array() -> None:
    one = json_answer(REQUESTS_JSON[:1])
    client = client_for(answering({"/open311/v2/requests/638344.json": one}))
    assert client.request("638344")["status"] == "closed"
    two = client_for(answering({"/open311/v2/requests/638344.json": json_answer(REQUESTS_JSON)}))
    with pytest.raises(SpecViolation, match="exactly one"):
        two.request("638344")


def test_the_spec_namespace_is_tolerated_on_xml() -> None:
    body = SERVICES_XML.replace("<services>", '<services xmlns="http://wiki.open311.org/GeoReport_v2">')
    services = client_for(answering({"/open311/v2/services.xml": xml_answer(body)}), "xml").services()
    assert services[0]["service_code"] == "001"


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_spec_error_raises_georeport_error(fmt: str) -> None:
    answer = json_answer(ERROR_JSON, 403) if fmt == "json" else xml_answer(ERROR_XML, 403)
    client = client_for(lambda _request: answer, fmt, api_key="wrong")
    with pytest.raises(GeoReportError) as caught:
        client.submit(service_code="001", lat=1.0, long=2.0)
    assert caught.value.status == 403
    assert caught.value.errors == [{"code": 403, "description": ERROR_JSON[0]["description"]}]


@pytest.mark.parametrize(
    ("fmt", "status", "body", "why"),
    [
        ("json", 404, b'{"detail": "Not Found"}', "error format"),
        ("json", 400, b'[{"code": 400}]', "no description"),
        ("json", 400, b"[]", "non-empty array"),
        ("json", 500, b"<html><body>Internal Server Error</body></html>", "not JSON"),
        ("json", 403, b'[{"code": "forbidden", "description": "no key"}]', "no numeric code"),
        ("xml", 404, b'{"detail": "Not Found"}', "not well-formed XML"),
        ("xml", 400, b"<error><code>400</code><description>x</description></error>", "root is <error>"),
        ("xml", 400, b"<errors><message>x</message></errors>", "may only hold <error>"),
        ("xml", 400, b"<errors></errors>", "non-empty array"),
    ],
)
def test_an_error_body_outside_the_spec_fails_loudly(fmt: str, status: int, body: bytes, why: str) -> None:
    client = client_for(lambda _request: httpx.Response(status, content=body), fmt)
    with pytest.raises(GeoReportProtocolError) as caught:
        client.services()
    message = str(caught.value)
    assert why in message
    assert f"HTTP {status}" in message and "not in the GeoReport v2 error format" in message
    assert "body starts" in message


@pytest.mark.parametrize(
    ("fmt", "body", "why"),
    [
        ("json", b'{"services": []}', "must be an array"),
        ("json", b"\xff\xfe[]", "not UTF-8"),
        ("xml", b"<service_requests/>", "root is <service_requests>"),
        ("xml", b"<services><service><a>1</a><a>2</a></service></services>", "twice"),
    ],
)
def test_a_success_body_outside_the_spec_fails_loudly(fmt: str, body: bytes, why: str) -> None:
    client = client_for(lambda _request: httpx.Response(200, content=body), fmt)
    with pytest.raises(GeoReportProtocolError, match=why):
        client.services()


def test_a_redirect_is_not_followed_but_reported() -> None:
    client = client_for(lambda _request: httpx.Response(302, headers={"Location": "/login"}))
    with pytest.raises(GeoReportProtocolError, match="non-2xx"):
        client.services()


# --- what the client sends ---------------------------------------------------------------------


def test_post_is_form_encoded_with_key_jurisdiction_and_attributes() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_answer(POST_JSON)

    client = client_for(handle, api_key="xyz", jurisdiction_id="city.gov")
    client.submit(
        service_code="001",
        lat=37.76524078,
        long=-122.4212043,
        description="A large sinkhole & <more>",
        email=None,
        attributes={"WHISPAWN": "123456", "COLOURS": ["red", "blue"]},
    )
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/open311/v2/requests.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert parse_qsl(request.content.decode("ascii"), keep_blank_values=True) == [
        ("api_key", "xyz"),
        ("jurisdiction_id", "city.gov"),
        ("service_code", "001"),
        ("lat", "37.76524078"),
        ("long", "-122.4212043"),
        ("description", "A large sinkhole & <more>"),
        ("attribute[WHISPAWN]", "123456"),
        ("attribute[COLOURS][]", "red"),
        ("attribute[COLOURS][]", "blue"),
    ]


def test_submit_form_sends_exactly_what_it_is_given() -> None:
    seen: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return json_answer(POST_JSON)

    client_for(handle, api_key="never-sent").submit_form([("service_code", "001"), ("description", "a\x00b")])
    assert parse_qsl(seen[0].decode("ascii")) == [("service_code", "001"), ("description", "a\x00b")]


def test_filters_are_sent_as_the_spec_writes_them() -> None:
    seen: list[httpx.URL] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return json_answer([])

    client = client_for(handle, jurisdiction_id="city.gov")
    client.requests(
        service_request_id=["1", "2"],
        service_code="006",
        status=["open", "closed"],
        start_date=datetime(2010, 5, 24, tzinfo=UTC),
        end_date=datetime(2010, 6, 24, 8, tzinfo=timezone(timedelta(hours=8))),
        zipcode=None,
    )
    (url,) = seen
    assert url.path == "/open311/v2/requests.json"
    assert dict(url.params) == {
        "service_request_id": "1,2",
        "service_code": "006",
        "status": "open,closed",
        "start_date": "2010-05-24T00:00:00+00:00",
        "end_date": "2010-06-24T08:00:00+08:00",
        "jurisdiction_id": "city.gov",
    }


def test_path_segments_are_quoted_and_the_base_may_lack_its_slash() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode("ascii"))
        return json_answer({"service_code": "a/b c", "attributes": []})

    client = GeoReportClient(BASE.rstrip("/"), transport=httpx.MockTransport(handle))
    client.service_definition("a/b c")
    assert seen == ["/open311/v2/services/a%2Fb%20c.json"]


# --- tokens -------------------------------------------------------------------------------------


def test_a_token_is_polled_until_it_names_the_request() -> None:
    answers = iter(
        [
            json_answer([{"token": "12345", "service_request_id": None}]),
            xml_answer(
                DECLARATION + "<service_requests><request><token>12345</token></request></service_requests>"
            ),
            xml_answer(
                DECLARATION + "<service_requests><request><service_request_id>638344</service_request_id>"
                "<token>12345</token></request></service_requests>"
            ),
        ]
    )
    client = client_for(lambda _request: next(answers), "json")
    xml_client = client_for(lambda _request: next(answers), "xml")
    assert client.token("12345")[0]["service_request_id"] is None
    assert xml_client.resolve_request_id([{"token": "12345"}], interval=0) == "638344"


def test_a_token_that_never_resolves_fails_within_its_bound() -> None:
    client = client_for(lambda _request: json_answer([{"token": 7}]))
    with pytest.raises(SpecViolation, match="within 0 s"):
        client.wait_for_request_id("7", timeout=0.0, interval=0)


def test_a_post_answer_without_id_or_token_cannot_be_followed() -> None:
    client = client_for(lambda _request: json_answer([]))
    with pytest.raises(SpecViolation, match="blackbox"):
        client.resolve_request_id([{"service_notice": "thanks"}])
    with pytest.raises(SpecViolation, match="one or the other"):
        check_post_response([{"service_request_id": "1", "token": "2"}])


# --- the checks themselves ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2010-01-01T00:00:00Z",
        "1994-11-05T08:15:30-05:00",
        "2024-02-29T23:59+08:00",
        "2024-01-01T00:00:00.123456789Z",
    ],
)
def test_w3c_datetimes_with_a_timezone_parse(value: str) -> None:
    assert parse_w3c_datetime(value).tzinfo is not None


@pytest.mark.parametrize(
    "value",
    [
        "2010-01-01T00:00:00",
        "2010-01-01",
        "2010-01-01 00:00:00Z",
        "2010-13-01T00:00:00Z",
        "yesterday",
        1262304000,
        None,
    ],
)
def test_datetimes_without_timezone_or_malformed_are_refused(value: object) -> None:
    with pytest.raises(SpecViolation):
        parse_w3c_datetime(value)


def test_the_same_instant_compares_equal_across_offsets() -> None:
    assert parse_w3c_datetime("1994-11-05T08:15:30-05:00") == parse_w3c_datetime("1994-11-05T13:15:30Z")
    assert format_w3c_datetime(datetime(2010, 1, 1, tzinfo=UTC)) == "2010-01-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="naive"):
        format_w3c_datetime(datetime(2010, 1, 1))  # a naive datetime is the point


def test_request_check_lists_every_problem() -> None:
    bad = {**REQUESTS_JSON[1], "status": "pending", "updated_datetime": "2010-04-19 06:37:38", "lat": 123.0}
    del bad["zipcode"]
    with pytest.raises(SpecViolation) as caught:
        check_service_request(bad)
    message = str(caught.value)
    for problem in ("'zipcode'", "status='pending'", "updated_datetime", "lat=123.0"):
        assert problem in message


def test_service_check_wants_the_spec_fields_and_enumerations() -> None:
    with pytest.raises(SpecViolation) as caught:
        check_service({"service_code": "001", "service_name": "x", "metadata": "true", "type": "instant"})
    message = str(caught.value)
    for problem in ("'description'", "'keywords'", "'group'", "metadata='true'", "type='instant'"):
        assert problem in message
    with pytest.raises(SpecViolation, match="more than once"):
        check_services([SERVICES_JSON[0], SERVICES_JSON[0]])


def test_definition_check_wants_typed_attributes() -> None:
    attribute = {**DEFINITION_JSON["attributes"][0], "values": [], "order": 0}
    with pytest.raises(SpecViolation) as caught:
        check_service_definition({"service_code": "DMV66", "attributes": [attribute]}, "DMV66")
    assert "without values" in str(caught.value) and "order=0" in str(caught.value)
    with pytest.raises(SpecViolation, match="asked for 'OTHER'"):
        check_service_definition({"service_code": "DMV66", "attributes": []}, "OTHER")


def test_error_check_accepts_the_spec_example() -> None:
    check_errors(ERROR_JSON)
    with pytest.raises(SpecViolation):
        check_errors({"code": 403, "description": "not in an array"})


def test_header_checks() -> None:
    request = httpx.Request("GET", BASE + "services.xml")
    check_content_type(
        httpx.Response(200, headers={"Content-Type": "text/xml; charset=utf-8"}, request=request), "xml"
    )
    with pytest.raises(SpecViolation, match="Content-Type"):
        check_content_type(httpx.Response(200, headers={"Content-Type": "text/html"}, request=request), "xml")
    check_xml_declaration(DECLARATION.encode())
    check_xml_declaration(b"<?xml version='1.0' encoding='UTF-8'?><services/>")
    with pytest.raises(SpecViolation, match="must start with"):
        check_xml_declaration(b"<services/>")


def test_xml_forms_of_control_characters() -> None:
    assert xml_forms("a\x07b\tc") == {"ab\tc", "a\ufffdb\tc"}
    assert xml_forms("plain") == {"plain"}
