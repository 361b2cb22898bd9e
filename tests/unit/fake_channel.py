"""A scripted CallChannel: replays what a caller does and records everything the flow did.

The script is the caller's answer each time the flow listens (read_digits, or play with escape
digits): a string is what the caller keyed, returned as-is however hostile; None is silence;
HANG_UP hangs up. When the script runs out the caller stays silent. ``hang_up_during`` hangs up
at a moment the flow does not listen: an operation ("record") or a prompt's name ("goodbye").
After a hang-up every call raises CallerHungUp, as the real FastAGI channel does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any, Final, NoReturn

from ivr_flows.ports import CallerHungUp


class _HangUp:
    def __repr__(self) -> str:
        return "HANG_UP"


HANG_UP: Final = _HangUp()
CallerAction = str | None | _HangUp


class FakeChannel:
    def __init__(
        self,
        caller: Iterable[CallerAction] = (),
        *,
        env: Mapping[str, str] | None = None,
        hang_up_during: str | None = None,
    ) -> None:
        self.script: deque[CallerAction] = deque(caller)
        self.hang_up_during = hang_up_during
        self.calls: list[tuple[Any, ...]] = []
        self.variables: dict[str, str] = {}
        self.hung_up = False
        self._env = {"agi_uniqueid": "1700000000.42", "agi_callerid": "13800138000", **(env or {})}

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    def _alive(self) -> None:
        if self.hung_up:
            raise CallerHungUp(self._env["agi_uniqueid"])

    def _hang_up(self) -> NoReturn:
        self.hung_up = True
        raise CallerHungUp(self._env["agi_uniqueid"])

    def _media(self, operation: str, path: str) -> None:
        self._alive()
        if self.hang_up_during in (operation, PurePath(path).name):
            self._hang_up()

    def _caller(self) -> str | None:
        if not self.script:
            return None
        action = self.script.popleft()
        if isinstance(action, _HangUp):
            self._hang_up()
        return action

    async def answer(self) -> None:
        self._alive()
        self.calls.append(("answer",))

    async def play(self, prompt_path: str, escape_digits: str = "") -> str:
        self.calls.append(("play", prompt_path, escape_digits))
        self._media("play", prompt_path)
        return (self._caller() or "") if escape_digits else ""

    async def read_digits(self, prompt_path: str, timeout_ms: int, max_digits: int) -> str | None:
        self.calls.append(("read_digits", prompt_path, timeout_ms, max_digits))
        self._media("read_digits", prompt_path)
        return self._caller()

    async def record(self, path: str, fmt: str, max_seconds: int, silence_seconds: int) -> None:
        self.calls.append(("record", path, fmt, max_seconds, silence_seconds))
        self._media("record", path)

    async def set_variable(self, name: str, value: str) -> None:
        self._alive()
        self.calls.append(("set_variable", name, value))
        self.variables[name] = value

    async def get_variable(self, name: str) -> str | None:
        self._alive()
        self.calls.append(("get_variable", name))
        return self.variables.get(name)

    # ----- what the caller heard ---------------------------------------------------------------
    def prompts(self) -> list[str]:
        """Names of the prompts played or used to ask for keys, in order."""
        return [PurePath(call[1]).name for call in self.calls if call[0] in ("play", "read_digits")]
