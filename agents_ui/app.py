"""The web application: health, the call list, and (in later issues) the consoles."""

from __future__ import annotations

from fastapi import FastAPI

from agents_ui import calls_api, health
from hotline.db import Database
from hotline.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="12345 Hotline Platform",
        version="0.1.0",
        description="Contact centre and IVR for government service hotlines.",
    )
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.include_router(health.router)
    app.include_router(calls_api.router)
    return app
