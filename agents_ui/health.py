"""GET /healthz: is every part of the platform up? JSON, 200 when all are, 503 otherwise."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text

from agents_ui.deps import get_database, get_settings
from asterisk_conf.layout import InstanceLayout
from hotline.alerts import open_alerts
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


def _recordings(db: Database) -> dict[str, Any]:
    """The recording pipeline's progress: what waits for the workers, and open alerts."""
    from recording.models import Recording

    try:
        with db.unit_of_work() as session:
            by_status = {
                status: count
                for status, count in session.execute(
                    select(Recording.status, func.count()).group_by(Recording.status)
                )
            }
            by_asr = {
                status: count
                for status, count in session.execute(
                    select(Recording.asr_status, func.count()).group_by(Recording.asr_status)
                )
            }
            alerts = [f"{a.key}: {a.message}" for a in open_alerts(session) if a.severity == "critical"]
    except Exception as exc:
        return {"ok": False, "detail": type(exc).__name__}
    return {
        "ok": not alerts,
        "recording_now": by_status.get("recording", 0),
        "to_finish": by_status.get("stopped", 0),
        "to_transcribe": by_asr.get("pending", 0),
        "transcribing": by_asr.get("running", 0),
        "transcribed": by_asr.get("done", 0),
        "transcription_failed": by_asr.get("failed", 0),
        "alerts": alerts,
    }


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]] = Field(description="Per part: ok, and what it reports")


@router.get(
    "/healthz",
    summary=(
        "Health of Asterisk, AMI, the FastAGI server, the seat service, the database and the "
        "recording pipeline (its queue lengths and open alerts)"
    ),
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
        "recordings": _recordings(db),
    }
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )
