"""A small Open311 GeoReport v2 client, written from the public specification only.

The specification is http://wiki.open311.org/GeoReport_v2 (frozen, "Stable"). This client knows
nothing about our server: it builds the URLs, form bodies and query strings the spec describes,
and reads answers the way the spec says they look, so the conformance tests in
tests/integration/test_open311_spec.py judge the server by the standard, not by our own code.

Reading answers:

* JSON and XML are parsed into the same plain Python values. The spec's JSON is a mapping of its
  XML (the "Spark convention"): ``<services><service>…`` becomes a list of dicts,
  ``<service_definition>`` a dict, ``<service_requests><request>…`` a list of dicts,
  ``<errors><error>…`` a list of dicts. After parsing, identifiers (service_code,
  service_request_id, token, account_id, address_id, zipcode, attribute code, value key) are
  strings whatever the format (the spec's own JSON examples print some as numbers); XML text is
  typed where the spec gives a type (metadata/variable/required are booleans, order an integer,
  lat/long numbers); an empty XML element is ``None``, like JSON ``null``.
* An HTTP 4xx/5xx answer raises :class:`GeoReportError` carrying the status and the parsed
  ``[{code, description}]`` list. If that body is *not* in the spec's error format, the client
  raises :class:`GeoReportProtocolError` instead, quoting the start of the body.
* Anything else that does not look like the spec (wrong XML root, a dict where a list belongs,
  invalid UTF-8, a redirect) raises :class:`GeoReportProtocolError`.

Checking answers: the ``check_*`` functions below validate the shapes the spec documents
(required keys present, enumerations respected, W3C datetimes with a timezone). They raise
:class:`SpecViolation` (an ``AssertionError``, so pytest reports it as a test failure) listing
every problem found in the value, not only the first.
"""

from __future__ import annotations

import json
import math
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx

Record = dict[str, Any]
Format = Literal["json", "xml"]
FilterValue = str | datetime | Sequence[str] | None
FormPairs = Mapping[str, str] | Sequence[tuple[str, str]]

SPEC_NAMESPACE = "http://wiki.open311.org/GeoReport_v2"

# XML containers whose JSON form is an array, with the one element name each may hold.
LIST_CONTAINERS: dict[str, str] = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}

IDENTIFIER_FIELDS = frozenset(
    {"service_code", "service_request_id", "token", "account_id", "address_id", "zipcode", "code", "key"}
)
BOOLEAN_FIELDS = frozenset({"metadata", "variable", "required"})
INTEGER_FIELDS = frozenset({"order"})
NUMBER_FIELDS = frozenset({"lat", "long"})

SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")
SERVICE_TYPES = frozenset({"realtime", "batch", "blackbox"})
ATTRIBUTE_DATATYPES = frozenset({"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"})
# Request fields the spec does not mark "May not be returned": the key must be there (value may be null).
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "service_name",
    "service_code",
    "description",
    "requested_datetime",
    "updated_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
# Marked "May not be returned": checked only when present.
REQUEST_OPTIONAL_FIELDS = ("status_notes", "agency_responsible", "service_notice", "expected_datetime")
REQUEST_STATUSES = frozenset({"open", "closed"})

# The W3C note's complete date plus hours and minutes, optional seconds and fraction; the
# GeoReport spec makes the timezone designator (Z or ±hh:mm) mandatory.
_W3C_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}(?::\d{2})?)(?P<fraction>\.\d+)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})$"
)
_XML_DECLARATION = re.compile(rb"""^<\?xml\s[^>]*encoding\s*=\s*["']utf-8["'][^>]*\?>""", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Exceptions


class SpecViolation(AssertionError):
    """An answer that breaks the GeoReport v2 specification."""


class GeoReportProtocolError(SpecViolation):
    """The server's answer could not be read as the spec describes (including error bodies)."""

    def __init__(self, message: str, *, status: int | None = None, body: bytes = b"") -> None:
        where = f"HTTP {status}: " if status is not None else ""
        excerpt = f"\n  body starts: {body[:400]!r}" if body else ""
        super().__init__(f"{where}{message}{excerpt}")
        self.status = status
        self.body = body


class GeoReportError(Exception):
    """The server answered with an error in the spec's format: ``[{code, description}, …]``."""

    def __init__(self, status: int, errors: list[Record], *, url: str = "") -> None:
        listed = "; ".join(f"{e.get('code')}: {e.get('description')}" for e in errors)
        super().__init__(f"HTTP {status} from {url or '?'}: {listed}")
        self.status = status
        self.errors = errors
        self.url = url


# --------------------------------------------------------------------------------------------
# Parsing


def _local_name(tag: str) -> str:
    """An element's name without the spec's namespace (the spec allows it, discouraged)."""
    prefix = "{" + SPEC_NAMESPACE + "}"
    return tag[len(prefix) :] if tag.startswith(prefix) else tag


def _element_to_python(element: ET.Element) -> Any:
    name = _local_name(element.tag)
    children = list(element)
    if name in LIST_CONTAINERS:
        item_name = LIST_CONTAINERS[name]
        if (element.text or "").strip():
            raise GeoReportProtocolError(f"<{name}> holds text {element.text!r}, not <{item_name}>")
        items = []
        for child in children:
            if _local_name(child.tag) != item_name:
                raise GeoReportProtocolError(f"<{name}> may only hold <{item_name}>, found <{child.tag}>")
            items.append(_element_to_python(child))
        return items
    if children:
        record: Record = {}
        for child in children:
            key = _local_name(child.tag)
            if key in record:
                raise GeoReportProtocolError(f"<{name}> holds <{key}> twice")
            record[key] = _element_to_python(child)
        return record
    text = element.text
    return None if text is None or text == "" else text


def _type_xml_leaves(value: Any) -> Any:
    """Give XML text the types the spec documents, so XML and JSON compare equal."""
    if isinstance(value, list):
        return [_type_xml_leaves(item) for item in value]
    if not isinstance(value, dict):
        return value
    typed: Record = {}
    for key, item in value.items():
        if isinstance(item, str):
            if key in BOOLEAN_FIELDS and item in ("true", "false"):
                item = item == "true"
            elif key in INTEGER_FIELDS and re.fullmatch(r"[+-]?\d+", item.strip()):
                item = int(item)
            elif key in NUMBER_FIELDS:
                number = _as_number(item)  # not a number: left as text for the checks to report
                item = item if number is None else number
        typed[key] = _type_xml_leaves(item)
    return typed


def _stringify_identifiers(value: Any) -> Any:
    """Identifiers are opaque strings; the spec's JSON examples print some as numbers."""
    if isinstance(value, list):
        return [_stringify_identifiers(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: Record = {}
    for key, item in value.items():
        if key in IDENTIFIER_FIELDS and isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        out[key] = _stringify_identifiers(item)
    return out


def parse_json_body(body: bytes) -> Any:
    """A JSON body as the spec requires it (UTF-8), identifiers as strings."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GeoReportProtocolError(f"the body is not UTF-8 ({exc})", body=body) from exc
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeoReportProtocolError(f"the body is not JSON ({exc})", body=body) from exc
    return _stringify_identifiers(parsed)


def parse_xml_body(body: bytes, root: str) -> Any:
    """An XML body whose root element must be ``root``, as plain values (see the module doc)."""
    try:
        element = ET.fromstring(body)
    except ET.ParseError as exc:
        raise GeoReportProtocolError(f"the body is not well-formed XML ({exc})", body=body) from exc
    found = _local_name(element.tag)
    if found != root:
        raise GeoReportProtocolError(f"the XML root is <{found}>, expected <{root}>", body=body)
    return _stringify_identifiers(_type_xml_leaves(_element_to_python(element)))


def parse_body(body: bytes, fmt: Format, root: str) -> Any:
    """Parse a body of either format into the same plain values; ``root`` names the XML root."""
    return parse_json_body(body) if fmt == "json" else parse_xml_body(body, root)


def parse_error_body(body: bytes, fmt: Format, status: int) -> list[Record]:
    """The spec's error array, or :class:`GeoReportProtocolError` saying why the body is not one."""
    shape = "[{code, description}]" if fmt == "json" else "<errors><error><code/><description/>…"
    try:
        parsed = parse_body(body, fmt, "errors")
        check_errors(parsed)
    except SpecViolation as exc:
        raise GeoReportProtocolError(
            f"the error body is not in the GeoReport v2 error format {shape}: {exc}",
            status=status,
            body=body,
        ) from exc
    errors: list[Record] = []
    for error in parsed:
        code = error["code"]
        errors.append({**error, "code": int(code) if isinstance(code, str) else code})
    return errors


# --------------------------------------------------------------------------------------------
# Checks (the tests call these)


def _fail(problems: list[str], what: str, value: Any) -> None:
    if problems:
        shown = repr(value)
        shown = shown if len(shown) <= 600 else shown[:600] + "…"
        raise SpecViolation(f"{what} breaks GeoReport v2: " + "; ".join(problems) + f"\n  value: {shown}")


def parse_w3c_datetime(value: Any, field: str = "datetime") -> datetime:
    """A W3C/ISO 8601 datetime with its timezone (Z or ±hh:mm), which the spec makes mandatory."""
    match = _W3C_DATETIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise SpecViolation(
            f"{field}={value!r} is not a W3C datetime with a timezone (e.g. 2010-01-01T00:00:00Z or …+08:00)"
        )
    fraction = (match["fraction"] or "")[:7]  # datetime keeps microseconds
    tz = "+00:00" if match["tz"] == "Z" else match["tz"]
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{tz}")
    except ValueError as exc:
        raise SpecViolation(f"{field}={value!r} is not a valid date or time ({exc})") from exc
    assert parsed.tzinfo is not None
    return parsed


def format_w3c_datetime(moment: datetime) -> str:
    """A timezone-aware datetime in the W3C form the spec asks for in filters."""
    if moment.tzinfo is None:
        raise ValueError("GeoReport datetimes need a timezone; got a naive datetime")
    return moment.isoformat(timespec="seconds")


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _nonempty_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def check_errors(value: Any) -> None:
    """An error answer: a non-empty array of ``{code, description}``."""
    if not isinstance(value, list) or not value:
        raise SpecViolation(f"an error answer must be a non-empty array of errors, got {value!r:.300}")
    problems: list[str] = []
    for index, error in enumerate(value):
        if not isinstance(error, dict):
            problems.append(f"error #{index} is not an object")
            continue
        code = error.get("code")
        if isinstance(code, bool) or not (
            isinstance(code, int) or (isinstance(code, str) and re.fullmatch(r"\d+", code))
        ):
            problems.append(f"error #{index} has no numeric code (code={code!r})")
        if not _nonempty_text(error.get("description")):
            problems.append(f"error #{index} has no description")
    _fail(problems, "error answer", value)


def check_service(service: Any) -> None:
    """One entry of GET Service List."""
    if not isinstance(service, dict):
        raise SpecViolation(f"a service must be an object, got {service!r:.300}")
    problems = [f"missing key {key!r}" for key in SERVICE_FIELDS if key not in service]
    if "service_code" in service and not _nonempty_text(service["service_code"]):
        problems.append("service_code is empty")
    if "service_name" in service and not _nonempty_text(service["service_name"]):
        problems.append("service_name is empty")
    if "metadata" in service and not isinstance(service["metadata"], bool):
        problems.append(f"metadata={service['metadata']!r} is not true/false")
    if "type" in service and service["type"] not in SERVICE_TYPES:
        problems.append(f"type={service['type']!r} is not one of {sorted(SERVICE_TYPES)}")
    for key in ("description", "keywords", "group"):
        if key in service and not _is_text(service[key]):
            problems.append(f"{key}={service[key]!r} is not text")
    _fail(problems, f"service {service.get('service_code')!r}", service)


def check_services(services: Any) -> None:
    """GET Service List: an array of services with distinct codes."""
    if not isinstance(services, list):
        raise SpecViolation(f"the service list must be an array, got {services!r:.300}")
    for service in services:
        check_service(service)
    codes = [service["service_code"] for service in services]
    duplicated = sorted({code for code in codes if codes.count(code) > 1})
    if duplicated:
        raise SpecViolation(f"service codes appear more than once in the service list: {duplicated}")


def check_service_definition(definition: Any, service_code: str) -> None:
    """GET Service Definition for ``service_code``."""
    if not isinstance(definition, dict):
        raise SpecViolation(f"a service definition must be an object, got {definition!r:.300}")
    problems: list[str] = []
    if definition.get("service_code") != service_code:
        problems.append(f"service_code={definition.get('service_code')!r}, asked for {service_code!r}")
    attributes = definition.get("attributes")
    if not isinstance(attributes, list):
        problems.append(f"attributes={attributes!r:.100} is not an array")
        attributes = []
    codes: list[Any] = []
    orders: list[Any] = []
    for index, attribute in enumerate(attributes):
        label = f"attribute #{index}"
        if not isinstance(attribute, dict):
            problems.append(f"{label} is not an object")
            continue
        codes.append(attribute.get("code"))
        orders.append(attribute.get("order"))
        if not _nonempty_text(attribute.get("code")):
            problems.append(f"{label} has no code")
        for key in ("variable", "required"):
            if not isinstance(attribute.get(key), bool):
                problems.append(f"{label} {key}={attribute.get(key)!r} is not true/false")
        datatype = attribute.get("datatype")
        if datatype not in ATTRIBUTE_DATATYPES:
            problems.append(f"{label} datatype={datatype!r} is not one of {sorted(ATTRIBUTE_DATATYPES)}")
        order = attribute.get("order")
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            problems.append(f"{label} order={order!r} is not a positive integer")
        for key in ("datatype_description", "description"):
            if key not in attribute:
                problems.append(f"{label} lacks {key!r}")
            elif not _is_text(attribute[key]):
                problems.append(f"{label} {key}={attribute[key]!r} is not text")
        if datatype in ("singlevaluelist", "multivaluelist"):
            values = attribute.get("values")
            if not isinstance(values, list) or not values:
                problems.append(f"{label} is a {datatype} without values")
            else:
                for value in values:
                    if not (isinstance(value, dict) and _nonempty_text(value.get("key")) and "name" in value):
                        problems.append(f"{label} has a value without key/name: {value!r:.100}")
    if len(set(map(repr, codes))) != len(codes):
        problems.append(f"attribute codes repeat: {codes}")
    if len(set(map(repr, orders))) != len(orders):
        problems.append(f"attribute orders repeat: {orders}")
    _fail(problems, f"service definition {service_code!r}", definition)


def check_service_request(request: Any) -> None:
    """One service request, as GET Service Request(s) return it."""
    if not isinstance(request, dict):
        raise SpecViolation(f"a service request must be an object, got {request!r:.300}")
    problems = [f"missing key {key!r}" for key in REQUEST_FIELDS if key not in request]
    if "service_request_id" in request and not _nonempty_text(request["service_request_id"]):
        problems.append("service_request_id is empty")
    if "service_code" in request and not _nonempty_text(request["service_code"]):
        problems.append("service_code is empty")
    if "status" in request and request["status"] not in REQUEST_STATUSES:
        problems.append(f"status={request['status']!r} is not one of {sorted(REQUEST_STATUSES)}")
    for key in ("requested_datetime", "updated_datetime"):
        if key in request:
            try:
                parse_w3c_datetime(request[key], key)
            except SpecViolation as exc:
                problems.append(str(exc))
    if request.get("expected_datetime") is not None:
        try:
            parse_w3c_datetime(request["expected_datetime"], "expected_datetime")
        except SpecViolation as exc:
            problems.append(str(exc))
    for key, limit in (("lat", 90.0), ("long", 180.0)):
        value = request.get(key)
        if value is None:
            continue
        number = _as_number(value)
        if number is None or not math.isfinite(number) or abs(number) > limit:
            problems.append(f"{key}={value!r} is not a WGS84 coordinate")
    text_fields = ("service_name", "description", "address", "media_url")
    for key in (*text_fields, "status_notes", "agency_responsible", "service_notice"):
        if key in request and not _is_text(request[key]):
            problems.append(f"{key}={request[key]!r:.80} is not text")
    _fail(problems, f"service request {request.get('service_request_id')!r}", request)


def check_service_requests(requests: Any) -> None:
    """GET Service Requests: an array of service requests."""
    if not isinstance(requests, list):
        raise SpecViolation(f"the service request list must be an array, got {requests!r:.300}")
    for request in requests:
        check_service_request(request)


def check_post_response(response: Any) -> None:
    """POST Service Request: an array whose entry has service_request_id or token (not both)."""
    if not isinstance(response, list) or len(response) != 1 or not isinstance(response[0], dict):
        raise SpecViolation(f"POST Service Request must answer an array of one entry, got {response!r:.300}")
    entry = response[0]
    problems: list[str] = []
    has_id = _nonempty_text(entry.get("service_request_id"))
    has_token = _nonempty_text(entry.get("token"))
    if has_id and has_token:
        problems.append("both service_request_id and token are returned (the spec says one or the other)")
    for key in ("service_notice", "account_id"):
        if key in entry and not _is_text(entry[key]):
            problems.append(f"{key}={entry[key]!r} is not text")
    _fail(problems, "POST Service Request answer", response)


def check_token_response(response: Any, token: str) -> None:
    """GET service_request_id from a token: an array of one ``{service_request_id, token}``."""
    if not isinstance(response, list) or len(response) != 1 or not isinstance(response[0], dict):
        raise SpecViolation(f"the token answer must be an array of one entry, got {response!r:.300}")
    entry = response[0]
    if entry.get("token") not in (None, token):
        raise SpecViolation(f"the token answer names token {entry.get('token')!r}, asked for {token!r}")


def check_content_type(response: httpx.Response, fmt: Format) -> None:
    """The Content-Type the spec shows for each format (XML may also be sent as application/xml)."""
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    allowed = {"application/json"} if fmt == "json" else {"text/xml", "application/xml"}
    if media_type not in allowed:
        raise SpecViolation(f"{response.request.url} answered Content-Type {media_type!r}, not {allowed}")


def check_xml_declaration(body: bytes) -> None:
    """The spec: the root element must be preceded by an XML declaration with encoding="UTF-8"."""
    if not _XML_DECLARATION.match(body):
        raise SpecViolation(f'XML must start with <?xml … encoding="UTF-8"?>; starts {body[:80]!r}')


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def coordinate(value: Any) -> float | None:
    """A lat/long value as a float (JSON gives numbers, XML text), or None when absent."""
    return _as_number(value)


# --------------------------------------------------------------------------------------------
# The client


class GeoReportClient:
    """A synchronous GeoReport v2 client over httpx.

    ``base_url`` is the endpoint the spec writes ``[API endpoint]``, e.g.
    ``http://127.0.0.1:8123/open311/v2/``. ``api_key`` is sent with POST Service Request only
    (the spec's GET methods do not require a key). ``jurisdiction_id`` is sent on every call
    when given. ``fmt`` chooses the ``.json`` or ``.xml`` resources.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        jurisdiction_id: str | None = None,
        fmt: Format = "json",
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if fmt not in ("json", "xml"):
            raise ValueError(f"fmt must be 'json' or 'xml', not {fmt!r}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_key = api_key
        self.jurisdiction_id = jurisdiction_id
        self.fmt: Format = fmt
        self._timeout = timeout
        self._transport = transport
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, follow_redirects=False
        )

    # -- lifecycle and variants --

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GeoReportClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def with_format(self, fmt: Format) -> GeoReportClient:
        """The same client speaking the other format (a new connection pool; close it too)."""
        return GeoReportClient(
            self.base_url,
            self.api_key,
            self.jurisdiction_id,
            fmt,
            timeout=self._timeout,
            transport=self._transport,
        )

    def with_api_key(self, api_key: str | None) -> GeoReportClient:
        """The same client with another api_key (None: send none)."""
        return GeoReportClient(
            self.base_url,
            api_key,
            self.jurisdiction_id,
            self.fmt,
            timeout=self._timeout,
            transport=self._transport,
        )

    # -- raw HTTP, for tests that look at headers and bytes --

    def resource(self, *segments: str) -> str:
        """The relative URL of a resource: ``resource("services", "001")`` → ``services/001.json``."""
        *parents, last = segments
        parts = [quote(segment, safe="") for segment in parents]
        parts.append(f"{quote(last, safe='')}.{self.fmt}")
        return "/".join(parts)

    def get_raw(self, *segments: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        query = dict(params or {})
        if self.jurisdiction_id is not None:
            query.setdefault("jurisdiction_id", self.jurisdiction_id)
        return self._http.get(self.resource(*segments), params=query)

    def post_raw(self, form: FormPairs) -> httpx.Response:
        """POST exactly these form fields to ``requests.{fmt}``, form-encoded in UTF-8."""
        pairs = list(form.items()) if isinstance(form, Mapping) else list(form)
        body = urlencode(pairs, encoding="utf-8").encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return self._http.post(self.resource("requests"), content=body, headers=headers)

    def decode(self, response: httpx.Response, root: str) -> Any:
        """A response's parsed body; raises GeoReportError / GeoReportProtocolError as described."""
        status = response.status_code
        if status >= 400:
            errors = parse_error_body(response.content, self.fmt, status)
            raise GeoReportError(status, errors, url=str(response.request.url))
        if not 200 <= status < 300:
            raise GeoReportProtocolError(
                f"{response.request.method} {response.request.url} answered a non-2xx status",
                status=status,
                body=response.content,
            )
        try:
            return parse_body(response.content, self.fmt, root)
        except GeoReportProtocolError as exc:
            raise GeoReportProtocolError(
                f"{response.request.method} {response.request.url}: {exc}", status=status
            ) from exc

    # -- the spec's methods --

    def services(self) -> list[Record]:
        """GET Service List (``services.{fmt}``)."""
        return self._list(self.decode(self.get_raw("services"), "services"), "service list")

    def service_definition(self, service_code: str) -> Record:
        """GET Service Definition (``services/{service_code}.{fmt}``)."""
        definition = self.decode(self.get_raw("services", service_code), "service_definition")
        if not isinstance(definition, dict):
            raise GeoReportProtocolError(f"a service definition must be an object, got {definition!r:.200}")
        return definition

    def submit(
        self,
        *,
        service_code: str | None,
        attributes: Mapping[str, str | Sequence[str]] | None = None,
        **fields: str | float | None,
    ) -> list[Record]:
        """POST Service Request with the client's api_key and jurisdiction_id (see :meth:`form`)."""
        return self.submit_form(self.form(service_code=service_code, attributes=attributes, **fields))

    def form(
        self,
        *,
        service_code: str | None,
        attributes: Mapping[str, str | Sequence[str]] | None = None,
        **fields: str | float | None,
    ) -> list[tuple[str, str]]:
        """The form fields of a POST Service Request, with the client's api_key and jurisdiction_id.

        ``fields`` are the spec's form fields (lat, long, address_string, address_id, email,
        device_id, account_id, first_name, last_name, phone, description, media_url); None
        leaves a field out. ``attributes`` become ``attribute[code]=value``, or
        ``attribute[code][]=value`` per value for a multivaluelist.
        """
        pairs: list[tuple[str, str]] = []
        if self.api_key is not None:
            pairs.append(("api_key", self.api_key))
        if self.jurisdiction_id is not None:
            pairs.append(("jurisdiction_id", self.jurisdiction_id))
        if service_code is not None:
            pairs.append(("service_code", service_code))
        for name, value in fields.items():
            if value is not None:
                pairs.append((name, repr(value) if isinstance(value, float) else str(value)))
        for code, answer in (attributes or {}).items():
            if isinstance(answer, str):
                pairs.append((f"attribute[{code}]", answer))
            else:
                pairs.extend((f"attribute[{code}][]", item) for item in answer)
        return pairs

    def submit_form(self, form: FormPairs) -> list[Record]:
        """POST exactly ``form`` (no api_key added): for tests of bad input."""
        return self._list(self.decode(self.post_raw(form), "service_requests"), "POST Service Request answer")

    def requests(self, **filters: FilterValue) -> list[Record]:
        """GET Service Requests (``requests.{fmt}``) with the spec's filters.

        service_request_id, service_code and status take a string or a list (sent comma
        delimited); start_date and end_date take an aware datetime or a string sent as is.
        None leaves a filter out; "" sends it empty.
        """
        params: dict[str, str] = {}
        for name, value in filters.items():
            if value is None:
                continue
            if isinstance(value, datetime):
                params[name] = format_w3c_datetime(value)
            elif isinstance(value, str):
                params[name] = value
            else:
                params[name] = ",".join(value)
        answer = self.decode(self.get_raw("requests", params=params), "service_requests")
        return self._list(answer, "request list")

    def request(self, service_request_id: str) -> Record:
        """GET Service Request (``requests/{id}.{fmt}``): the one request of the answer's array."""
        answer = self._list(
            self.decode(self.get_raw("requests", service_request_id), "service_requests"), "request answer"
        )
        if len(answer) != 1 or not isinstance(answer[0], dict):
            raise SpecViolation(
                f"GET requests/{service_request_id}.{self.fmt} must answer an array of exactly one "
                f"request, got {len(answer)} entries: {answer!r:.300}"
            )
        record: Record = answer[0]
        return record

    def token(self, token_id: str) -> list[Record]:
        """GET service_request_id from a token (``tokens/{token_id}.{fmt}``)."""
        return self._list(self.decode(self.get_raw("tokens", token_id), "service_requests"), "token answer")

    # -- conveniences built on the spec's flow --

    def wait_for_request_id(self, token_id: str, *, timeout: float = 20.0, interval: float = 0.5) -> str:
        """Poll ``tokens/{token_id}`` until it names a service_request_id (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.token(token_id)
            check_token_response(answer, token_id)
            found = answer[0].get("service_request_id")
            if _nonempty_text(found):
                return str(found)
            if time.monotonic() >= deadline:
                raise SpecViolation(f"token {token_id!r} named no service_request_id within {timeout:.0f} s")
            time.sleep(interval)

    def resolve_request_id(
        self, post_answer: list[Record], *, timeout: float = 20.0, interval: float = 0.5
    ) -> str:
        """The service_request_id a POST created: given directly, or through its token."""
        check_post_response(post_answer)
        entry = post_answer[0]
        if _nonempty_text(entry.get("service_request_id")):
            return str(entry["service_request_id"])
        if _nonempty_text(entry.get("token")):
            return self.wait_for_request_id(str(entry["token"]), timeout=timeout, interval=interval)
        raise SpecViolation(
            "POST Service Request answered neither service_request_id nor token "
            f"(a 'blackbox' service cannot be followed): {post_answer!r:.300}"
        )

    def submit_and_resolve(self, *, service_code: str, **fields: Any) -> str:
        """POST a request and return its service_request_id (following a token if one is given)."""
        return self.resolve_request_id(self.submit(service_code=service_code, **fields))

    @staticmethod
    def _list(value: Any, what: str) -> list[Record]:
        if not isinstance(value, list):
            raise GeoReportProtocolError(f"the {what} must be an array, got {value!r:.300}")
        return value


def ids_of(requests: Iterable[Record]) -> list[str]:
    """The service_request_ids of a request list, in order."""
    return [str(request.get("service_request_id")) for request in requests]


def xml_forms(text: str) -> set[str]:
    """The forms ``text`` may take in well-formed XML 1.0, which cannot carry most C0 controls.

    A server may drop such characters or replace them with U+FFFD in XML; every other character
    must survive as is.
    """

    def legal(char: str) -> bool:
        point = ord(char)
        return (
            point in (0x9, 0xA, 0xD)
            or 0x20 <= point <= 0xD7FF
            or 0xE000 <= point <= 0xFFFD
            or 0x10000 <= point <= 0x10FFFF
        )

    dropped = "".join(char for char in text if legal(char))
    replaced = "".join(char if legal(char) else "\ufffd" for char in text)
    return {dropped, replaced}
