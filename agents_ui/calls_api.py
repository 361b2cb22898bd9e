"""Read-only call list: JSON for programs, a page for people."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents_ui.deps import get_session, get_settings, templates
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
    caller: str  # masked: this list has no per-user rights yet
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


def recent_calls(session: Session, offset: int, limit: int) -> CallPage:
    total = session.scalar(select(func.count(Call.id))) or 0
    rows = session.scalars(
        select(Call).order_by(Call.started_at.desc(), Call.id.desc()).offset(offset).limit(limit)
    ).all()
    return CallPage(total=total, offset=offset, limit=limit, calls=[_to_out(c) for c in rows])


@router.get("/api/calls", response_model=CallPage, summary="Recent calls, newest first")
def list_calls(
    session: Annotated[Session, Depends(get_session)],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CallPage:
    return recent_calls(session, offset, limit)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/calls", response_class=HTMLResponse, include_in_schema=False)
def calls_page(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
    lang: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    language = pick_language(lang, settings.site.language)
    page = recent_calls(session, offset, 50)
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
            "local": lambda dt: dt.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if dt else "",
        },
    )
