"""The web application: health, the call list, accounts, and (in later issues) the consoles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from agents_ui import (
    calls_api,
    case_actions_api,
    case_files_api,
    case_prefill_api,
    cases_api,
    cases_pages,
    catalogue_api,
    health,
    integrations_api,
    open311_api,
    outbox_api,
    recordings_api,
    recordings_audio,
    recordings_pages,
    seats_api,
    wallboard_api,
)
from agents_ui.accounts import api as accounts_api
from agents_ui.accounts import pages as accounts_pages
from agents_ui.accounts.permissions import SAFE_METHODS, LoginRequired, login_url, same_origin
from agents_ui.recordings_access import RecordingRefused, refused
from agents_ui.seat_link import SeatLink
from hotline.db import Database
from hotline.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


async def _login_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_url), status_code=303)


async def _refuse_cross_site(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    # CSRF: with SameSite=Strict a cross-site form carries no cookie anyway; this also covers old
    # browsers and login CSRF (a forged login into the attacker's account). See permissions.same_origin.
    # Open311 is called by other systems, not browsers: it authenticates each POST by its api_key
    # and never reads the session cookie, so there is no session to forge.
    if request.url.path.startswith("/open311/"):
        return await call_next(request)
    # Status updates from outside systems carry an HMAC over the body and read no cookie either:
    # a forged cross-site form cannot sign (integrations_api.signed_by_sender names the routes).
    if integrations_api.signed_by_sender(request.url.path):
        return await call_next(request)
    if request.method not in SAFE_METHODS and not same_origin(request):
        return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
    return await call_next(request)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="12345 Hotline Platform",
        version="0.1.0",
        description=(
            "Contact centre and IVR for government service hotlines.\n\n"
            "Authentication: `POST /api/session` sets an HttpOnly, SameSite=Strict session cookie; "
            "every other route but `/healthz` needs it. Requests that change state must come from "
            "this site: their `Origin` (or `Referer`) must match the host, or they are refused (403)."
        ),
    )
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.state.seat_link = SeatLink(settings.redis.url)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(RecordingRefused, refused)  # audits the refusal, answers 403
    app.middleware("http")(_refuse_cross_site)
    app.include_router(health.router)
    app.include_router(calls_api.router)
    app.include_router(accounts_api.router)
    app.include_router(accounts_pages.router)
    app.include_router(seats_api.router)
    app.include_router(wallboard_api.router)
    app.include_router(recordings_api.router)
    app.include_router(recordings_audio.router)
    app.include_router(recordings_pages.router)
    app.include_router(cases_api.router)
    app.include_router(case_actions_api.router)
    app.include_router(case_files_api.router)
    app.include_router(cases_pages.router)
    app.include_router(case_prefill_api.router)
    app.include_router(open311_api.router)
    app.include_router(integrations_api.router)
    app.include_router(outbox_api.router)
    app.include_router(catalogue_api.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
