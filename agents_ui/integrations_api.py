"""Outside systems post status updates for cases here (``case_bridge.inbound`` does the work).

The route has no session cookie: the request is authenticated by its HMAC signature, made with
the secret the hotline shares with that system (``cases.webhooks``, ``accepts_updates = true``).
For the same reason it is exempt from the same-site (CSRF) rule in ``agents_ui.app``: a forged
cross-site form cannot sign what it sends, so the Origin check would protect nothing and would
refuse every legitimate machine.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from agents_ui.deps import DbSession, get_settings
from case_bridge.inbound import MAX_BODY_BYTES, InboundOutcome, StatusUpdate, receive_update
from hotline.settings import Settings

router = APIRouter()

# The routes the same-site rule leaves alone, because their own signature check stands in for it.
SIGNED_ROUTES = re.compile(r"^/api/integrations/[^/]+/updates$")


def signed_by_sender(path: str) -> bool:
    return SIGNED_ROUTES.match(path) is not None


class UpdateApplied(BaseModel):
    outcome: Literal["applied"] = "applied"
    case: str = Field(description="The case's number")
    status: str = Field(description="The case's status now")
    replayed: bool = Field(description="True: this key was seen before; the first answer is given again")


class UpdateRefused(BaseModel):
    outcome: Literal["refused", "invalid", "malformed"]
    detail: str = Field(description="Why, in words the sender's staff can act on")
    case: str | None = None
    status: str | None = None
    replayed: bool = False


class Problem(BaseModel):
    detail: str


DESCRIPTION = """
An outside system acts as the case's department: it signs for, replies to or returns the case,
or adds a note to its timeline.

Headers (the same scheme the hotline's own webhooks are signed with):

- `Idempotency-Key`: 1 to 160 printable ASCII characters, one per update; sending the same key
  again returns the first answer (`replayed: true`) and changes nothing.
- `X-Hotline-Timestamp`: Unix seconds; refused when more than 5 minutes from the hotline's clock.
- `X-Hotline-Signature`: `sha256=` + hex HMAC-SHA256 of `timestamp + "." + body` with the shared
  secret, over the exact bytes sent.

Refusals by the case's rules (409) and content the case service cannot use (422 `invalid`) are
kept under the key like an applied update; unreadable bodies (422 `malformed`), bad signatures
(401) and unknown cases (404) are not, so they can be fixed and sent again with the same key.
""".strip()


async def _body(request: Request) -> bytes:
    """The raw body, exactly as signed, read up to the limit (a larger one is refused unread)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"body: at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"body: at most {MAX_BODY_BYTES} bytes")
    return bytes(body)


ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": UpdateApplied, "description": "Applied now, or earlier under the same key (replayed)"},
    401: {"model": Problem, "description": "Signature or timestamp missing, wrong, or too old"},
    404: {"model": Problem, "description": "No such system (or it may not send updates), or no such case"},
    409: {
        "model": UpdateRefused,
        "description": "The case's rules refuse it now (kept: a replay says it again)",
    },
    413: {"model": Problem, "description": f"Body larger than {MAX_BODY_BYTES} bytes"},
    422: {
        "model": UpdateRefused,
        "description": "malformed: body or key unreadable (not kept); invalid: the case service "
        "cannot use its content (kept)",
    },
}


@router.post(
    "/api/integrations/{system}/updates",
    summary="A status update from an outside system (signed; no login)",
    description=DESCRIPTION,
    response_model=UpdateApplied,
    responses=ANSWERS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": StatusUpdate.model_json_schema()}},
        }
    },
)
def receive(
    system: str,
    body: Annotated[bytes, Depends(_body)],
    session: DbSession,
    settings: Annotated[Settings, Depends(get_settings)],
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key")] = "",
    timestamp: Annotated[str, Header(alias="X-Hotline-Timestamp")] = "",
    signature: Annotated[str, Header(alias="X-Hotline-Signature")] = "",
) -> UpdateApplied | JSONResponse:
    # A plain def: FastAPI runs it in a worker thread, so the database work never blocks the loop
    # (the body was read by the async dependency above).
    result = receive_update(
        session,
        settings,
        system=system,
        idempotency_key=idempotency_key,
        body=body,
        timestamp=timestamp,
        signature=signature,
    )
    if result.outcome is InboundOutcome.APPLIED:
        return UpdateApplied(
            case=result.case_number or "", status=result.case_status or "", replayed=result.replayed
        )
    if result.outcome in (InboundOutcome.REFUSED, InboundOutcome.INVALID, InboundOutcome.MALFORMED):
        # Returned, not raised: a kept refusal must be committed with the request.
        refused = UpdateRefused(
            outcome=result.outcome.value,
            detail=result.detail,
            case=result.case_number,
            status=result.case_status,
            replayed=result.replayed,
        )
        return JSONResponse(refused.model_dump(), status_code=result.http_status)
    headers = {"WWW-Authenticate": 'HMAC realm="hotline"'} if result.http_status == 401 else None
    return JSONResponse({"detail": result.detail}, status_code=result.http_status, headers=headers)
