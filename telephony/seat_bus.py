"""The Redis names and encodings the seat service and the web processes share (docs/seat-layer.md)."""

from __future__ import annotations

import json
from typing import Any

EVENTS_CHANNEL = "hotline:seat-events"
CONFIG_CHANNEL = "hotline:seats:config"
AGENTS_HASH = "hotline:seats:agents"
QUEUES_HASH = "hotline:seats:queues"
COMMANDS_LIST = "hotline:seat-commands"
REPLY_PREFIX = "hotline:seat-reply:"
REPLY_TTL_SECONDS = 30
# A command older than this is dropped unanswered: its sender has given up (and told the agent).
COMMAND_MAX_AGE_SECONDS = 10.0


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def decode(raw: str | bytes) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("a seat message is a JSON object")
    return value


def reply_key(command_id: str) -> str:
    return f"{REPLY_PREFIX}{command_id}"
