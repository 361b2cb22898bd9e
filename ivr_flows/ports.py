"""What the flow engine needs from a live call, as an interface.

``telephony`` implements it over FastAGI; tests implement it with a scripted fake. The engine
never sees AGI wire syntax, so it cannot be tricked by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class CallerHungUp(Exception):
    """The caller hung up; the flow stops at once and nothing more is sent to the channel."""


class CallChannel(Protocol):
    """One call as the flow engine sees it."""

    @property
    def env(self) -> Mapping[str, str]:
        """The agi_* request headers (agi_uniqueid, agi_callerid, agi_extension, ...)."""
        ...

    async def answer(self) -> None: ...

    async def play(self, prompt_path: str, escape_digits: str = "") -> str:
        """Play a sound file (path without extension); return the key pressed, or ""."""
        ...

    async def read_digits(self, prompt_path: str, timeout_ms: int, max_digits: int) -> str | None:
        """Play a prompt and collect up to max_digits; None when nothing was keyed in time."""
        ...

    async def record(self, path: str, fmt: str, max_seconds: int, silence_seconds: int) -> None:
        """Record the caller to path.fmt until '#', silence, max_seconds or hang-up."""
        ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_variable(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class CaseStatusAnswer:
    """What a caller may hear about a case by phone: how far it has got, nothing personal.

    ``stage`` is one of: filed (waiting to be dispatched), handling (with a department),
    replied (answer being verified), closed, merged (folded into another case)."""

    stage: str


class CaseLookup(Protocol):
    """The case side as the IVR sees it (``case_bridge.ivr_lookup`` implements it)."""

    async def case_status(self, number: str) -> CaseStatusAnswer | None:
        """The case's stage, or None if no case has that number."""
        ...
