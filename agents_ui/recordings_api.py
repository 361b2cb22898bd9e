"""Finding and hearing recorded calls: the search, a recording's page data, its waveform, and
the audio, which is only ever sent against a token given for a stated, audited reason.

Who may: see ``recordings_access`` (supervisors their team's calls, administrators every call,
agents their own if ``recording.agents_hear_own``). Every refusal is a 403 on the audit log.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents_ui.accounts.audit import Outcome, record
from agents_ui.accounts.models import User
from agents_ui.accounts.permissions import CurrentUser, client_ip
from agents_ui.accounts.service import seat_names
from agents_ui.api_types import QueueName, RowId, refuse_field
from agents_ui.deps import DbSession, get_settings
from agents_ui.recordings_access import (
    TOKEN_PATTERN,
    RecordingRefused,
    TokenRefused,
    access_key,
    check_may_hear,
    check_token,
    full_number_for,
    grant_for,
    hearer,
    hearing_scope,
    purpose_of,
    sign,
    target_of,
)
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
from recording.search import NUMBER, Cursor, SearchRow, search_calls
from recording.service import pauses_of
from telephony.models import Call, Disposition

router = APIRouter()

# Decoded listening copies (GSM archives) and computed waveforms live this long: a copy of the
# audio must not outlive the archive by much once retention deletes it.
CACHE_SECONDS = 24 * 3600
MEDIA_TYPES = {"opus": "audio/ogg", "wav": "audio/wav", "gsm": "audio/wav"}
DOWNLOAD_SUFFIX = {"opus": ".opus", "wav": ".wav", "gsm": ".wav"}

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
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=200, pattern=PLAIN)]


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


def _load(session: Session, recording_id: int) -> tuple[Recording, Call]:
    recording = session.get(Recording, recording_id)
    if recording is None or recording.kind != RecordingKind.CALL:
        raise HTTPException(404, "no such call recording")
    call = session.scalar(select(Call).where(Call.uniqueid == recording.call_uniqueid))
    if call is None:
        raise HTTPException(404, "the call of this recording is not on record")
    return recording, call


def _no_audio(recording: Recording) -> tuple[int, str] | None:
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


def _archive(recording: Recording) -> Path:
    problem = _no_audio(recording)
    if problem is not None:
        raise HTTPException(*problem)
    return Path(recording.archive_path)


def _cache(settings: Settings, kind: str) -> Path:
    folder = settings.state_dir / "cache" / kind
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _prune(folder: Path) -> None:
    limit = time.time() - CACHE_SECONDS
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime < limit:
                old.unlink()
        except FileNotFoundError:
            pass  # another worker pruned it first


def _listening_file(settings: Settings, recording: Recording) -> Path:
    """What the browser is sent: the archive itself, or for GSM (which browsers do not play) a
    PCM WAV decoded once and kept for a day."""
    archive = _archive(recording)
    if recording.archive_format != "gsm":
        return archive
    folder = _cache(settings, "listening")
    copy = folder / f"{recording.id}-{recording.sha256[:16]}.wav"
    if not copy.exists():
        _prune(folder)
        audio.decode_to_pcm_wav(archive, copy)
    return copy


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
    recording, call = _load(session, recording_id)
    check_may_hear(
        session,
        settings,
        user,
        request,
        call,
        target=target_of(recording.id, call.uniqueid),
        action="recording.listen",
    )
    problem = _no_audio(recording)
    finished = recording.status in FINISHED_WITH_AUDIO and bool(recording.archive_path)
    integrity = verify(session, recording) if finished else "none"
    channels = _channels(recording) if problem is None else []
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


# ----- the waveform -------------------------------------------------------------------------------
class PeaksOut(BaseModel):
    channels: list[str] = Field(description="Whose each line is: caller, agent, or mix (both, one line)")
    duration_ms: int | None
    peaks: list[list[float]] = Field(description="Per channel, the loudest sample of each slice, 0..1")


SPEAKERS = ("caller", "agent")


def _legs_file(recording: Recording) -> Path:
    """The legs' waveforms the recorder kept (an Opus or GSM archive holds only their mix)."""
    return peaks_file(recording.path)


def _channels(recording: Recording) -> list[str]:
    """What the page draws, one line each: the legs when their waveforms were kept or the archive
    holds them apart (wav); else the archive's one channel, the mix (a voicemail: the caller)."""
    legs = _legs_file(recording)
    if legs.exists():
        kept = json.loads(legs.read_text(encoding="utf-8"))
        return [speaker for speaker in SPEAKERS if speaker in kept]
    channels = audio.legs_channels(recording.archive_path)
    return channels if len(channels) == 2 or recording.kind != RecordingKind.CALL else ["mix"]


def _fewer(values: list[float], buckets: int) -> list[float]:
    """A waveform in at most ``buckets`` slices, each the loudest of those it covers."""
    if len(values) <= buckets:
        return values
    edges = [round(i * len(values) / buckets) for i in range(buckets + 1)]
    return [max(values[edges[i] : edges[i + 1]]) for i in range(buckets)]


def _waveform(settings: Settings, recording: Recording, buckets: int) -> PeaksOut:
    legs = _legs_file(recording)
    if legs.exists():
        kept = json.loads(legs.read_text(encoding="utf-8"))
        speakers = [speaker for speaker in SPEAKERS if speaker in kept]
        return PeaksOut(
            channels=speakers,
            duration_ms=recording.duration_ms,
            peaks=[_fewer(kept[speaker], buckets) for speaker in speakers],
        )
    # No legs kept (a wav archive holds them apart; an older or a voicemail's archive holds one
    # line): read from the archive once, kept in the cache for a day.
    folder = _cache(settings, "peaks")
    cached = folder / f"{recording.id}-{recording.sha256[:16]}-{buckets}.json"
    if cached.exists():
        return PeaksOut.model_validate_json(cached.read_text(encoding="utf-8"))
    archive = Path(recording.archive_path)
    waveform = PeaksOut(
        channels=_channels(recording), duration_ms=recording.duration_ms, peaks=audio.peaks(archive, buckets)
    )
    _prune(folder)
    _write_atomically(cached, waveform.model_dump_json())
    return waveform


@router.get(
    "/api/recordings/{recording_id}/peaks",
    response_model=PeaksOut,
    summary="The waveform of each leg (caller, agent), for drawing",
    description="Answers carry an ETag (the archive's hash): send it back as If-None-Match for a 304.",
    responses={**PROBLEMS, **NO_AUDIO, 304: {"description": "Unchanged since the ETag sent"}},
)
def recording_peaks(
    recording_id: RowId,
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Hearer,
    buckets: Annotated[int, Query(ge=50, le=4000)] = 800,
) -> Response:
    recording, call = _load(session, recording_id)
    check_may_hear(
        session,
        settings,
        user,
        request,
        call,
        target=target_of(recording.id, call.uniqueid),
        action="recording.listen",
    )
    _archive(recording)  # nothing to hear, nothing to draw: 410/404
    # A finished recording's files never change (the hash is its proof), so the hash and the
    # bucket count name the answer.
    etag = f'"{recording.sha256[:32] or recording.id}-{buckets}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return JSONResponse(_waveform(settings, recording, buckets).model_dump(), headers=headers)


def _write_atomically(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(name, path)


# ----- asking to hear, and the audio --------------------------------------------------------------
class AccessIn(BaseModel):
    purpose: Literal["listen", "download"]
    reason: Reason = Field(description="Why, for the audit log: 4 to 200 characters")


class AccessOut(BaseModel):
    purpose: str
    token: str
    url: str = Field(description="The audio, for an <audio> element or a download link")
    expires_at: datetime


@router.post(
    "/api/recordings/{recording_id}/access",
    response_model=AccessOut,
    summary="Ask to listen to or download a recording, with the reason: audited, answered by a token",
    description="The token opens GET /api/recordings/{id}/audio for ten minutes, for this user, this "
    "recording and this purpose only.",
    responses={**PROBLEMS, **NO_AUDIO},
)
def ask_access(
    recording_id: RowId,
    body: AccessIn,
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Hearer,
) -> AccessOut:
    action = f"recording.{body.purpose}"
    recording, call = _load(session, recording_id)
    target = target_of(recording.id, call.uniqueid)
    check_may_hear(session, settings, user, request, call, target=target, action=action)
    _listening_file(settings, recording)  # nothing to hear: 410/404 now, not after the reason is logged
    grant = grant_for(user, recording.id, body.purpose)
    token = sign(access_key(settings), grant)
    record(
        session,
        actor=user.username,
        action=action,
        target=target,
        source_ip=client_ip(request),
        outcome=Outcome.OK,
        detail=body.reason,
    )
    return AccessOut(
        purpose=body.purpose,
        token=token,
        url=f"/api/recordings/{recording.id}/audio?token={token}",
        expires_at=datetime.fromtimestamp(grant.expires, UTC),
    )


@router.get(
    "/api/recordings/{recording_id}/audio",
    response_class=FileResponse,
    summary="The recording's audio, with HTTP Range (206) for seeking; needs a token from /access",
    description="Ogg Opus (stereo: caller left, agent right) or WAV. With a download token the file "
    "comes as an attachment. Range: bytes=... answers 206 with Content-Range; a range beyond the "
    "end answers 416.",
    responses={
        200: {"content": {"audio/ogg": {}, "audio/wav": {}}, "description": "The whole file"},
        206: {"content": {"audio/ogg": {}, "audio/wav": {}}, "description": "The range asked for"},
        400: {"content": {"text/plain": {}}, "description": "A Range header that cannot be read"},
        **PROBLEMS,
        **NO_AUDIO,
        416: {"content": {"text/plain": {}}, "description": "The range lies beyond the end of the file"},
    },
)
def recording_audio(
    recording_id: RowId,
    token: Annotated[str, Query(pattern=TOKEN_PATTERN, description="From POST /access")],
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Hearer,
) -> FileResponse:
    action = f"recording.{purpose_of(token)}"
    try:
        grant = check_token(access_key(settings), token, user_id=user.id, recording_id=recording_id)
    except TokenRefused as exc:
        raise RecordingRefused(
            user, request, str(exc), target=target_of(recording_id), action=action
        ) from exc
    recording, call = _load(session, recording_id)
    # The rights are checked again: a supervisor moved to another team keeps no token's worth.
    check_may_hear(
        session, settings, user, request, call, target=target_of(recording.id, call.uniqueid), action=action
    )
    path = _listening_file(settings, recording)
    media_type = MEDIA_TYPES.get(recording.archive_format, "application/octet-stream")
    headers = {"Cache-Control": "private, no-store"}
    if grant.purpose == "download":
        name = f"call-{call.uniqueid}{DOWNLOAD_SUFFIX.get(recording.archive_format, '')}"
        return FileResponse(path, media_type=media_type, filename=name, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)
