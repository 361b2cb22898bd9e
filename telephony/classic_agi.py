"""Classic AGI: the same flow run by a process Asterisk starts for each call (pyst2).

Many sites run AGI scripts this way; the platform offers it for them and as the benchmark's
comparison point. It reads the settings from the JSON snapshot `hotline run` leaves in the state
directory (the script may run inside the Asterisk chroot, where the settings file is not
visible), runs the flow, and sets the same channel variables as the FastAGI server.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from asterisk.agi import AGI, AGIAppError, AGIException, AGIHangup

from hotline.settings import Settings
from ivr_flows.context import FlowContext
from ivr_flows.engine import run_flow
from ivr_flows.loader import load_all
from ivr_flows.ports import CallerHungUp, CaseStatusAnswer
from telephony import channel_vars as cv
from telephony.agi_protocol import digit_from_result, quote_arg

SETTINGS_SNAPSHOT = "run/settings.json"


class PystChannel:
    """ivr_flows.ports.CallChannel over pyst2's blocking AGI object (one call per process)."""

    def __init__(self, agi: AGI) -> None:
        self._agi = agi

    @property
    def env(self) -> Mapping[str, str]:
        return dict(self._agi.env)

    def _execute(self, command: str, *args: str) -> dict[str, tuple[str, str]]:
        # pyst2 quotes nothing itself; our quoting refuses CR/LF so no second command sneaks in.
        try:
            result: dict[str, tuple[str, str]] = self._agi.execute(command, *(quote_arg(a) for a in args))
        except AGIAppError:
            return {"result": ("-1", "")}
        except AGIHangup as exc:
            raise CallerHungUp(self.env.get("agi_uniqueid", "")) from exc
        return result

    async def answer(self) -> None:
        self._execute("ANSWER")

    async def play(self, prompt_path: str, escape_digits: str = "") -> str:
        value = self._execute("STREAM FILE", prompt_path, escape_digits)["result"][0]
        return digit_from_result(int(value)) if value.lstrip("-").isdigit() else ""

    async def read_digits(self, prompt_path: str, timeout_ms: int, max_digits: int) -> str | None:
        value = self._execute("GET DATA", prompt_path, str(timeout_ms), str(max_digits))["result"][0]
        return None if value in ("", "-1") else value

    async def record(self, path: str, fmt: str, max_seconds: int, silence_seconds: int) -> None:
        args = [path, fmt, "#", str(max_seconds * 1000), "BEEP"]
        if silence_seconds > 0:
            args.append(f"s={silence_seconds}")
        self._execute("RECORD FILE", *args)

    async def set_variable(self, name: str, value: str) -> None:
        self._execute("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        result = self._execute("GET VARIABLE", name)["result"]
        return result[1] if result[0] == "1" else None


def load_snapshot(state_dir: Path) -> Settings:
    return Settings.model_validate_json((state_dir / SETTINGS_SNAPSHOT).read_text(encoding="utf-8"))


class _LazyCaseLookup:
    """Case status for the self-service step, connecting to the database only if a caller asks:
    this process lives for one call, and most calls never look a case up."""

    def __init__(self, url: str) -> None:
        self._url = url

    async def case_status(self, number: str) -> CaseStatusAnswer | None:
        from case_bridge.ivr_lookup import CaseStatusLookup
        from hotline.db import Database

        db = Database(self._url)
        try:
            return await CaseStatusLookup(db).case_status(number)
        finally:
            db.dispose()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # AGI(script,<flow>,<state_dir>): both come from our generated dialplan, never from a caller.
    flow_arg = argv[0] if argv else ""
    state_dir = Path(argv[1]) if len(argv) > 1 else Path(os.environ.get("HOTLINE_STATE_DIR", "var"))
    with open(os.devnull, "w") as quiet:  # pyst2 narrates every command on stderr
        agi = AGI(stderr=quiet)
        channel = PystChannel(agi)
        try:
            settings = load_snapshot(state_dir)
            flows = load_all(settings)
            flow = flows.get(flow_arg) or flows[settings.ivr.flow]
            context = FlowContext.from_settings(settings, cases=_LazyCaseLookup(settings.database_url))
            outcome = asyncio.run(run_flow(flow, channel, context))
            for variable, value in outcome.channel_variables().items():
                asyncio.run(channel.set_variable(variable, value))
            asyncio.run(channel.set_variable(cv.FLOW_DONE, "1"))
        except (CallerHungUp, AGIException):
            return 0
        except Exception as exc:
            # FLOW_DONE stays unset: the dialplan queues the call on the main queue.
            print(f"hotline classic AGI failed: {exc!r}", file=sys.stderr)
            return 1
    return 0
