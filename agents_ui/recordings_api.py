"""Finding recorded calls, and what the call page shows of one: status, integrity, transcript by
speaker, key phrases, pauses. Its waveform and audio are in ``recordings_audio``.

Who may: see ``recordings_access`` (supervisors their team's calls, administrators every call,
agents their own if ``recording.agents_hear_own``). Every refusal is a 403 on the audit log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts.models import User
from agents_ui.accounts.permissions import CurrentUser
from agents_ui.accounts.service import seat_names
from agents_ui.api_types import QueueName, RowId, refuse_field
from agents_ui.deps import DbSession, get_settings
from agents_ui.recordings_access import (
    check_may_hear,
    full_number_for,
    hearer,
    hearing_scope,
    target_of,
)
from hotline.keyset import Cursor
from hotline.logs import mask_number
from hotline.settings import Settings
from recording import audio
from recording.housekeeping import verify
from recording.models import (
    FINISHED_WITH_AUDIO,
    KeyPhraseHit,
    Recording,
    RecordingKind,
    RecordingStatus,
    Transcript,
    TranscriptSegment,
)
from recording.pipeline import peaks_file
from recording.search import NUMBER, SearchRow, search_calls
from recording.service import pauses_of
from telephony.models import Call, Disposition

router = APIRouter()

Hearer = Annotated[CurrentUser, Depends(hearer())]
SiteSettings = Annotated[Settings, Depends(get_settings)]

# No control characters: they mean nothing in a search and PostgreSQL refuses NUL outright.
PLAIN = r"^[^\x00-\x1f\x7f]*$"
NumberText = Annotated[
    str,
    Query(
        pattern=NUMBER.pattern,
        description="The caller's number: 11 digits or more (or with +) exactly, fewer digits as the "
        "last digits, a trailing * as the first digits",
    ),
]
SeatName = Annotated[
    str,
    Query(
        min_length=1, max_length=128, pattern=PLAIN, description="A username, or a seat name as calls hold it"
    ),
]
Words = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        pattern=PLAIN,
        description="Words said in the call, as one phrase (Chinese characters or English words)",
    ),
]
CursorText = Annotated[
    str, Query(pattern=r"^[0-9]{1,17}-[0-9]{1,10}$", description="next_cursor of the previous page")
]
Seconds = Annotated[int, Query(ge=0, le=172_800)]
When = Annotated[datetime, Query(description="ISO 8601; without an offset, in the site's time zone")]


class Problem(BaseModel):
    detail: str


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not logged in"},
    403: {
        "model": Problem,
        "description": "Not allowed (role, team, recording.agents_hear_own, or the token); on the audit log",
    },
}
NO_RECORDING: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such call recording"}
}
NO_AUDIO: dict[int | str, dict[str, Any]] = {
    404: {
        "model": Problem,
        "description": "No such call recording, or nothing to hear (failed, damaged, unfinished, no file)",
    },
    410: {"model": Problem, "description": "The recording was deleted by retention"},
}


# ----- the search ---------------------------------------------------------------------------------
class PhraseOut(BaseModel):
    phrase: str
    category: str
    urgent: bool


class SnippetOut(BaseModel):
    speaker: str = Field(description="caller or agent")
    text: str
    match: list[int] | None = Field(description="[start, end) of the words searched for in text")


class FoundCall(BaseModel):
    recording_id: int
    uniqueid: str
    started_at: datetime
    ended_at: datetime | None
    caller: str
    caller_masked: bool
    agent: str
    queue: str
    duration_seconds: int | None
    disposition: str
    recording_status: str
    recording_seconds: float | None
    asr_status: str
    key_phrases: list[PhraseOut]
    snippet: SnippetOut | None


class SearchOut(BaseModel):
    calls: list[FoundCall]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last")


def _found(settings: Settings, user: CurrentUser, row: SearchRow) -> FoundCall:
    full = full_number_for(settings, user, row.agent)
    return FoundCall(
        recording_id=row.recording_id,
        uniqueid=row.uniqueid,
        started_at=row.started_at,
        ended_at=row.ended_at,
        caller=row.caller_number if full else mask_number(row.caller_number),
        caller_masked=not full,
        agent=row.agent,
        queue=row.queue,
        duration_seconds=row.duration_seconds,
        disposition=row.disposition,
        recording_status=row.recording_status,
        recording_seconds=row.recording_ms / 1000 if row.recording_ms is not None else None,
        asr_status=row.asr_status,
        key_phrases=[
            PhraseOut(phrase=p.phrase, category=p.category, urgent=p.urgent) for p in row.key_phrases
        ],
        snippet=(
            SnippetOut(
                speaker=row.snippet.speaker,
                text=row.snippet.text,
                match=list(row.snippet.match) if row.snippet.match else None,
            )
            if row.snippet
            else None
        ),
    )


def _utc(value: datetime | None, zone: tzinfo, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return (value.replace(tzinfo=zone) if value.tzinfo is None else value).astimezone(UTC)
    except (OverflowError, ValueError):
        refuse_field(("query", name), "time out of range", value.isoformat())


def _seats_of(session: Session, agent: str) -> list[str]:
    """A username stands for every seat name its calls are kept under; anything else for itself."""
    user = session.scalar(select(User).where(User.username == agent.strip().lower()))
    return seat_names(user.username, user.extension) if user is not None else [agent]


@router.get(
    "/api/recordings/search",
    response_model=SearchOut,
    summary="Recorded calls, newest first, by number, agent, queue, time, duration, outcome or words",
    description="Only calls with a call recording; a supervisor finds their team's calls, an agent their "
    "own (if recording.agents_hear_own). Pages follow next_cursor. Callers' numbers are masked "
    "unless the role may see them (supervisors, administrators; agents on their own calls if "
    "agents.full_numbers_for_agents).",
    responses=PROBLEMS,
)
def search(
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Annotated[CurrentUser, Depends(hearer("recording.search"))],
    number: NumberText | None = None,
    agent: SeatName | None = None,
    queue: Annotated[QueueName | None, Query()] = None,
    since: When | None = None,
    until: When | None = None,
    min_seconds: Seconds | None = None,
    max_seconds: Seconds | None = None,
    disposition: Disposition | None = None,
    words: Words | None = None,
    cursor: CursorText | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SearchOut:
    scope = hearing_scope(session, settings, user, request, target="recordings", action="recording.search")
    zone = settings.site.zone
    try:
        start = Cursor.decode(cursor) if cursor else None
    except ValueError as exc:
        refuse_field(("query", "cursor"), str(exc), cursor)
    page = search_calls(
        session,
        visible=scope,
        number=number,
        agent=_seats_of(session, agent) if agent else None,
        queue=queue,
        since=_utc(since, zone, "since"),
        until=_utc(until, zone, "until"),
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        disposition=disposition.value if disposition else None,
        words=words,
        cursor=start,
        limit=limit,
    )
    return SearchOut(
        calls=[_found(settings, user, row) for row in page.rows],
        has_more=page.has_more,
        next_cursor=page.next_cursor.encode() if page.next_cursor else None,
    )


# ----- one recording ------------------------------------------------------------------------------
class CallOut(BaseModel):
    uniqueid: str
    started_at: datetime
    ended_at: datetime | None
    caller: str
    caller_masked: bool
    called_number: str
    queue: str
    agent: str
    disposition: str
    outcome: str
    duration_seconds: int | None


class PauseOut(BaseModel):
    paused_at: datetime
    resumed_at: datetime | None
    paused_by: str
    start_ms: int | None = Field(description="From the start of the recording")
    end_ms: int | None


class SegmentOut(BaseModel):
    speaker: str
    start_ms: int
    end_ms: int
    text: str


class TranscriptOut(BaseModel):
    engine: str
    model: str
    created_at: datetime
    segments: list[SegmentOut]


class KeyPhraseOut(PhraseOut):
    speaker: str
    start_ms: int


class RecordingOut(BaseModel):
    id: int
    status: str
    failure_reason: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_ms: int | None
    archive_format: str
    sha256: str
    integrity: Literal["ok", "missing", "altered", "none"] = Field(
        description="The archive against its hash: ok, missing, altered; none when there is no archive"
    )
    legal_hold: bool
    hold_reason: str
    deleted_at: datetime | None
    asr_status: str
    playable: bool
    unplayable: str = Field(description="Why there is nothing to hear; empty when playable")
    channels: list[str] = Field(description="The waveform's lines: caller and agent, or mix")
    peaks_url: str | None
    call: CallOut
    pauses: list[PauseOut]
    transcript: TranscriptOut | None
    key_phrases: list[KeyPhraseOut]


def load_call_recording(session: Session, recording_id: int) -> tuple[Recording, Call]:
    recording = session.get(Recording, recording_id)
    if recording is None or recording.kind != RecordingKind.CALL:
        raise HTTPException(404, "no such call recording")
    call = session.scalar(select(Call).where(Call.uniqueid == recording.call_uniqueid))
    if call is None:
        raise HTTPException(404, "the call of this recording is not on record")
    return recording, call


def no_audio(recording: Recording) -> tuple[int, str] | None:
    """(status, why) when the recording has nothing to hear, else None."""
    status = recording.status
    if status == RecordingStatus.DELETED:
        when = recording.deleted_at.date().isoformat() if recording.deleted_at else "earlier"
        return 410, f"the recording was deleted ({when}): {recording.failure_reason}".rstrip(": ")
    if status in (RecordingStatus.RECORDING, RecordingStatus.STOPPED):
        return 404, "the recording is still being finished: try again in a minute"
    if status == RecordingStatus.FAILED:
        return 404, f"nothing was recorded: {recording.failure_reason or 'no file was written'}"
    if status == RecordingStatus.DAMAGED:
        return 404, f"the recording is damaged: {recording.failure_reason or 'the files were unusable'}"
    if status not in FINISHED_WITH_AUDIO or not recording.archive_path:
        return 404, f"the recording has no archive copy (status {status})"
    if not Path(recording.archive_path).exists():
        return 404, "the archive file is missing: see the integrity check"
    return None


def archive_of(recording: Recording) -> Path:
    problem = no_audio(recording)
    if problem is not None:
        raise HTTPException(*problem)
    return Path(recording.archive_path)


SPEAKERS = ("caller", "agent")


def legs_file(recording: Recording) -> Path:
    """The legs' waveforms the recorder kept (an Opus or GSM archive holds only their mix)."""
    return peaks_file(recording.path)


def channels_of(recording: Recording) -> list[str]:
    """What the page draws, one line each: the legs when their waveforms were kept or the archive
    holds them apart (wav); else the archive's one channel, the mix (a voicemail: the caller)."""
    legs = legs_file(recording)
    if legs.exists():
        kept = json.loads(legs.read_text(encoding="utf-8"))
        return [speaker for speaker in SPEAKERS if speaker in kept]
    channels = audio.legs_channels(recording.archive_path)
    return channels if len(channels) == 2 or recording.kind != RecordingKind.CALL else ["mix"]


def _offset_ms(at: datetime | None, start: datetime | None) -> int | None:
    if at is None or start is None:
        return None
    return max(0, round((at - start).total_seconds() * 1000))


def _transcript(session: Session, recording: Recording) -> TranscriptOut | None:
    transcript = session.scalar(select(Transcript).where(Transcript.recording_id == recording.id))
    if transcript is None:
        return None
    segments = session.scalars(
        select(TranscriptSegment)
        .where(TranscriptSegment.transcript_id == transcript.id)
        .order_by(TranscriptSegment.start_ms, TranscriptSegment.id)
    )
    return TranscriptOut(
        engine=transcript.engine,
        model=transcript.model,
        created_at=transcript.created_at,
        segments=[
            SegmentOut(speaker=s.speaker, start_ms=s.start_ms, end_ms=s.end_ms, text=s.text) for s in segments
        ],
    )


@router.get(
    "/api/recordings/{recording_id}",
    response_model=RecordingOut,
    summary="A recorded call: its status and integrity, the transcript by speaker, key phrases, pauses",
    responses={**PROBLEMS, **NO_RECORDING},
)
def recording_detail(
    recording_id: RowId, request: Request, session: DbSession, settings: SiteSettings, user: Hearer
) -> RecordingOut:
    recording, call = load_call_recording(session, recording_id)
    check_may_hear(
        session,
        settings,
        user,
        request,
        call,
        target=target_of(recording.id, call.uniqueid),
        action="recording.listen",
    )
    problem = no_audio(recording)
    finished = recording.status in FINISHED_WITH_AUDIO and bool(recording.archive_path)
    integrity = verify(session, recording) if finished else "none"
    channels = channels_of(recording) if problem is None else []
    full = full_number_for(settings, user, call.agent)
    hits = session.scalars(
        select(KeyPhraseHit).where(KeyPhraseHit.recording_id == recording.id).order_by(KeyPhraseHit.start_ms)
    )
    return RecordingOut(
        id=recording.id,
        status=recording.status,
        failure_reason=recording.failure_reason,
        started_at=recording.started_at,
        ended_at=recording.ended_at,
        duration_ms=recording.duration_ms,
        archive_format=recording.archive_format,
        sha256=recording.sha256,
        integrity=integrity,
        legal_hold=recording.legal_hold,
        hold_reason=recording.hold_reason,
        deleted_at=recording.deleted_at,
        asr_status=recording.asr_status,
        playable=problem is None,
        unplayable=problem[1] if problem else "",
        channels=channels,
        peaks_url=f"/api/recordings/{recording.id}/peaks" if problem is None else None,
        call=CallOut(
            uniqueid=call.uniqueid,
            started_at=call.started_at,
            ended_at=call.ended_at,
            caller=call.caller_number if full else mask_number(call.caller_number),
            caller_masked=not full,
            called_number=call.called_number,
            queue=call.queue,
            agent=call.agent,
            disposition=call.disposition,
            outcome=call.outcome,
            duration_seconds=call.duration_seconds,
        ),
        pauses=[
            PauseOut(
                paused_at=p.paused_at,
                resumed_at=p.resumed_at,
                paused_by=p.paused_by,
                start_ms=_offset_ms(p.paused_at, recording.started_at),
                end_ms=_offset_ms(p.resumed_at, recording.started_at),
            )
            for p in pauses_of(session, call.uniqueid)
        ],
        transcript=_transcript(session, recording),
        key_phrases=[
            KeyPhraseOut(
                phrase=h.phrase, category=h.category, urgent=h.urgent, speaker=h.speaker, start_ms=h.start_ms
            )
            for h in hits
        ],
    )
