"""GET /healthz: is every part of the platform up? JSON, 200 when all are, 503 otherwise."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from agents_ui.deps import get_database, get_settings
from asterisk_conf.layout import InstanceLayout
from hotline.db import Database
from hotline.settings import Settings
from hotline.status import read_status

router = APIRouter()


def _asterisk_running(settings: Settings, tracker: dict[str, Any] | None) -> dict[str, Any]:
    """Asterisk is up if its pid is alive here, or (in another container) if AMI is logged in."""
    pid_file = InstanceLayout.for_settings(settings).run / "asterisk.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        if tracker and tracker.get("ami_connected"):
            return {"ok": True, "detail": "answering on AMI"}
        return {"ok": False, "detail": "not running"}
    return {"ok": True, "pid": pid}


def _database(db: Database) -> dict[str, Any]:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return {"ok": False, "detail": type(exc).__name__}
    return {"ok": True, "dialect": db.engine.dialect.name}


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]] = Field(description="Per part: ok, and what it reports")


@router.get(
    "/healthz",
    summary="Health of Asterisk, AMI, the FastAGI server, the seat service and the database",
    response_model=Health,
    responses={503: {"model": Health, "description": "A part is down: status degraded"}},
)
def healthz(
    settings: Annotated[Settings, Depends(get_settings)],
    db: Annotated[Database, Depends(get_database)],
) -> JSONResponse:
    tracker = read_status(settings.state_dir, "tracker")
    agi = read_status(settings.state_dir, "agi")
    seats = read_status(settings.state_dir, "seats")
    checks: dict[str, dict[str, Any]] = {
        "asterisk": _asterisk_running(settings, tracker),
        "ami": {
            "ok": bool(tracker and tracker.get("ami_connected")),
            "live_calls": (tracker or {}).get("live_calls"),
        },
        "agi": {"ok": agi is not None, "active_calls": (agi or {}).get("active_calls")},
        "seats": {
            "ok": bool(seats and seats.get("ami_connected")),
            "seats": (seats or {}).get("seats"),
        },
        "database": _database(db),
    }
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )
