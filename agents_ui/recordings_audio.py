"""Hearing a recorded call: its waveform, the reason asked before the audio, and the audio itself,
sent only against a short-lived token given for that reason (see ``recordings_access``).

Who may: as for the rest of the recordings (``recordings_api``); every refusal is on the audit log.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from agents_ui.accounts.audit import Outcome, record
from agents_ui.accounts.permissions import client_ip
from agents_ui.api_types import RowId
from agents_ui.deps import DbSession
from agents_ui.recordings_access import (
    TOKEN_PATTERN,
    RecordingRefused,
    TokenRefused,
    access_key,
    check_may_hear,
    check_token,
    grant_for,
    purpose_of,
    sign,
    target_of,
)
from agents_ui.recordings_api import (
    NO_AUDIO,
    PLAIN,
    PROBLEMS,
    SPEAKERS,
    Hearer,
    SiteSettings,
    archive_of,
    channels_of,
    legs_file,
    load_call_recording,
)
from hotline.settings import Settings
from recording import audio
from recording.models import Recording

router = APIRouter()

# Decoded listening copies (GSM archives) and computed waveforms live this long: a copy of the
# audio must not outlive the archive by much once retention deletes it.
CACHE_SECONDS = 24 * 3600
MEDIA_TYPES = {"opus": "audio/ogg", "wav": "audio/wav", "gsm": "audio/wav"}
DOWNLOAD_SUFFIX = {"opus": ".opus", "wav": ".wav", "gsm": ".wav"}

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=200, pattern=PLAIN)]


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
    archive = archive_of(recording)
    if recording.archive_format != "gsm":
        return archive
    folder = _cache(settings, "listening")
    copy = folder / f"{recording.id}-{recording.sha256[:16]}.wav"
    if not copy.exists():
        _prune(folder)
        audio.decode_to_pcm_wav(archive, copy)
    return copy


def _write_atomically(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(name, path)


# ----- the waveform -------------------------------------------------------------------------------
class PeaksOut(BaseModel):
    channels: list[str] = Field(description="Whose each line is: caller, agent, or mix (both, one line)")
    duration_ms: int | None
    peaks: list[list[float]] = Field(description="Per channel, the loudest sample of each slice, 0..1")


def _fewer(values: list[float], buckets: int) -> list[float]:
    """A waveform in at most ``buckets`` slices, each the loudest of those it covers."""
    if len(values) <= buckets:
        return values
    edges = [round(i * len(values) / buckets) for i in range(buckets + 1)]
    return [max(values[edges[i] : edges[i + 1]]) for i in range(buckets)]


def _waveform(settings: Settings, recording: Recording, buckets: int) -> PeaksOut:
    legs = legs_file(recording)
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
        channels=channels_of(recording),
        duration_ms=recording.duration_ms,
        peaks=audio.peaks(archive, buckets),
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
    archive_of(recording)  # nothing to hear, nothing to draw: 410/404
    # A finished recording's files never change (the hash is its proof), so the hash and the
    # bucket count name the answer.
    etag = f'"{recording.sha256[:32] or recording.id}-{buckets}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return JSONResponse(_waveform(settings, recording, buckets).model_dump(), headers=headers)


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
    recording, call = load_call_recording(session, recording_id)
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
    recording, call = load_call_recording(session, recording_id)
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
