"""Structured (JSON-lines) logging shared by every process of the platform.

Log records carry the call's uniqueid when there is one, so one call can be followed across the
FastAGI server, the AMI tracker and the web API. Phone numbers are masked before they are logged.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", component: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if component:
        old_factory = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = old_factory(*args, **kwargs)
            record.component = component
            return record

        logging.setLogRecordFactory(factory)


def mask_number(number: str) -> str:
    """Keep enough of a phone number to tell calls apart, never the whole of it.

    Mobile numbers (11 digits) keep the carrier prefix and the last four, as Chinese service
    desks print them (138****5678); shorter numbers keep at most the last four and half at most.
    """
    digits = "".join(ch for ch in number if ch.isalnum())[:32]
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 11:
        keep = min(4, len(digits) // 2)
        return "*" * (len(digits) - keep) + digits[-keep:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
