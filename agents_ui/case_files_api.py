"""Files given with a case (a reply's photos, a letter): upload as the raw body, download with the
case's visibility. Kept under ``state_dir/attachments/<case number>/<sha256>``."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path as FilePath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse

from agents_ui.accounts import audit
from agents_ui.api_types import LOGIN_PROBLEMS, Problem
from agents_ui.case_views import (
    ATTACHMENT_TYPES,
    FILENAME,
    INVALID,
    MAGIC,
    MAX_ATTACHMENT,
    NO_CASE,
    Anyone,
    CaseNumber,
    SiteSettings,
    attachment_out,
    audited,
    load_case,
    problem,
    viewer_of,
)
from agents_ui.deps import DbSession
from case_bridge.models import (
    CaseAttachment,
)
from case_bridge.schemas import (
    AttachmentOut,
)
from hotline.db import utcnow

router = APIRouter(tags=["cases"])


async def upload_body(request: Request) -> bytes:
    """The request's raw body, read up to MAX_ATTACHMENT (and a byte more, to tell "too big")."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ATTACHMENT:
        return b"\0" * (MAX_ATTACHMENT + 1)  # refused unread: the size is known
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ATTACHMENT:
            break
    return b"".join(chunks)


UPLOAD_CONTENT = {kind: {"schema": {"type": "string", "format": "binary"}} for kind in ATTACHMENT_TYPES}


@router.post(
    "/api/cases/{number}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Attach a file to the case (a photo of the repair, a letter): the raw file as the body",
    description="Content-Type says what it is: photos (JPEG, PNG, GIF, WebP), PDF, text, CSV, Word, Excel, "
    "PowerPoint; at most 10 MB. Department staff attach to their departments' cases. The returned id goes "
    "in an action's `attachments` (a reply) to tie the file to that step.",
    openapi_extra={"requestBody": {"required": True, "content": UPLOAD_CONTENT}},
    responses={
        **LOGIN_PROBLEMS,
        **NO_CASE,
        413: {"model": Problem, "description": "Larger than 10 MB"},
        415: {"model": Problem, "description": "Not a kind of file cases take, or not what it says it is"},
        **INVALID,
    },
)
def attach_file(
    number: CaseNumber,
    filename: Annotated[str, Query(pattern=FILENAME, description="The file's name as the user has it")],
    request: Request,
    session: DbSession,
    settings: SiteSettings,
    user: Anyone,
    content: Annotated[bytes, Depends(upload_body)],
) -> AttachmentOut | JSONResponse:
    viewer = viewer_of(session, settings, user)
    target = f"case:{number}"
    case = load_case(session, number)
    if case is None or not viewer.may_see(case):
        return problem(404, f"no case {number}")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    refusal = upload_refusal(kind, content)
    if refusal is not None:
        audited(session, request, user, "case.attach", target, audit.Outcome.INVALID, refusal[1])
        return problem(*refusal)
    digest = hashlib.sha256(content).hexdigest()
    path = settings.state_dir / "attachments" / case.number / digest
    store(path, content)
    attachment = CaseAttachment(
        case_id=case.id,
        filename=filename.strip()[:200] or "file",
        content_type=kind,
        size_bytes=len(content),
        sha256=digest,
        path=str(path),
        uploaded_by=user.username,
        uploaded_at=utcnow(),
    )
    session.add(attachment)
    session.flush()
    audited(
        session,
        request,
        user,
        "case.attach",
        target,
        audit.Outcome.OK,
        f"{attachment.filename} {digest[:12]}",
    )
    return attachment_out(case, attachment)


def upload_refusal(kind: str, content: bytes) -> tuple[int, str] | None:
    if len(content) > MAX_ATTACHMENT:
        return 413, f"a file is at most {MAX_ATTACHMENT // (1024 * 1024)} MB"
    if kind not in ATTACHMENT_TYPES:
        return 415, f"cases take {', '.join(ATTACHMENT_TYPES.values())}; not {kind or 'an unnamed type'}"
    if not content:
        return 415, "the file is empty"
    starts = MAGIC.get(kind)
    if starts and not content.startswith(starts):
        return 415, f"the file is not a {ATTACHMENT_TYPES[kind]}"
    if kind == "image/webp" and content[8:12] != b"WEBP":
        return 415, f"the file is not a {ATTACHMENT_TYPES[kind]}"
    return None


def store(path: FilePath, content: bytes) -> None:
    """Written whole to a temporary file beside it, then renamed into place: a reader never sees
    half a file. The name is the content's hash, so the same file twice is kept once."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".upload.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(name, path)
    finally:
        FilePath(name).unlink(missing_ok=True)


@router.get(
    "/api/cases/{number}/attachments/{attachment_id}",
    response_class=FileResponse,
    summary="Download a file attached to the case",
    responses={
        200: {
            "description": "The file, as a download",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in ATTACHMENT_TYPES
            },
        },
        **LOGIN_PROBLEMS,
        404: {"model": Problem, "description": "No such case or file (or the file is gone)"},
        **INVALID,
    },
)
def download_file(
    number: CaseNumber,
    attachment_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: DbSession,
    settings: SiteSettings,
    user: Anyone,
) -> Response:
    viewer = viewer_of(session, settings, user)
    case = load_case(session, number)
    if case is None or not viewer.may_see(case):
        return problem(404, f"no case {number}")
    attachment = session.get(CaseAttachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        return problem(404, "no such file on this case")
    path = FilePath(attachment.path)
    if not path.is_file():
        return problem(404, "the file is missing from the attachments store")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII stand-in for old clients, the real name (路灯.jpg) in filename*."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
