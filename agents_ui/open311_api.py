"""Open311 GeoReport v2 at ``/open311/v2/``: outside systems (a city app, a grid platform) list our
services, file cases and follow them through the standard (http://wiki.open311.org/GeoReport_v2).

The mapping to our categories and cases is ``case_bridge.open311``; here are the resources, the
two formats and the spec's errors. Decisions the spec leaves to a server:

* Reading needs no key (the spec's GET methods require none); POST needs an ``api_key`` of an
  active API client (``hotline cases api-key add <name>``), else 403.
* Only cases filed through Open311 are served: cases taken on the phone carry what callers told
  an agent and are not published.
* ``jurisdiction_id`` is checked only when ``cases.open311.jurisdiction_id`` is set: another one
  is 404 (the spec's "jurisdiction_id provided was not found"); none at all is accepted, since
  the endpoint serves one jurisdiction ("Implementations can ignore this parameter ... if the
  implementation only serves one jurisdiction").
* Every service is ``realtime``: POST answers the ``service_request_id`` (the case number) and
  no token, as the spec says the two are never returned together. ``tokens/{token}`` still
  answers for a client that asks anyway: a request's token is its id (nothing to store, nothing
  to guess that the id does not already give).
* ``Idempotency-Key`` (header, optional): a client retrying a POST whose answer it lost sends the
  same key and gets the same request back, not a second case. Keys are the client's own: the
  same key from two clients makes two cases.
* Errors are the spec's ``[{code, description}]`` / ``<errors><error>``, with HTTP 404 for what
  does not exist, 403 for a missing or wrong api_key and 400 for the rest (FastAPI's own
  validation errors included); ``code`` is the HTTP status.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from agents_ui.deps import DbSession, get_settings
from case_bridge import catalogue, open311
from case_bridge.api_clients import client_for_key
from case_bridge.lifecycle import Party
from case_bridge.models import Case, CaseEvent, CaseSource, Category, Department
from case_bridge.service import CaseInputError, create_case
from case_bridge.timeline import Actor, record
from hotline.db import utcnow
from hotline.settings import Settings

log = logging.getLogger("agents_ui.open311")

MAX_FORM_BYTES = 64 * 1024
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,100}$"  # printable ASCII: what fits an HTTP header as is
FORMATS = ("json", "xml")
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# XML containers whose items repeat one element name (the spec's "Spark convention" of JSON).
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}
# What XML 1.0 cannot carry at all; replaced, so an odd character in old data cannot break a page.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

SiteSettings = Annotated[Settings, Depends(get_settings)]
Format = Annotated[Literal["json", "xml"], Path(description="Answer format: json or xml")]
JurisdictionId = Annotated[
    str | None,
    Query(max_length=200, description="Only needed where the site sets one; another one is 404"),
]


# --- errors in the spec's words -----------------------------------------------------------------


class Refused(Exception):
    """A request answered with the spec's error list (HTTP 400, 403 or 404)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _answer_format(request: Request) -> str:
    """The format the client asked for; XML, the spec's one required format, when that cannot
    be told (an unknown extension)."""
    asked = request.path_params.get("format") or request.url.path.rpartition(".")[2]
    return asked if asked in FORMATS else "xml"


def _validation_refusal(exc: RequestValidationError) -> Refused:
    errors = list(exc.errors())
    if any(tuple(error.get("loc", ()))[:2] == ("path", "format") for error in errors):
        return Refused(404, "no such format: use .json or .xml")
    said = "; ".join(
        f"{'.'.join(str(part) for part in error.get('loc', ())[1:])}: {error.get('msg', 'not valid')}"
        for error in errors
    )
    return Refused(400, said or "the request is not valid")


class GeoReportRoute(APIRoute):
    """Answers these routes' refusals in the spec's error format, FastAPI's validation errors
    included, without changing how the rest of the app reports errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_spec_words(request: Request) -> Response:
            try:
                return await handle(request)
            except Refused as refusal:
                return error_answer(_answer_format(request), refusal)
            except RequestValidationError as exc:
                return error_answer(_answer_format(request), _validation_refusal(exc))

        return handle_in_spec_words


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=GeoReportRoute)


# --- the two formats ----------------------------------------------------------------------------


def _element(name: str, value: Any) -> ET.Element:
    """One value as XML, built with ElementTree so every text is escaped."""
    element = ET.Element(name)
    if isinstance(value, list):
        item_name = ITEM_NAMES[name]
        element.extend(_element(item_name, item) for item in value)
    elif isinstance(value, dict):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("\ufffd", str(value))
    return element


def answer(fmt: str, root: str, payload: Any, status: int = 200) -> Response:
    """``payload`` in the asked format; ``root`` names the XML root (JSON is the bare value)."""
    if fmt == "json":
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    else:
        body = _XML_DECLARATION + ET.tostring(_element(root, payload), encoding="unicode").encode("utf-8")
    return Response(content=body, status_code=status, media_type=MEDIA_TYPES[fmt])


def error_answer(fmt: str, refusal: Refused) -> Response:
    return answer(
        fmt, "errors", [{"code": refusal.status, "description": refusal.description}], refusal.status
    )


# --- what the OpenAPI document says -------------------------------------------------------------


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str | None
    metadata: bool = Field(description="Always false: no service asks for extra attributes")
    type: Literal["realtime", "batch", "blackbox"] = Field(description="Always realtime")
    keywords: str | None = Field(description="Comma separated")
    group: str | None = Field(description="The parent category")


class ServiceDefinitionOut(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]] = Field(description="Always empty")


class RequestOut(BaseModel):
    service_request_id: str = Field(description="The case number")
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str | None
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str = Field(description="W3C datetime with the site's offset")
    updated_datetime: str
    expected_datetime: str | None = Field(description="The department's deadline; null before dispatch")
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class PostAnswerOut(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class TokenOut(BaseModel):
    service_request_id: str
    token: str


class ErrorOut(BaseModel):
    code: int = Field(description="The HTTP status")
    description: str


_XML_TOO = {"text/xml": {"schema": {"type": "string", "description": "The same, in the spec's XML"}}}


def _documented(model: Any, description: str, *, keyed: bool = False) -> dict[int | str, dict[str, Any]]:
    # Errors as one 4XX range, which also keeps FastAPI from listing a 422 these routes never send
    # (their validation errors are answered 400, in the spec's format).
    refusals = "400: not valid (the description says which argument); 404: no such resource, service, "
    refusals += "request, token, jurisdiction_id or format"
    if keyed:
        refusals += "; 403: api_key missing or not valid"
    return {
        200: {"model": model, "description": description, "content": _XML_TOO},
        "4XX": {"model": list[ErrorOut], "description": refusals, "content": _XML_TOO},
    }


_FORM_FIELD_NAMES = (
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
)
_FORM_DOCUMENT: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "jurisdiction_id": {"type": "string"},
                        "service_code": {"type": "string"},
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                        "long": {"type": "number", "minimum": -180, "maximum": 180},
                        **{name: {"type": "string"} for name in _FORM_FIELD_NAMES},
                    },
                    "patternProperties": {r"^attribute\[[^\[\]]+\](\[\])?$": {"type": "string"}},
                    "additionalProperties": False,
                    "description": (
                        "A location is required: lat and long, address_string or address_id. "
                        f"description: at most {open311.DESCRIPTION_LIMIT} characters."
                    ),
                }
            }
        },
    }
}


# --- shared steps -------------------------------------------------------------------------------


def _served(settings: Settings, jurisdiction_id: str | None) -> None:
    if not settings.cases.open311.enabled:
        raise Refused(404, "Open311 is not served on this site")
    ours = settings.cases.open311.jurisdiction_id
    given = (jurisdiction_id or "").strip()
    if ours and given and given != ours:
        raise Refused(404, f"jurisdiction_id {given[:80]} was not found; this endpoint serves {ours}")


def _services(session: Session) -> list[Category]:
    return catalogue.leaf_categories(session, open311_only=True)


def _service(session: Session, code: str) -> Category | None:
    return next((category for category in _services(session) if category.code == code), None)


def _published() -> Select[Case]:
    """Cases Open311 shows: those it filed (see the module's doc)."""
    return select(Case).where(Case.source == CaseSource.OPEN311.value)


def _records(session: Session, cases: Sequence[Case], settings: Settings) -> list[open311.Record]:
    """Request records for ``cases``, with three queries whatever their number."""
    if not cases:
        return []
    categories = {category.id: category for category in session.scalars(select(Category))}
    departments = {department.id: department for department in session.scalars(select(Department))}
    events: dict[int, list[CaseEvent]] = {}
    for event in session.scalars(
        select(CaseEvent)
        .where(
            CaseEvent.case_id.in_([case.id for case in cases]),
            CaseEvent.action.in_([*open311.NOTE_ACTIONS, open311.DETAILS_ACTION]),
        )
        .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)
    ):
        events.setdefault(event.case_id, []).append(event)
    language, zone = settings.site.language, settings.site.zone
    made = []
    for case in cases:
        timeline = events.get(case.id, [])
        details: dict[str, Any] = {}
        for event in timeline:
            if event.action == open311.DETAILS_ACTION:
                details.update(event.data)
        made.append(
            open311.request_record(
                case,
                category=categories.get(case.category_id) if case.category_id else None,
                department=departments.get(case.department_id) if case.department_id else None,
                notes=open311.status_notes(
                    (event for event in timeline if event.action in open311.NOTE_ACTIONS), language
                ),
                details=details,
                language=language,
                zone=zone,
            )
        )
    return made


def _published_case(session: Session, number: str) -> Case | None:
    if not open311.is_identifier(number):
        return None  # cannot be a case number; and PostgreSQL would refuse a NUL in the query
    return session.scalar(_published().where(Case.number == number))


def _known_case(session: Session, number: str) -> Case:
    case = _published_case(session, number)
    if case is None:
        raise Refused(404, f"service_request_id {number[:40]} was not found")
    return case


def _unrouted_to(session: Session, settings: Settings, category: Category) -> str:
    """cases.open311.default_department, for a service no routing rule or default places."""
    code = settings.cases.open311.default_department
    if not code or catalogue.route(session, category) is not None:
        return ""
    department = catalogue.department_by_code(session, code)
    if department is None or not department.active:
        log.warning("cases.open311.default_department %s is not an active department; left unrouted", code)
        return ""
    return code


async def form_body(request: Request) -> bytes:
    """The raw form, read up to MAX_FORM_BYTES (parsed by case_bridge.open311.read_form)."""
    sent_as = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent_as and sent_as != "application/x-www-form-urlencoded":
        raise Refused(400, "send the request as application/x-www-form-urlencoded")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_FORM_BYTES:
            raise Refused(400, f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    return bytes(received)


# --- the resources ------------------------------------------------------------------------------


@router.get(
    "/services.{format}",
    summary="GET Service List",
    response_model=None,
    responses=_documented(list[ServiceOut], "The services (leaf categories) requests may be filed under"),
)
def service_list(
    format: Format, settings: SiteSettings, session: DbSession, jurisdiction_id: JurisdictionId = None
) -> Response:
    _served(settings, jurisdiction_id)
    categories = {category.id: category for category in session.scalars(select(Category))}
    language = settings.site.language
    entries = [
        open311.service_entry(
            category, categories.get(category.parent_id) if category.parent_id else None, language
        )
        for category in _services(session)
    ]
    return answer(format, "services", entries)


@router.get(
    "/services/{service_code}.{format}",
    summary="GET Service Definition",
    response_model=None,
    responses=_documented(ServiceDefinitionOut, "The service's attributes (none: metadata is false)"),
)
def service_definition(
    service_code: str,
    format: Format,
    settings: SiteSettings,
    session: DbSession,
    jurisdiction_id: JurisdictionId = None,
) -> Response:
    _served(settings, jurisdiction_id)
    category = _service(session, service_code)
    if category is None:
        raise Refused(404, f"service_code {service_code} was not found")
    return answer(format, "service_definition", open311.service_definition(category))


@router.post(
    "/requests.{format}",
    summary="POST Service Request",
    description=(
        "Files a case, routed and dispatched like any other. Needs an api_key. Send the header "
        "`Idempotency-Key` to make retries safe: the same key from the same client answers the "
        "same request instead of filing a second one."
    ),
    response_model=None,
    responses=_documented(list[PostAnswerOut], "The new request's id (no token: realtime)", keyed=True),
    openapi_extra=_FORM_DOCUMENT,
)
def post_service_request(
    format: Format,
    body: Annotated[bytes, Depends(form_body)],
    settings: SiteSettings,
    session: DbSession,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Printable ASCII, up to 100 characters: a retry with it files nothing new",
        ),
    ] = None,
) -> Response:
    if not settings.cases.open311.enabled:
        raise Refused(404, "Open311 is not served on this site")
    try:
        form = open311.read_form(body)
    except open311.FormRefused as exc:
        raise Refused(400, str(exc)) from exc
    # The key first: who is not allowed to file learns nothing about services or jurisdictions.
    client = client_for_key(session, form.get("api_key"))
    if client is None:
        raise Refused(403, "api_key: missing or not valid")
    _served(settings, form.get("jurisdiction_id"))
    code = form.get("service_code")
    if not code:
        raise Refused(400, "service_code was not provided")
    category = _service(session, code)
    if category is None:
        raise Refused(404, f"service_code {code[:40]} was not found")
    try:
        submission = open311.submission_from(form)
    except open311.FormRefused as exc:
        raise Refused(400, str(exc)) from exc
    language, zone = settings.site.language, settings.site.zone
    # Prefixed by the client's id (digits, then ":"), so no two clients' keys can meet.
    key = f"open311:{client.id}:{idempotency_key}" if idempotency_key else None
    new = open311.new_case(
        submission,
        service_name=open311.name_in(category, language),
        idempotency_key=key,
        department_code=_unrouted_to(session, settings, category),
    )
    # The timeline's actor column holds 64 characters; client names may use all of theirs.
    actor = Actor(name=f"open311:{client.name}"[:64], party=Party.SYSTEM)
    now = utcnow()
    try:
        case, made = create_case(session, new, actor=actor, settings=settings, now=now)
    except CaseInputError as exc:
        raise Refused(400, str(exc)) from exc
    details = open311.details_of(submission)
    if made and details:
        record(
            session,
            case,
            actor=actor,
            action=open311.DETAILS_ACTION,
            now=now,
            settings=settings,
            data=details,
        )
    department = session.get(Department, case.department_id) if case.department_id else None
    notice = open311.service_notice(case, department, language, zone)
    return answer(
        format,
        "service_requests",
        [open311.post_answer(case, notice=notice, account_id=submission.account_id)],
    )


@router.get(
    "/tokens/{token_id}.{format}",
    summary="GET service_request_id from a token",
    description="A request's token is its id: POST never hands one out (every service is realtime).",
    response_model=None,
    responses=_documented(list[TokenOut], "The request the token names"),
)
def request_from_token(
    token_id: str,
    format: Format,
    settings: SiteSettings,
    session: DbSession,
    jurisdiction_id: JurisdictionId = None,
) -> Response:
    _served(settings, jurisdiction_id)
    case = _published_case(session, token_id)  # a token is its request's id
    if case is None:
        raise Refused(404, f"token {token_id[:40]} was not found")
    return answer(format, "service_requests", [open311.token_answer(case, token_id)])


@router.get(
    "/requests.{format}",
    summary="GET Service Requests",
    description=(
        "Newest first, at most 1000. Without dates, the last 90 days; a range may not span more than "
        "90 days. service_request_id overrides every other filter."
    ),
    response_model=None,
    responses=_documented(list[RequestOut], "The requests that match"),
)
def service_requests(
    format: Format,
    settings: SiteSettings,
    session: DbSession,
    jurisdiction_id: JurisdictionId = None,
    service_request_id: Annotated[
        list[str], Query(description="Comma delimited; overrides all other arguments")
    ] = [],  # noqa: B006 - FastAPI copies defaults; never mutated
    service_code: Annotated[list[str], Query(description="Comma delimited")] = [],  # noqa: B006
    status: Annotated[list[str], Query(description="open, closed, or both comma delimited")] = [],  # noqa: B006
    start_date: Annotated[str | None, Query(max_length=64, description="W3C datetime")] = None,
    end_date: Annotated[str | None, Query(max_length=64, description="W3C datetime")] = None,
) -> Response:
    _served(settings, jurisdiction_id)
    try:
        query = open311.request_query(
            service_request_id=service_request_id,
            service_code=service_code,
            status=status,
            start_date=start_date or "",
            end_date=end_date or "",
            now=utcnow(),
            zone=settings.site.zone,
        )
    except open311.QueryRefused as exc:
        raise Refused(400, str(exc)) from exc
    chosen = _published()
    if query.ids:
        chosen = chosen.where(Case.number.in_(query.ids))
    else:
        chosen = chosen.where(Case.created_at >= query.start, Case.created_at <= query.end)
        if query.service_codes:
            chosen = chosen.join(Category, Category.id == Case.category_id).where(
                Category.code.in_(query.service_codes)
            )
        if query.statuses == {open311.OPEN}:
            chosen = chosen.where(Case.status.not_in(open311.CLOSED_STATUSES))
        elif query.statuses == {open311.CLOSED}:
            chosen = chosen.where(Case.status.in_(open311.CLOSED_STATUSES))
    cases = list(
        session.scalars(chosen.order_by(Case.created_at.desc(), Case.id.desc()).limit(open311.MAX_RESULTS))
    )
    return answer(format, "service_requests", _records(session, cases, settings))


@router.get(
    "/requests/{service_request_id}.{format}",
    summary="GET Service Request",
    response_model=None,
    responses=_documented(list[RequestOut], "The request, alone in the list"),
)
def service_request(
    service_request_id: str,
    format: Format,
    settings: SiteSettings,
    session: DbSession,
    jurisdiction_id: JurisdictionId = None,
) -> Response:
    _served(settings, jurisdiction_id)
    case = _known_case(session, service_request_id)
    return answer(format, "service_requests", _records(session, [case], settings))


@router.api_route("/{unknown:path}", methods=["GET", "POST"], include_in_schema=False)
def no_such_resource(unknown: str) -> Response:
    """Any other path under the endpoint: the spec's 404, not FastAPI's."""
    raise Refused(404, f"no such resource: {unknown[:80]}")
