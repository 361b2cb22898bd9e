"""The running platform under test: started once per session exactly as an operator starts it.

`hotline run` (the command `make run` ends in) is started as a subprocess with its own settings
file, ports and state directory, so it never collides with a platform a developer has running.
Tests talk to it the way the outside world does: SIP from sipp, AMI, HTTP and its database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from asterisk_conf.layout import InstanceLayout
from hotline.db import Database
from hotline.settings import Settings, load_settings
from telephony.asterisk_runtime import AsteriskInstance, find_runtime
from telephony.models import Call

ROOT = Path(__file__).resolve().parents[2]
FLOWS = Path(__file__).parent / "flows"

# Ports of the test platform: far from the defaults (5060, 5038, 4573, 8000) a developer may use.
# HOTLINE_TEST_SLOT=n (0-4) shifts every port so that several suites can run side by side on one
# machine (e.g. two developers' worktrees); CI uses slot 0.
SLOT = int(os.environ.get("HOTLINE_TEST_SLOT", "0"))
if not 0 <= SLOT <= 4:
    raise RuntimeError(f"HOTLINE_TEST_SLOT must be 0-4, not {SLOT}")
_SHIFT = 200 * SLOT
SIP_PORT = 25060 + _SHIFT
AMI_PORT = 25038 + _SHIFT
HTTP_PORT = 28088 + _SHIFT
AGI_PORT = 24573 + _SHIFT
WEB_PORT = 28000 + _SHIFT
RTP = (31000 + 1000 * SLOT, 31999 + 1000 * SLOT)
TRUNK_PORTS = {
    name: 25080 + _SHIFT + offset
    for offset, name in enumerate(
        (
            "carrier",
            "nightline",
            "faulty",
            "stuck",
            "menu",
            "classic",
            "desk",
            "least",
            "lonely",
            "selfservice",
        )
    )
}
REDIS_PORT = 26379 + _SHIFT
# The outside system (city grid platform) that case events are sent to; tests that care start a
# receiver here (tests/integration/case_receiver.py), others let deliveries wait and retry.
HOOK_PORT = 28090 + _SHIFT
HOOK_SECRET = "grid-platform-shared-secret"
# Web seats (browsers) answer the "desk" queue: its callers come in on the "desk" trunk. The
# "least" queue (least-recent strategy) takes the "least" trunk's callers.
DESK_QUEUE = "desk"
LEAST_QUEUE = "least"
LONELY_QUEUE, LONELY_MAX_WAIT = "lonely", 4
SEAT_PORTS = {"1001": 25071 + _SHIFT, "1002": 25072 + _SHIFT}
CHANNEL_LIMIT = 4

T = TypeVar("T")


def settings_toml(state_dir: Path) -> str:
    trunk_flows = {
        "nightline": "after_hours_test",
        "faulty": "raises_test",
        "stuck": "hangs_test",
        "menu": "menu_test",
        "classic": "default_12345",
        "desk": "desk_test",
        "least": "least_test",
        "lonely": "lonely_test",
        "selfservice": "self_service_test",
    }
    trunks = "\n".join(
        f'[[trunks]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
        + (f'flow = "{trunk_flows[name]}"\n' if name in trunk_flows else "")
        + ('ivr_mode = "classic_agi"\n' if name == "classic" else "")
        for name, port in TRUNK_PORTS.items()
    )
    seats = "\n".join(
        f'[[seats]]\nextension = "{ext}"\ncontact = "127.0.0.1:{port}"\nqueues = ["main", "second"]\n'
        for ext, port in SEAT_PORTS.items()
    )
    return f"""
e1_spans = []

[site]
state_dir = "{state_dir}"
timezone = "Asia/Shanghai"

[asterisk]
instance = "it"
sip_port = {SIP_PORT}
ami_port = {AMI_PORT}
http_port = {HTTP_PORT}
rtp_start = {RTP[0]}
rtp_end = {RTP[1]}

[agi]
port = {AGI_PORT}
header_timeout = 2.0
idle_timeout = 3.0
max_flow_seconds = 60.0
watchdog_grace = 3.0

[web]
port = {WEB_PORT}

[redis]
url = "redis://127.0.0.1:{REDIS_PORT}/0"

[recording]
# Files a killed Asterisk left open are repaired after this long (production: 20 s).
finalize_grace_seconds = 5

[asr]
# A transcription job Redis lost is queued again after this long (production: 60 s).
requeue_after_seconds = 6

[cases]
# The deadline watch and the outbox run every few seconds here (production: 60 s and 5 s).
timer_every_seconds = 2

[cases.outbox]
every_seconds = 1
first_retry_seconds = 0.5
max_retry_seconds = 2

[[cases.webhooks]]
name = "grid"
url = "http://127.0.0.1:{HOOK_PORT}/hooks/cases"
secret = "{HOOK_SECRET}"
accepts_updates = true

[capacity]
channels = {CHANNEL_LIMIT}
overflow = "announcement"

[ivr]
flows_dir = "{FLOWS}"
step_modules = ["tests.integration.site_steps"]

[[queues]]
name = "main"
strategy = "ringall"
timeout = 10
wrapup_time = 0

[[queues]]
name = "second"
strategy = "ringall"
timeout = 10
wrapup_time = 0

[[queues]]
name = "{DESK_QUEUE}"
title = "web seats"
strategy = "ringall"
timeout = 15
wrapup_until_done = true

[[queues]]
name = "{LEAST_QUEUE}"
title = "web seats, least recent first"
strategy = "leastrecent"
timeout = 15
wrapup_until_done = true

# Nobody ever sits here: callers wait max_wait, then run the shipped overflow flow.
[[queues]]
name = "{LONELY_QUEUE}"
strategy = "ringall"
timeout = 5
wrapup_time = 0
max_wait = {LONELY_MAX_WAIT}

{trunks}
{seats}
"""


def poll(what: str, check: Callable[[], T | None], timeout: float = 20.0, every: float = 0.2) -> T:
    """Wait until check() returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class Platform:
    settings: Settings
    base: Path
    process: subprocess.Popen[bytes]
    log_file: Path
    db: Database
    instance: AsteriskInstance

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.settings.web.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of `hotline` commands run against this platform (its settings file)."""
        return {**os.environ, "HOTLINE_CONFIG": str(self.base / "hotline.toml"), "PYTHONPATH": str(ROOT)}

    def health(self) -> dict[str, Any]:
        reply = httpx.get(f"{self.web}/healthz", timeout=3)
        data: dict[str, Any] = reply.json()
        return data

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.web}/healthz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def rx(self, command: str) -> str:
        return str(self.instance.rx(command))

    def active_channels(self) -> int:
        out = self.rx("core show channels count")
        match = re.search(r"(\d+) active channel", out)
        return int(match.group(1)) if match else -1

    def calls(self) -> list[Call]:
        with self.db.unit_of_work() as session:
            return list(session.scalars(select(Call).order_by(Call.id)).all())

    def call_rows_since(self, first_id: int) -> list[Call]:
        return [c for c in self.calls() if c.id > first_id]

    def last_call_id(self) -> int:
        rows = self.calls()
        return rows[-1].id if rows else 0

    def component_pid(self, name: str) -> int:
        return int((self.state_dir / "run" / f"{name}.pid").read_text())

    def status(self, component: str) -> dict[str, Any] | None:
        from hotline.status import read_status

        return read_status(self.state_dir, component)

    def settle(self, timeout: float = 30.0) -> None:
        """No channel left up and every call row closed: checked after every telephony test."""
        poll("no channel left up", lambda: self.active_channels() == 0, timeout)
        poll("every call row closed", lambda: all(c.ended_at is not None for c in self.calls()), timeout)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start_platform(
    make_settings: Callable[[Path], str] = settings_toml, prefix: str = "hotline-it-"
) -> Platform:
    """Start `hotline run` with the settings text make_settings(state_dir) returns; wait until healthy."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    state_dir = base / "state"
    config = base / "hotline.toml"
    config.write_text(make_settings(state_dir), encoding="utf-8")
    env = {**os.environ, "HOTLINE_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    settings = load_settings(config, environ=env)
    log_file = base / "platform.log"
    with log_file.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    runtime = None
    deadline = time.monotonic() + 900  # the first run on a fresh machine builds the Asterisk chroot
    healthy = False
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"`hotline run` exited with {process.returncode}:\n"
                + log_file.read_text(errors="replace")[-6000:]
            )
        try:
            if httpx.get(f"http://127.0.0.1:{settings.web.port}/healthz", timeout=2).status_code == 200:
                healthy = True
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    if not healthy:
        process.kill()
        raise RuntimeError("the platform did not become healthy:\n" + log_file.read_text()[-6000:])
    runtime = find_runtime(settings)
    assert runtime is not None
    instance = AsteriskInstance(runtime, InstanceLayout.for_settings(settings))
    return Platform(settings, base, process, log_file, Database(settings.database_url), instance)


def stop_platform(platform: Platform, artifacts: Path) -> None:
    """Ctrl-C, as an operator would; then check that everything really stopped."""
    platform.process.send_signal(signal.SIGINT)
    clean = True
    try:
        clean = platform.process.wait(90) == 0
    except subprocess.TimeoutExpired:
        clean = False
        os.killpg(platform.process.pid, signal.SIGKILL)
        platform.process.wait(10)
    asterisk_left = platform.instance.is_running()
    open_rows = [c.uniqueid for c in platform.calls() if c.ended_at is None]
    platform.db.dispose()
    keep = artifacts / "platform"
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    shutil.copy(platform.log_file, keep / "platform.log")
    for log in (platform.state_dir / "log").glob("*.log"):
        shutil.copy(log, keep / log.name)
    messages = InstanceLayout.for_settings(platform.settings).log / "messages.log"
    if messages.exists():
        shutil.copy(messages, keep / "asterisk-messages.log")
    (keep / "calls.json").write_text(
        json.dumps(
            [{k: str(v) for k, v in vars(c).items() if not k.startswith("_")} for c in platform.calls()],
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    shutil.rmtree(platform.base, ignore_errors=True)
    if not clean or asterisk_left or open_rows:
        raise AssertionError(
            f"`hotline run` did not stop cleanly on Ctrl-C: exit ok={clean}, Asterisk still running="
            f"{asterisk_left}, open call rows={open_rows}"
        )


class AmiRecorder:
    """Records every AMI event from the platform's Asterisk in a background thread.

    Assertions about calls come from here and from the database, never from sipp's exit code
    (sipp reports success even when the IVR failed).
    """

    def __init__(self, settings: Settings) -> None:
        import asyncio
        import threading

        from telephony.ami import AmiClient

        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        layout = InstanceLayout.for_settings(settings)

        def keep(event: dict[str, Any]) -> None:
            with self._lock:
                self.events.append(event)

        async def make() -> AmiClient:
            client = AmiClient(
                host="127.0.0.1",
                port=settings.asterisk.ami_port,
                username=settings.asterisk.ami_user,
                secret=layout.ami_secret(),
                on_event=keep,
            )
            await client.start(timeout=20)
            return client

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client = asyncio.run_coroutine_threadsafe(make(), self._loop).result(30)

    def of(self, name: str, **match: str) -> list[dict[str, Any]]:
        with self._lock:
            events = list(self.events)
        return [
            e for e in events if e.get("Event") == name and all(str(e.get(k)) == v for k, v in match.items())
        ]

    def wait_for(self, name: str, timeout: float = 20.0, **match: str) -> dict[str, Any]:
        def latest() -> dict[str, Any] | None:
            found = self.of(name, **match)
            return found[-1] if found else None

        return poll(f"AMI event {name} {match}", latest, timeout)

    def close(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# sipp peers' RTP ports, per slot too: two sessions' peers on one port take each other's audio
# (an agent's leg then records silence). Slots 1-4 sit above every other port the suites use.
_MEDIA_BASE = 26000 if SLOT == 0 else 44000 + 1000 * SLOT
MEDIA_PORTS = iter(range(_MEDIA_BASE, _MEDIA_BASE + 990, 10))


def media_port() -> int:
    """A fresh RTP port pair for each sipp peer of the session (bounded; 99 peers at most)."""
    return next(MEDIA_PORTS)


def caller_pcap(
    work: Path,
    *,
    text: str | None = None,
    digits: str = "",
    digits_at: float = 2.0,
    seconds: float = 12.0,
    silence_first: float = 0.0,
    voice: str = "cmn",
) -> Path:
    from telephony.sipp.pcap import speak_to_wav, write_call_pcap

    work.mkdir(parents=True, exist_ok=True)
    wav = speak_to_wav(text, voice, work / "speech.wav") if text else None
    pcap = work / "call.pcap"
    write_call_pcap(pcap, wav, [(digits_at, digits)] if digits else [], seconds, audio_offset=silence_first)
    return pcap


def place_calls(
    platform: Platform,
    trunk: str,
    work: Path,
    *,
    callers: Any = 1,
    text: str | None = None,
    digits: str = "",
    digits_at: float = 2.0,
    talk_seconds: float = 12.0,
    local_port: int | None = None,
    rate: float = 10.0,
    silence_first: float = 0.0,
    voice: str = "cmn",
) -> Any:
    """Calls from the named trunk's IP:port (or another local port) into the platform; blocks."""
    from telephony.sipp.runner import SippCaller

    pcap = caller_pcap(
        work,
        text=text,
        digits=digits,
        digits_at=digits_at,
        seconds=talk_seconds,
        silence_first=silence_first,
        voice=voice,
    )
    caller = SippCaller(
        (platform.settings.asterisk.bind_address, platform.settings.asterisk.sip_port),
        local=("127.0.0.1", local_port or TRUNK_PORTS[trunk]),
        media_port=media_port(),
        service="12345",
        work_dir=work,
    )
    return caller.run(callers, media=pcap, talk_seconds=talk_seconds, rate=rate, ring_timeout=15)


def seat_agent(platform: Platform, extension: str, work: Path, **kwargs: Any) -> Any:
    from telephony.sipp.runner import SippAgent

    seat = next(s for s in platform.settings.seats if s.extension == extension)
    return SippAgent.for_seat(seat, media_port=media_port(), work_dir=work, **kwargs)


def closed_rows_since(platform: Platform, first_id: int, count: int = 1, timeout: float = 30.0) -> list[Call]:
    def done() -> list[Call] | None:
        rows = platform.call_rows_since(first_id)
        return rows if len(rows) >= count and all(r.ended_at for r in rows) else None

    return poll(f"{count} closed call row(s)", done, timeout)
