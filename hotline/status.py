"""Heartbeat files: each platform process says it is alive and how it is doing.

The health endpoint reads these instead of poking the components (a TCP probe of the FastAGI port
would itself look like a misbehaving Asterisk). A file older than STALE_AFTER counts as down.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STALE_AFTER = 10.0


def status_dir(state_dir: Path) -> Path:
    return state_dir / "run"


def write_status(state_dir: Path, component: str, **details: Any) -> None:
    folder = status_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{component}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ts": time.time(), "pid": os.getpid(), **details}), encoding="utf-8")
    tmp.replace(target)


def read_status(state_dir: Path, component: str) -> dict[str, Any] | None:
    """The component's last heartbeat, or None when it is missing or stale."""
    try:
        data: dict[str, Any] = json.loads((status_dir(state_dir) / f"{component}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if time.time() - float(data.get("ts", 0)) > STALE_AFTER:
        return None
    return data


def clear_status(state_dir: Path, component: str) -> None:
    (status_dir(state_dir) / f"{component}.json").unlink(missing_ok=True)
