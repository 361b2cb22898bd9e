"""Open311 GeoReport v2 in our words: services are leaf categories, service requests are cases.

Pure: rows in, the standard's records out; a POSTed form in, a ``NewCase`` out. The routes
(``agents_ui.open311_api``) load the rows, call these, and send the answers as JSON or XML.

What the specification (http://wiki.open311.org/GeoReport_v2, frozen) decides here:

* a service is a category an outside system may file under (``leaf_categories(open311_only=True)``):
  ``service_code`` is the category code, ``group`` its parent's name, ``metadata`` false (we ask
  for no extra attributes), ``type`` realtime (the case number is known as soon as it is filed);
* a request's ``status`` has only two values: ``closed`` once the case is closed, evaluated or
  merged into another one (the hotline is done with it), ``open`` before;
* ``expected_datetime`` is the department's deadline (``due_at``), unknown until dispatch;
* the caller's name, phone and e-mail are kept on the case for the hotline and never shown;
* "Optional" arguments sent empty count as not sent;
* ``description`` is free text of at most 4,000 characters with line breaks allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from case_bridge.lifecycle import CaseStatus
from case_bridge.models import Case, CaseEvent, CaseSource, Category, Department
from case_bridge.service import NewCase

Record = dict[str, Any]

DESCRIPTION_LIMIT = 4000  # the spec's limit on description
MAX_FORM_FIELDS = 200
MAX_ATTRIBUTES = 50
ATTRIBUTE_VALUE_LIMIT = 1000
MEDIA_URL_LIMIT = 1000
ADDRESS_ID_LIMIT = 64
ACCOUNT_ID_LIMIT = 128
DEVICE_ID_LIMIT = 128
# GET Service Requests: "a span of 90 days or first 1000 requests returned, whichever is smallest".
WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
MAX_LISTED_CODES = 100

OPEN, CLOSED = "open", "closed"
CLOSED_STATUSES = frozenset(status.value for status in CaseStatus if not status.is_open)

# The timeline row that keeps what a GeoReport request brought and a case has no column for
# (media_url, address_id, the client's account_id, attribute answers), written once at intake.
DETAILS_ACTION = "open311_details"
# Timeline actions that change what the public is told about a request (status_notes): the
# department's reply and the on-call answer are written for the citizen (they are what the
# closing SMS quotes); a rejected reply or a reopening withdraws the answer; a merge points to
# the case that goes on. Other notes (returns, extensions, supervision) are between the hotline
# and its departments and stay inside.
NOTE_ACTIONS = frozenset({"reply", "resolve_on_call", "reject_reply", "reopen", "merge"})

_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)
_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]{1,64})\](\[\])?")
# C0 controls and DEL but tab and line feed; carriage returns are turned into line feeds first.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# The W3C note's forms (year; year-month; date; date with hh:mm, :ss, fraction and a zone);
# [0-9], not \d, which would also take other scripts' digits.
_W3C = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2}))?)?)?"
)


class FormRefused(ValueError):
    """The POSTed form cannot be read or breaks a rule of the spec (HTTP 400); says which field."""


class QueryRefused(ValueError):
    """A GET Service Requests filter that cannot be used (HTTP 400); says which one."""


# --- services -----------------------------------------------------------------------------------


def name_in(category: Category, language: str) -> str:
    """The category's name in the site's language (Chinese unless the site speaks English)."""
    return (category.name_en or category.name) if language == "en" else category.name


def keywords_of(text: str) -> str:
    """Our keywords are separated by spaces (they double as ASR key phrases); the spec's are a
    comma separated list."""
    seen: list[str] = []
    for word in re.split(r"[\s,，、]+", text):
        if word and word not in seen:
            seen.append(word)
    return ", ".join(seen)


def service_entry(category: Category, parent: Category | None, language: str) -> Record:
    """One entry of GET Service List."""
    return {
        "service_code": category.code,
        "service_name": name_in(category, language),
        "description": category.description or None,
        "metadata": False,
        "type": "realtime",
        "keywords": keywords_of(category.keywords or "") or None,
        "group": name_in(parent, language) if parent is not None else None,
    }


def service_definition(category: Category) -> Record:
    """GET Service Definition: no service of ours asks for attributes, so the list is empty (the
    spec only requires the call for ``metadata=true`` services; an empty one serves clients that
    always ask)."""
    return {"service_code": category.code, "attributes": []}


# --- request records ----------------------------------------------------------------------------


def w3c(moment: datetime | None, zone: tzinfo) -> str | None:
    """A W3C datetime with the site's offset (``2026-09-18T10:00:00+08:00``): the spec makes the
    zone mandatory, and the site's own clock is what its people read."""
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment is not None else None


def status_of(case: Case) -> str:
    return CLOSED if case.status in CLOSED_STATUSES else OPEN


def status_notes(events: Iterable[CaseEvent], language: str) -> str | None:
    """What the public is told of the current status, from the case's NOTE_ACTIONS rows (oldest
    first): the last answer, unless it was withdrawn since."""
    english = language == "en"
    notes: str | None = None
    for event in events:
        if event.action == "reply":
            notes = str(event.data.get("reply") or "") or None
        elif event.action == "resolve_on_call":
            notes = str(event.data.get("answer") or "") or None
        elif event.action == "reject_reply":
            notes = None
        elif event.action == "reopen":
            notes = "Reopened for further handling." if english else "工单已重新办理。"
        elif event.action == "merge":
            into = str(event.data.get("into") or "")
            notes = f"Duplicate of request {into}." if english else f"重复件，已并入工单{into}。"
    return notes


def service_notice(case: Case, department: Department | None, language: str, zone: tzinfo) -> str | None:
    """What is expected to happen next, while the request is open."""
    if status_of(case) == CLOSED:
        return None
    english = language == "en"
    if department is None:
        return (
            "Received; a dispatcher will send it to the responsible agency."
            if english
            else "已受理，待派遣。"
        )
    agency = department_name(department, language)
    due = case.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if case.due_at else None
    if english:
        return f"Sent to {agency}" + (f"; to be completed by {due}." if due else ".")
    return f"已转{agency}办理" + (f"，{due}前办结。" if due else "。")


def department_name(department: Department, language: str) -> str:
    return (department.name_en or department.name) if language == "en" else department.name


def request_record(
    case: Case,
    *,
    category: Category | None,
    department: Department | None,
    notes: str | None,
    details: Mapping[str, Any],
    language: str,
    zone: tzinfo,
) -> Record:
    """One request of GET Service Request(s). The caller's name, phone and e-mail are left out
    on purpose: anyone may read these records."""
    closed = status_of(case) == CLOSED
    return {
        "service_request_id": case.number,
        "status": CLOSED if closed else OPEN,
        "status_notes": notes,
        "service_name": name_in(category, language) if category is not None else None,
        "service_code": category.code if category is not None else None,
        "description": case.content or None,
        "agency_responsible": department_name(department, language) if department is not None else None,
        "service_notice": service_notice(case, department, language, zone),
        "requested_datetime": w3c(case.created_at, zone),
        # The spec: for a closed request, the date it was closed.
        "updated_datetime": w3c((case.closed_at or case.updated_at) if closed else case.updated_at, zone),
        "expected_datetime": w3c(case.due_at, zone),
        "address": case.address or None,
        "address_id": details.get("address_id") or None,
        "zipcode": None,  # not asked for, not kept
        "lat": case.lat,
        "long": case.lon,
        "media_url": details.get("media_url") or None,
    }


# --- POST Service Request: the form -------------------------------------------------------------


@dataclass(frozen=True)
class PostedForm:
    """A form as sent: the spec's fields (empty ones dropped: "Optional" means empty is absent)
    and the ``attribute[code]`` answers. Unknown fields are ignored, as a newer client may send
    more than we know."""

    fields: Mapping[str, str]
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def read_form(body: bytes) -> PostedForm:
    """Parse an application/x-www-form-urlencoded body (UTF-8, as the spec requires)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except UnicodeDecodeError as exc:
        raise FormRefused("the form is not UTF-8") from exc
    except ValueError as exc:  # more fields than max_num_fields
        raise FormRefused(f"the form has more than {MAX_FORM_FIELDS} fields") from exc
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for name, raw in pairs:
        value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
        if name in _FIELDS:
            if not value:
                continue
            if name in fields and fields[name] != value:
                raise FormRefused(f"{name}: sent twice with different values")
            fields[name] = value
            continue
        match = _ATTRIBUTE.fullmatch(name)
        if match is None:
            continue
        code = match.group(1)
        if code not in attributes and len(attributes) >= MAX_ATTRIBUTES:
            raise FormRefused(f"attribute: at most {MAX_ATTRIBUTES} attributes")
        if len(value) > ATTRIBUTE_VALUE_LIMIT or _CONTROL.search(value):
            raise FormRefused(f"attribute[{code}]: at most {ATTRIBUTE_VALUE_LIMIT} characters, no controls")
        if value:
            attributes.setdefault(code, []).append(value)
    return PostedForm(fields, {code: tuple(values) for code, values in attributes.items()})


@dataclass(frozen=True)
class Submission:
    """A request checked against the spec's rules, ready to become a case."""

    service_code: str
    description: str = ""
    lat: float | None = None
    long: float | None = None
    address_string: str = ""
    address_id: str = ""
    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    device_id: str = ""
    account_id: str = ""
    media_url: str = ""
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _coordinate(form: PostedForm, name: str, limit: float) -> float:
    text = form.get(name)
    try:
        value = float(text)
    except ValueError:
        raise FormRefused(f"{name}: a WGS84 coordinate in decimal degrees, not {text[:40]!r}") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise FormRefused(f"{name}: between -{limit:g} and {limit:g}")
    return value


def _text(form: PostedForm, name: str, limit: int) -> str:
    value = form.get(name)
    if len(value) > limit:
        raise FormRefused(f"{name}: at most {limit} characters")
    if _CONTROL.search(value) or (name != "description" and "\n" in value):
        # Refused rather than cleaned: the case would no longer say what was sent.
        raise FormRefused(f"{name}: control characters are not allowed")
    return value


def submission_from(form: PostedForm) -> Submission:
    """Check a form's fields (service_code already found by the caller): a location is
    required (lat and long together, or address_string, or address_id)."""
    has_lat, has_long = bool(form.get("lat")), bool(form.get("long"))
    if has_lat != has_long:
        raise FormRefused("lat and long: send both, or neither")
    lat = _coordinate(form, "lat", 90.0) if has_lat else None
    long = _coordinate(form, "long", 180.0) if has_long else None
    address_string = _text(form, "address_string", 256)
    address_id = _text(form, "address_id", ADDRESS_ID_LIMIT)
    if lat is None and not address_string and not address_id:
        raise FormRefused("location: send lat and long, address_string or address_id")
    media_url = _text(form, "media_url", MEDIA_URL_LIMIT)
    if media_url:
        # Only web addresses: the record is shown to other clients, which may render it as a link.
        parts = urlsplit(media_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FormRefused("media_url: an http or https URL")
    return Submission(
        service_code=form.get("service_code"),
        description=_text(form, "description", DESCRIPTION_LIMIT),
        lat=lat,
        long=long,
        address_string=address_string,
        address_id=address_id,
        email=_text(form, "email", 128),
        phone=_text(form, "phone", 32),
        # Together within the case's 64 characters for the caller's name.
        first_name=_text(form, "first_name", 31),
        last_name=_text(form, "last_name", 31),
        device_id=_text(form, "device_id", DEVICE_ID_LIMIT),
        account_id=_text(form, "account_id", ACCOUNT_ID_LIMIT),
        media_url=media_url,
        attributes=form.attributes,
    )


def caller_name(first: str, last: str) -> str:
    """A Chinese name is written family name first with no space (张 + 伟 → 张伟); others given
    name first."""
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def new_case(
    submission: Submission, *, service_name: str, idempotency_key: str | None, department_code: str = ""
) -> NewCase:
    """The case to file. A request with no description is about what its service says (the
    spec makes description optional; a case needs words), so the service name is its title."""
    return NewCase(
        source=CaseSource.OPEN311,
        content=submission.description,
        title="" if submission.description else service_name,
        category_code=submission.service_code,
        caller_number=submission.phone,
        caller_name=caller_name(submission.first_name, submission.last_name),
        caller_email=submission.email,
        address=submission.address_string,
        lat=submission.lat,
        lon=submission.long,
        department_code=department_code,
        idempotency_key=idempotency_key,
    )


def details_of(submission: Submission) -> dict[str, Any]:
    """What the DETAILS_ACTION row keeps. device_id is not kept: a hardware identifier of the
    citizen's phone that the hotline has no use for."""
    details: dict[str, Any] = {
        "media_url": submission.media_url,
        "address_id": submission.address_id,
        "account_id": submission.account_id,
    }
    if submission.attributes:
        details["attributes"] = {code: list(values) for code, values in submission.attributes.items()}
    return {key: value for key, value in details.items() if value}


def post_answer(case: Case, *, notice: str | None, account_id: str) -> Record:
    """POST Service Request's one entry: the id at once (our services are realtime), so no
    token: the spec says the two are never returned together."""
    return {"service_request_id": case.number, "service_notice": notice, "account_id": account_id or None}


def token_answer(case: Case, token: str) -> Record:
    return {"service_request_id": case.number, "token": token}


# --- GET Service Requests: the filters ----------------------------------------------------------


def parse_w3c(text: str, zone: tzinfo) -> datetime:
    """A W3C datetime; the date-only forms are the start of that day on the site's clock (the
    note gives them no zone)."""
    match = _W3C.fullmatch(text)
    if match is None:
        raise ValueError(f"{text[:40]!r} is not a W3C datetime such as 2010-01-01T00:00:00Z")
    parts = match.groupdict()
    offset: tzinfo = zone
    if parts["zone"] == "Z":
        offset = UTC
    elif parts["zone"]:
        hours, minutes = int(parts["zone"][1:3]), int(parts["zone"][4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text[:40]!r}: the zone offset is not a time of day")
        sign = -1 if parts["zone"][0] == "-" else 1
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    return datetime(
        int(parts["year"]),
        int(parts["month"] or 1),
        int(parts["day"] or 1),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        int(parts["second"] or 0),
        int(fraction or 0),
        tzinfo=offset,
    )


@dataclass(frozen=True)
class RequestQuery:
    """GET Service Requests' filters, checked. ``ids`` overrides all the others (the spec)."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: frozenset[str] = frozenset()  # empty: both
    start: datetime | None = None
    end: datetime | None = None


def is_identifier(text: str) -> bool:
    """Could this name a case, service or token? Ours hold no control characters, and a NUL would
    not even reach PostgreSQL (it refuses the query), so such text is answered before any lookup."""
    return _CONTROL.search(text) is None and "\n" not in text and "\t" not in text


def _listed(name: str, values: Sequence[str]) -> tuple[str, ...]:
    """Comma delimited and/or repeated, blanks dropped, order kept, each once."""
    found: list[str] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if item and not is_identifier(item):
                raise QueryRefused(f"{name}: control characters are not allowed")
            if item and item not in found:
                found.append(item)
    return tuple(found)


def request_query(
    *,
    service_request_id: Sequence[str] = (),
    service_code: Sequence[str] = (),
    status: Sequence[str] = (),
    start_date: str = "",
    end_date: str = "",
    now: datetime,
    zone: tzinfo,
) -> RequestQuery:
    ids = _listed("service_request_id", service_request_id)
    if ids:
        if len(ids) > MAX_RESULTS:
            raise QueryRefused(f"service_request_id: at most {MAX_RESULTS} ids")
        return RequestQuery(ids=ids)
    codes = _listed("service_code", service_code)
    if len(codes) > MAX_LISTED_CODES:
        raise QueryRefused(f"service_code: at most {MAX_LISTED_CODES} codes")
    statuses = frozenset(_listed("status", status))
    if not statuses <= {OPEN, CLOSED}:
        raise QueryRefused("status: open, closed, or both comma delimited")
    try:
        start = parse_w3c(start_date.strip(), zone) if start_date.strip() else None
    except ValueError as exc:
        raise QueryRefused(f"start_date: {exc}") from exc
    try:
        end = parse_w3c(end_date.strip(), zone) if end_date.strip() else None
    except ValueError as exc:
        raise QueryRefused(f"end_date: {exc}") from exc
    # Without dates, the most recent 90 days; with one, 90 days from or up to it.
    if start is None and end is None:
        end = now
    try:
        if start is None:
            assert end is not None
            start = end - WINDOW
        if end is None:
            end = start + WINDOW
    except OverflowError as exc:  # 90 days past year 9999 or before year 1
        raise QueryRefused("start_date, end_date: too near the ends of the calendar") from exc
    if end < start:
        raise QueryRefused("end_date: before start_date")
    if end - start > WINDOW:
        raise QueryRefused("start_date and end_date: may not span more than 90 days")
    return RequestQuery(service_codes=codes, statuses=statuses, start=start, end=end)
