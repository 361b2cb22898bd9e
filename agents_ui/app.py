"""The web application: health, the call list, accounts, and (in later issues) the consoles."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

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
from agents_ui.accounts.permissions import LoginRequired, login_url, same_origin
from agents_ui.db_admission import DatabaseAdmission, DatabaseBusy, turn_file_of
from agents_ui.deps import SAFE_METHODS
from agents_ui.recordings_access import RecordingRefused, refused
from agents_ui.seat_link import SeatLink
from hotline.db import Database
from hotline.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


async def _login_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_url), status_code=303)


async def _database_busy(_request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"detail": f"the database is busy: {exc}; nothing was changed, try again"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


class RefuseCrossSite:
    """CSRF: with SameSite=Strict a cross-site form carries no cookie anyway; this also covers old
    browsers and login CSRF (a forged login into the attacker's account). See
    permissions.same_origin.

    Plain ASGI rather than ``@app.middleware("http")``: that wrapper runs every request, refused or
    not, through an extra task and a pair of streams, a cost the whole API paid per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _checked(scope) and not same_origin(HTTPConnection(scope)):
            refusal = JSONResponse({"detail": "cross-site request refused"}, status_code=403)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _checked(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
        return False
    path: str = scope["path"]
    # Open311 is called by other systems, not browsers: it authenticates each POST by its api_key
    # and never reads the session cookie, so there is no session to forge.
    # Status updates from outside systems carry an HMAC over the body and read no cookie either:
    # a forged cross-site form cannot sign (integrations_api.signed_by_sender names the routes).
    return not path.startswith("/open311/") and not integrations_api.signed_by_sender(path)


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
    app.state.db_admission = DatabaseAdmission(app.state.db.connections, turn_file_of(settings.database_url))
    app.add_exception_handler(DatabaseBusy, _database_busy)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(RecordingRefused, refused)  # audits the refusal, answers 403
    app.add_middleware(RefuseCrossSite)
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


# Where a web worker started by uvicorn finds its settings (hotline.cli, web.workers > 1).
WORKER_SETTINGS = "HOTLINE_WEB_WORKER_SETTINGS"


def serving_app(settings: Settings) -> FastAPI:
    """The app of a process that will serve it until it exits."""
    app = create_app(settings)
    # Everything loaded so far (modules, templates, routes) lives as long as the process: moved
    # out of the collector's sight, full collections no longer walk it, and their pauses in
    # the websocket fan-out shrink (docs/benchmarks.md, seat push).
    gc.collect()
    gc.freeze()
    return app


def worker_app() -> FastAPI:
    """One of several web processes: the app on the settings its parent read."""
    return serving_app(Settings.model_validate_json(os.environ[WORKER_SETTINGS]))
