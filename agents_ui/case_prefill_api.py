"""The case form's prefill for a call: the caller, and what the transcript says once it exists.

The console asks when the call is answered (caller data only) and again until the transcript
is there (a few seconds to minutes after hang-up); an agent may file before that, and the
transcript joins the case through the linked call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as FastApiPath
from pydantic import BaseModel, Field
from sqlalchemy import select

from agents_ui.accounts.models import Role
from agents_ui.accounts.permissions import CurrentUser, require
from agents_ui.api_types import CALL_ID_PATTERN, LOGIN_PROBLEMS, Problem
from agents_ui.calls_api import seat_names
from agents_ui.deps import DbSession, get_settings
from agents_ui.seats_api import supervises
from case_bridge.catalogue import leaf_categories
from case_bridge.prefill import PhraseHeard, category_words, suggest
from hotline.logs import mask_number
from hotline.settings import Settings
from recording.models import KeyPhraseHit, Transcript
from telephony.models import Call

router = APIRouter()

PREFILL_ROLES = (Role.AGENT, Role.DUTY_LEADER, Role.SUPERVISOR, Role.ADMINISTRATOR)


class CasePrefill(BaseModel):
    uniqueid: str
    caller_number: str = Field(description="Masked unless the agent may see full numbers")
    transcript_ready: bool
    transcript: str = ""
    category: str = Field("", description="Suggested category code (from key phrases)")
    urgent: bool = False
    address: str = ""
    title: str = ""
    because: list[str] = Field(default_factory=list, description="The key phrases behind the suggestion")


@router.get(
    "/api/calls/{uniqueid}/case-prefill",
    response_model=CasePrefill,
    summary="What the case form can fill in from this call (caller, transcript, suggestions)",
    responses={**LOGIN_PROBLEMS, 404: {"model": Problem, "description": "No such call, or not yours"}},
)
def case_prefill(
    uniqueid: Annotated[str, FastApiPath(pattern=CALL_ID_PATTERN)],
    settings: Annotated[Settings, Depends(get_settings)],
    session: DbSession,
    user: Annotated[CurrentUser, Depends(require(*PREFILL_ROLES))],
) -> CasePrefill:
    call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
    mine = call is not None and call.agent in seat_names(user)
    if call is None or not (mine or user.has_any((Role.ADMINISTRATOR,)) or supervises(session, user, call)):
        raise HTTPException(404, "no such call, or not yours")
    full = not mine or settings.agents.full_numbers_for_agents
    number = call.caller_number if full else mask_number(call.caller_number)
    transcript = session.scalar(
        select(Transcript).where(Transcript.call_uniqueid == uniqueid).order_by(Transcript.id.desc()).limit(1)
    )
    if transcript is None:
        return CasePrefill(uniqueid=uniqueid, caller_number=number, transcript_ready=False)
    # The caller's own words first: what the agent said ("is it the street light?") is weaker.
    hits = session.scalars(
        select(KeyPhraseHit)
        .where(KeyPhraseHit.call_uniqueid == uniqueid)
        .order_by((KeyPhraseHit.speaker != "caller"), KeyPhraseHit.start_ms)
    ).all()
    categories = [category_words(c.code, c.keywords) for c in leaf_categories(session)]
    heard = [PhraseHeard(hit.phrase, hit.category, hit.urgent) for hit in hits]
    suggestion = suggest(heard, transcript.text, categories)
    return CasePrefill(
        uniqueid=uniqueid,
        caller_number=number,
        transcript_ready=True,
        transcript=transcript.text,
        category=suggestion.category_code,
        urgent=suggestion.urgent,
        address=suggestion.address,
        title=suggestion.title,
        because=suggestion.because,
    )
