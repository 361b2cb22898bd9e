"""The supervisor's wallboard: every queue and seat, pushed live; listen, whisper and barge."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from agents_ui import seat_socket
from agents_ui.accounts.audit import Outcome, record
from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CurrentUser, client_ip, require, require_page
from agents_ui.accounts.service import team_agent_names
from agents_ui.accounts.websocket_auth import still_allowed, websocket_user
from agents_ui.deps import DbSession, get_settings
from agents_ui.seat_link import CommandRefused, Message, SeatLink, SeatServiceUnavailable, masked
from agents_ui.seats_api import SERVICE_ERRORS, AgentOut, Label, SipAccount, get_link, live_page, sip_account
from hotline.db import Database
from hotline.settings import Settings

router = APIRouter()

SUPERVISORS = (Role.SUPERVISOR,)
WALLBOARD_TYPES = frozenset({"agent", "queue", "agent_removed"})


class WallboardOut(BaseModel):
    queues: list[dict[str, Any]] = Field(description="queue messages (docs/seat-layer.md), numbers masked")
    agents: list[dict[str, Any]] = Field(description="agent messages, numbers masked")
    pause_reasons: list[Label]
    sip: SipAccount | None = Field(description="My softphone for listening in; null without an extension")


class SuperviseIn(BaseModel):
    agent: str = Field(max_length=64)
    mode: Literal["listen", "whisper", "barge"]


@router.get("/wallboard", response_class=HTMLResponse, include_in_schema=False)
def wallboard_page(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*SUPERVISORS))],
    lang: str | None = None,
) -> HTMLResponse:
    return live_page(request, settings, user, lang, "wallboard.html")


@router.get(
    "/api/wallboard",
    response_model=WallboardOut,
    summary="Every queue and seat now",
    responses=SERVICE_ERRORS,
)
async def wallboard(
    settings: Annotated[Settings, Depends(get_settings)],
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*SUPERVISORS))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> WallboardOut:
    try:
        agents, queues = await link.everything()
    except SeatServiceUnavailable as exc:
        raise HTTPException(503, f"seat service unavailable: {exc}") from exc
    team = team_agent_names(session, user)
    return WallboardOut(
        queues=[masked(q) for q in queues],
        agents=[masked(a) for a in agents if _in_team(a, team)],
        pause_reasons=[Label(code=r.code, zh=r.zh, en=r.en) for r in settings.agents.pause_reasons],
        sip=sip_account(settings, user) if user.extension else None,
    )


@router.post(
    "/api/supervise",
    response_model=AgentOut,
    summary="Ring my softphone into an agent's call: listen, whisper (agent hears me) or barge",
    responses=SERVICE_ERRORS,
)
async def supervise(
    request: Request,
    body: SuperviseIn,
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*SUPERVISORS))],
    link: Annotated[SeatLink, Depends(get_link)],
) -> AgentOut | JSONResponse:
    if not user.extension:
        raise HTTPException(404, "no seat: a supervisor needs an extension to listen in")
    # Listening to a citizen's call is a privileged act: audited whether it works or not (a refusal
    # is answered, not raised, so its audit row is committed with the request).
    audit = partial(record, session, actor=user.username, action="call.supervise", target=body.agent)
    if not _in_team({"agent": body.agent}, team_agent_names(session, user)):
        audit(source_ip=client_ip(request), outcome=Outcome.REFUSED, detail=f"{body.mode}: not in my team")
        return JSONResponse({"detail": "this agent is not in your team"}, status_code=403)
    try:
        agent = await link.command(body.agent, "supervise", supervisor=user.username, reason=body.mode)
    except SeatServiceUnavailable as exc:
        raise HTTPException(503, f"seat service unavailable: {exc}") from exc
    except CommandRefused as exc:
        audit(source_ip=client_ip(request), outcome=Outcome.REFUSED, detail=f"{body.mode}: {exc.detail}")
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    audit(source_ip=client_ip(request), outcome=Outcome.OK, detail=body.mode)
    return AgentOut(agent=masked(agent))


@router.websocket("/ws/wallboard")
async def wallboard_events(
    websocket: WebSocket,
    user: Annotated[CurrentUser, Depends(websocket_user(*SUPERVISORS))],
) -> None:
    """Every queue change, and every seat change in my team (all seats without a team), pushed;
    numbers masked."""
    link: SeatLink = websocket.app.state.seat_link
    db: Database = websocket.app.state.db
    with db.unit_of_work() as session:
        team = team_agent_names(session, user)

    def wants(message: Message) -> Message | None:
        if message.get("type") not in WALLBOARD_TYPES or not _in_team(message, team):
            return None
        return masked(message)

    async def first() -> list[Message]:
        agents, queues = await link.everything()
        return [
            {
                "type": "snapshot",
                "queues": [masked(q) for q in queues],
                "agents": [masked(a) for a in agents if _in_team(a, team)],
            }
        ]

    await seat_socket.serve(
        websocket,
        link,
        wants,
        first,
        view=("wallboard", team),
        still_allowed=partial(still_allowed, websocket, SUPERVISORS),
    )


def _in_team(message: Message, team: frozenset[str] | None) -> bool:
    """Queue messages are for every supervisor; a seat's only for its team's (None: no teams)."""
    agent = message.get("agent")
    return team is None or agent is None or str(agent) in team
