"""The agent console's API: my seat, its commands, the screen pop, and the live websocket."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from agents_ui import seat_socket
from agents_ui.accounts import service
from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import USER_ADMINS, CurrentUser, require, require_page
from agents_ui.accounts.websocket_auth import still_allowed, websocket_user
from agents_ui.api_types import CALL_ID_PATTERN, CallId, Code, refuse_field
from agents_ui.calls_api import seat_names
from agents_ui.deps import DbSession, get_settings, templates
from agents_ui.i18n import pick_language, translator
from agents_ui.seat_link import CommandRefused, Message, SeatLink, SeatServiceUnavailable, masked
from asterisk_conf.layout import InstanceLayout
from case_bridge.lifecycle import CaseStatus
from case_bridge.models import Case, Department
from hotline.db import keep_now, utcnow
from hotline.logs import mask_number
from hotline.settings import Settings
from recording import service as recordings
from telephony.models import Call, Disposition
from telephony.seat_board import RECORDING_PAUSE, RECORDING_RESUME

router = APIRouter()

CONSOLE_ROLES = (Role.AGENT, Role.DUTY_LEADER)
SUPERVISORS = (Role.SUPERVISOR,)
HISTORY_LIMIT = 10

SERVICE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in"},
    403: {"description": "Role may not do this"},
    404: {"description": "No seat: the account has no extension"},
    409: {"description": "Not allowed in the seat's current state (detail says why)"},
    503: {"description": "The seat service (or Redis) did not answer"},
}


def get_link(request: Request) -> SeatLink:
    link: SeatLink = request.app.state.seat_link
    return link


# ----- models ------------------------------------------------------------------------------------


class Label(BaseModel):
    code: str
    zh: str
    en: str


class SipAccount(BaseModel):
    ws_url: str = Field(description="Asterisk's SIP websocket")
    uri: str
    authorization_user: str
    password: str = Field(description="Derived for this seat; shown only to its own user")
    display_name: str


class TransferTarget(BaseModel):
    kind: str = Field(description="agent, queue or external")
    target: str = Field(description="What the softphone dials (SIP URI user part)")
    label: str


class SeatOut(BaseModel):
    agent: dict[str, Any] = Field(description="The agent message (docs/seat-layer.md)")
    pause_reasons: list[Label]
    dispositions: list[Label]
    sip: SipAccount
    transfer_targets: list[TransferTarget]
    external_prefix: str
    recording: bool = Field(description="Calls are recorded here: the console offers to pause it")


class PauseIn(BaseModel):
    reason: Code = Field(description="One of the site's pause reasons (GET /api/seat)")


class WrapUpIn(BaseModel):
    uniqueid: CallId = Field(description="My last call (the agent message's last_call)")
    disposition: Code = Field(description="One of the site's call outcomes (GET /api/seat)")
    note: str = Field("", max_length=2000)


class AgentOut(BaseModel):
    agent: dict[str, Any]


class PopCall(BaseModel):
    uniqueid: str
    number: str
    started_at: datetime
    queued_at: datetime | None
    agent_connected_at: datetime | None
    ended_at: datetime | None
    queue: str
    ivr_path: list[str]
    trunk: str
    agent: str
    disposition: str
    outcome: str
    outcome_note: str


class PopCase(BaseModel):
    number: str
    status: str
    title: str
    created_at: datetime
    due_at: datetime | None
    department: str = Field(description="The responsible department's name, empty before dispatch")


class ScreenPop(BaseModel):
    call: PopCall
    history: list[PopCall] = Field(description="The caller's earlier calls, newest first")
    cases: list[PopCase] = Field(description="The caller's cases, open ones first, then newest first")


# ----- helpers -----------------------------------------------------------------------------------


def sip_account(settings: Settings, user: CurrentUser) -> SipAccount:
    if not user.extension:
        raise HTTPException(404, "no seat: ask an administrator for an extension")
    a = settings.asterisk
    endpoint = f"seat{user.extension}"
    host = f"[{a.bind_address}]" if ":" in a.bind_address else a.bind_address
    return SipAccount(
        ws_url=settings.agents.softphone_ws_url or f"ws://{host}:{a.http_port}/ws",
        uri=f"sip:{endpoint}@{host}",
        authorization_user=endpoint,
        password=InstanceLayout.for_settings(settings).seat_password(endpoint),
        display_name=user.display_name,
    )


def _labels(items: Any) -> list[Label]:
    return [Label(code=i.code, zh=i.zh, en=i.en) for i in items]


def logged_out_message(user: CurrentUser) -> Message:
    """What a seat the seat service has not reported yet looks like."""
    return {
        "type": "agent",
        "agent": user.username,
        "display_name": user.display_name,
        "extension": user.extension,
        "state": "logged_out",
        "pause_reason": None,
        "reachable": False,
        "since": None,
        "queues": {},
        "wrapup_until": None,
        "ring": None,
        "call": None,
        "calls_today": 0,
        "recording_paused": False,
        "cause": "not reported yet",
    }


def for_agent(settings: Settings, message: Message) -> Message:
    return message if settings.agents.full_numbers_for_agents else masked(message)


async def _command(link: SeatLink, agent: str, command: str, **extra: str) -> Message:
    try:
        return await link.command(agent, command, **extra)
    except SeatServiceUnavailable as exc:
        raise HTTPException(503, f"seat service unavailable: {exc}") from exc
    except CommandRefused as exc:
        raise HTTPException(exc.status, exc.detail) from exc


def _pop_call(call: Call, number: str) -> PopCall:
    return PopCall(
        uniqueid=call.uniqueid,
        number=number,
        started_at=call.started_at,
        queued_at=call.queued_at,
        agent_connected_at=call.agent_connected_at,
        ended_at=call.ended_at,
        queue=call.queue,
        ivr_path=[p for p in call.ivr_path.split(",") if p],
        trunk=call.trunk,
        agent=call.agent,
        disposition=call.disposition,
        outcome=call.outcome,
        outcome_note=call.outcome_note,
    )


async def _my_leg(link: SeatLink, user: CurrentUser, uniqueid: str) -> dict[str, Any] | None:
    """My seat's ringing or connected leg with this caller, if it has one now."""
    try:
        me = await link.agent(user.username) or {}
    except SeatServiceUnavailable:
        return None
    legs = [me.get("ring") or {}, me.get("call") or {}]
    return next((leg for leg in legs if leg.get("caller") == uniqueid), None)


def _row_from_leg(uniqueid: str, leg: dict[str, Any]) -> Call:
    """A call row not yet written, as far as the seat's leg knows it (never added to a session)."""
    try:
        queued_at = datetime.fromisoformat(str(leg.get("queued_at")))
    except ValueError:
        queued_at = utcnow()
    return Call(
        uniqueid=uniqueid,
        caller_number=str(leg.get("number") or ""),
        started_at=queued_at,
        queued_at=queued_at,
        queue=str(leg.get("queue") or ""),
        ivr_path="",
        trunk="",
        agent="",
        disposition=Disposition.IN_PROGRESS,
        outcome="",
        outcome_note="",
    )


def supervises(session: Session, user: CurrentUser, call: Call) -> bool:
    """A supervisor may read a call answered in their team; every call when they have no team."""
    if not user.has_any(SUPERVISORS):
        return False
    names = service.team_agent_names(session, user)
    return names is None or call.agent in names


# ----- routes ------------------------------------------------------------------------------------


@router.get("/agent", response_class=HTMLResponse, include_in_schema=False)
def console_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*CONSOLE_ROLES))],
    lang: str | None = None,
) -> HTMLResponse:
    return live_page(request, settings, user, lang, "agent.html")


def live_page(
    request: Request, settings: Settings, user: CurrentUser, lang: str | None, template: str
) -> HTMLResponse:
    """A page whose content arrives over the API and websockets: the frame, words and zone only."""
    language = pick_language(lang, settings.site.language)
    return templates.TemplateResponse(
        request,
        template,
        {
            "t": translator(language),
            "lang": language,
            "site": settings.site.name,
            "zone": settings.site.timezone,
            "me": user,
            "is_admin": user.has_any(USER_ADMINS),
        },
    )


@router.get(
    "/api/seat",
    response_model=SeatOut,
    summary="My seat: state, softphone account, choices",
    responses=SERVICE_ERRORS,
)
async def my_seat(
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require(*CONSOLE_ROLES))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> SeatOut:
    sip = sip_account(settings, user)
    try:
        agent = await link.agent(user.username)
        agents, _ = await link.everything()
    except SeatServiceUnavailable as exc:
        raise HTTPException(503, f"seat service unavailable: {exc}") from exc
    targets = [
        TransferTarget(
            kind="agent", target=str(a["extension"]), label=str(a.get("display_name") or a["agent"])
        )
        for a in agents
        if a.get("agent") != user.username and a.get("extension")
    ]
    targets += [
        TransferTarget(kind="queue", target=f"queue-{q.name}", label=q.title or q.name)
        for q in settings.queues
    ]
    return SeatOut(
        agent=for_agent(settings, agent or logged_out_message(user)),
        pause_reasons=_labels(settings.agents.pause_reasons),
        dispositions=_labels(settings.agents.dispositions),
        sip=sip,
        transfer_targets=targets,
        external_prefix=settings.agents.external_prefix,
        recording=settings.recording.enabled,
    )


def _command_route(path: str, command: str, summary: str) -> None:
    async def route(
        settings: Annotated[Settings, Depends(get_settings)],
        user: Annotated[CurrentUser, Depends(require(*CONSOLE_ROLES))],
        link: Annotated[SeatLink, Depends(get_link)],
    ) -> AgentOut:
        return AgentOut(agent=for_agent(settings, await _command(link, user.username, command)))

    route.__name__ = f"seat_{command}"
    router.post(path, response_model=AgentOut, summary=summary, responses=SERVICE_ERRORS)(route)


_command_route("/api/seat/login", "login", "Log in: join my skills' queues, available")
_command_route("/api/seat/logout", "logout", "Log out: leave every queue (a ring in progress is dropped)")
_command_route("/api/seat/unpause", "unpause", "End my pause: available again")


@router.post(
    "/api/seat/pause", response_model=AgentOut, summary="Pause with a reason code", responses=SERVICE_ERRORS
)
async def seat_pause(
    body: PauseIn,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require(*CONSOLE_ROLES))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> AgentOut:
    if body.reason not in {r.code for r in settings.agents.pause_reasons}:
        refuse_field(("body", "reason"), "not one of this site's pause reasons", body.reason)
    return AgentOut(
        agent=for_agent(settings, await _command(link, user.username, "pause", reason=body.reason))
    )


@router.post(
    "/api/seat/wrap-up",
    response_model=AgentOut,
    summary="Record my last call's outcome and end wrap-up",
    responses=SERVICE_ERRORS,
)
async def seat_wrap_up(
    body: WrapUpIn,
    settings: Annotated[Settings, Depends(get_settings)],
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*CONSOLE_ROLES))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> AgentOut:
    if body.disposition not in {d.code for d in settings.agents.dispositions}:
        refuse_field(("body", "disposition"), "not one of this site's call outcomes", body.disposition)
    call = session.scalar(
        select(Call).where(Call.uniqueid == body.uniqueid, Call.agent.in_(seat_names(user)))
    )
    if call is None:
        raise HTTPException(404, "no call of yours with that id")
    call.outcome = body.disposition
    call.outcome_note = body.note.strip()
    # Kept before the seat is freed: the console (and a supervisor's wallboard) sees the seat
    # available as soon as the seat service says so, and whoever then reads the call must find
    # its outcome; should the seat service not answer, the outcome is kept all the same.
    keep_now(session)
    agent = await link.agent(user.username)
    if agent is not None and agent.get("state") == "wrap_up":
        agent = await _command(link, user.username, "finish_wrap_up")
    return AgentOut(agent=for_agent(settings, agent or logged_out_message(user)))


def _on_call(agent: Message) -> str:
    """The caller Uniqueid of the call the seat service just paused or resumed the recording of."""
    call = agent.get("call") or {}
    uniqueid = str(call.get("caller") or "")
    if not uniqueid:  # the seat service refuses a call whose caller it does not know: not expected
        raise HTTPException(409, "recording refused: the call has no caller id")
    return uniqueid


@router.post(
    "/api/seat/recording/pause",
    response_model=AgentOut,
    summary="Pause the recording of my call (a citizen reads out an ID or bank number)",
    responses=SERVICE_ERRORS,
)
async def seat_recording_pause(
    settings: Annotated[Settings, Depends(get_settings)],
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*CONSOLE_ROLES))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> AgentOut:
    # My own seat's call only: the command names no call, the seat service knows which is mine.
    agent = await _command(link, user.username, RECORDING_PAUSE)
    # Written only once Asterisk muted the recording: the row says what the file holds.
    recordings.pause(session, call_uniqueid=_on_call(agent), by=user.username)
    return AgentOut(agent=for_agent(settings, agent))


@router.post(
    "/api/seat/recording/resume",
    response_model=AgentOut,
    summary="Resume the recording of my call",
    responses=SERVICE_ERRORS,
)
async def seat_recording_resume(
    settings: Annotated[Settings, Depends(get_settings)],
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*CONSOLE_ROLES))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> AgentOut:
    agent = await _command(link, user.username, RECORDING_RESUME)
    recordings.resume(session, call_uniqueid=_on_call(agent))
    return AgentOut(agent=for_agent(settings, agent))


@router.get(
    "/api/calls/{uniqueid}/pop",
    response_model=ScreenPop,
    summary="Screen pop: a call, its caller's earlier calls and cases",
    responses={
        **SERVICE_ERRORS,
        404: {"description": "No such call, or not yours (a supervisor: not answered in their team)"},
    },
)
async def screen_pop(
    uniqueid: Annotated[str, FastApiPath(pattern=CALL_ID_PATTERN)],
    settings: Annotated[Settings, Depends(get_settings)],
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*CONSOLE_ROLES, *SUPERVISORS))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> ScreenPop:
    call = session.scalar(select(Call).where(Call.uniqueid == uniqueid[:64]))
    # Resource check: the call rings or talks at my seat now, or was answered there; or, for a
    # supervisor, it was answered in their team (any call when they have no team).
    my_leg: dict[str, Any] | None = None
    mine = False
    if user.has_any(CONSOLE_ROLES):
        mine = call is not None and call.agent in seat_names(user)
        if not mine:
            my_leg = await _my_leg(link, user, uniqueid)
            mine = my_leg is not None
    full = mine and settings.agents.full_numbers_for_agents
    if call is None and my_leg is not None:
        # The console asks the moment the seat rings, which can be before the call tracker has
        # written the row: the ringing leg says enough for the pop, and the history is by number.
        call = _row_from_leg(uniqueid, my_leg)
    elif call is not None and not mine and not supervises(session, user, call):
        call = None
    if call is None:
        raise HTTPException(404, "no such call, or not yours")

    def number(value: str) -> str:
        return value if full else mask_number(value)

    history: list[Call] = []
    if call.caller_number:
        history = list(
            session.scalars(
                select(Call)
                .where(Call.caller_number == call.caller_number, Call.uniqueid != call.uniqueid)
                .order_by(Call.started_at.desc())
                .limit(HISTORY_LIMIT)
            )
        )
    return ScreenPop(
        call=_pop_call(call, number(call.caller_number)),
        history=[_pop_call(c, number(c.caller_number)) for c in history],
        cases=_callers_cases(session, call.caller_number),
    )


def _callers_cases(session: Session, caller_number: str) -> list[PopCase]:
    """A repeat caller's cases, so the agent can link this call to one with a click."""
    if not caller_number:
        return []
    open_first = case((Case.status.in_([s.value for s in CaseStatus if s.is_open]), 0), else_=1)
    rows = session.execute(
        select(Case, Department.name)
        .outerjoin(Department, Department.id == Case.department_id)
        .where(Case.caller_number == caller_number)
        .order_by(open_first, Case.created_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    return [
        PopCase(
            number=row.number,
            status=row.status,
            title=row.title,
            created_at=row.created_at,
            due_at=row.due_at,
            department=department or "",
        )
        for row, department in rows
    ]


@router.websocket("/ws/seat")
async def seat_events(
    websocket: WebSocket,
    user: Annotated[CurrentUser, Depends(websocket_user(*CONSOLE_ROLES))],
) -> None:
    """My seat's changes, pushed: first the current picture, then every change."""
    settings: Settings = websocket.app.state.settings
    link: SeatLink = websocket.app.state.seat_link

    def wants(message: Message) -> Message | None:
        if message.get("agent") != user.username or message.get("type") not in ("agent", "agent_removed"):
            return None
        return for_agent(settings, message)

    async def first() -> list[Message]:
        return [for_agent(settings, await link.agent(user.username) or logged_out_message(user))]

    await seat_socket.serve(
        websocket,
        link,
        wants,
        first,
        view=("seat", user.username),
        still_allowed=partial(still_allowed, websocket, CONSOLE_ROLES),
    )
