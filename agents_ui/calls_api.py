"""Read-only call list: JSON for programs, a page for people."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.orm import Session

from agents_ui.accounts import service
from agents_ui.accounts.models import Role, User
from agents_ui.accounts.permissions import (
    CALL_READERS,
    USER_ADMINS,
    CurrentUser,
    require,
    require_page,
)
from agents_ui.api_types import Offset
from agents_ui.deps import DbSession, get_settings, templates
from agents_ui.i18n import pick_language, translator
from hotline.logs import mask_number
from hotline.settings import Settings
from telephony.models import Call

router = APIRouter()


class CallOut(BaseModel):
    uniqueid: str
    started_at: datetime
    answered_at: datetime | None
    agent_connected_at: datetime | None
    ended_at: datetime | None
    caller: str  # masked: no role here needs the full number to work the list
    called_number: str
    trunk: str
    ivr_path: list[str]
    route: str
    queue: str
    agent: str
    disposition: str
    duration_seconds: int | None


class CallPage(BaseModel):
    total: int
    offset: int
    limit: int
    calls: list[CallOut]


def _to_out(call: Call) -> CallOut:
    duration = int((call.ended_at - call.started_at).total_seconds()) if call.ended_at else None
    return CallOut(
        uniqueid=call.uniqueid,
        started_at=call.started_at,
        answered_at=call.answered_at,
        agent_connected_at=call.agent_connected_at,
        ended_at=call.ended_at,
        caller=mask_number(call.caller_number),
        called_number=call.called_number,
        trunk=call.trunk,
        ivr_path=[p for p in call.ivr_path.split(",") if p],
        route=call.route,
        queue=call.queue,
        agent=call.agent,
        disposition=call.disposition,
        duration_seconds=duration,
    )


def seat_names(user: CurrentUser) -> list[str]:
    """What a call row's ``agent`` holds when this user answered it (see ``service.seat_names``)."""
    return service.seat_names(user.username, user.extension)


def visible_to(session: Session, user: CurrentUser) -> ColumnElement[bool]:
    """Which calls a user may see: an administrator every call, a supervisor their team's (every
    call without a team), an agent their own seat's (``service.team_agent_names``)."""
    names = service.team_agent_names(session, user)
    if names is None:
        return true()
    return Call.agent.in_(sorted(names)) if names else false()


def recent_calls(session: Session, user: CurrentUser, offset: int, limit: int) -> CallPage:
    where = visible_to(session, user)
    total = session.scalar(select(func.count(Call.id)).where(where)) or 0
    rows = session.scalars(
        select(Call).where(where).order_by(Call.started_at.desc(), Call.id.desc()).offset(offset).limit(limit)
    ).all()
    return CallPage(total=total, offset=offset, limit=limit, calls=[_to_out(c) for c in rows])


def team_scope(session: Session, user: CurrentUser) -> str:
    """The team whose calls a supervisor's list is limited to, for the page to say so; "" if none."""
    if not user.has_any((Role.SUPERVISOR,)) or user.has_any(USER_ADMINS):
        return ""
    me = session.get(User, user.id)
    if me is None or me.team_id is None:
        return ""
    return service.get_team(session, me.team_id).label


@router.get(
    "/api/calls",
    response_model=CallPage,
    summary=(
        "Recent calls, newest first: an agent sees the calls of their own seat, a supervisor those "
        "of their team's agents (every call if they have no team), an administrator every call"
    ),
    responses={401: {"description": "Not logged in"}, 403: {"description": "Role may not read calls"}},
)
def list_calls(
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*CALL_READERS))],
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CallPage:
    return recent_calls(session, user, offset, limit)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/calls", response_class=HTMLResponse, include_in_schema=False)
def calls_page(
    request: Request,
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
    user: Annotated[CurrentUser, Depends(require_page(*CALL_READERS))],
    lang: str | None = None,
    offset: Offset = 0,
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    page = recent_calls(session, user, offset, 50)
    zone = settings.site.zone
    return templates.TemplateResponse(
        request,
        "calls.html",
        {
            "t": translator(language),
            "lang": language,
            "site": settings.site.name,
            "zone": settings.site.timezone,
            "page": page,
            "me": user,
            "team": team_scope(session, user),
            "is_admin": user.has_any(USER_ADMINS),
            "local": lambda dt: dt.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if dt else "",
        },
    )
