"""Start sipp test peers and read back what happened to every call.

Two peers, both real SIP/RTP endpoints on 127.0.0.1:

* :class:`SippCaller` places calls as the carrier would: from the trunk's own IP:port (Asterisk
  matches a trunk by IP *and* port), with per-call caller IDs, and plays a pcap made by
  :mod:`telephony.sipp.pcap` (speech + RFC 4733 DTMF) into each answered call.
* :class:`SippAgent` is a fixed seat (``seat<ext>`` at its contact IP:port): it rings, answers,
  echoes or plays audio, and hangs up after a hold time unless Asterisk does first.

Every run is bounded several times over, because a stuck test peer would hold ports and hang CI:
sipp gets ``-m`` (calls), ``-l`` (concurrency; a UAS sipp ignores it), ``-timeout`` (no new calls
after it),
``-recv_timeout`` and per-message timeouts in the scenario; on top of that Python stops the process
at a hard deadline (SIGUSR1 twice makes sipp abort its calls and write its statistics, then
SIGTERM, then SIGKILL). An agent started with a ``max_lifetime`` ends on its own even if the
process that started it dies.

Results come from the scenarios' ``<log>`` lines, not from sipp's success counter: sipp counts a
486 Busy as a successful call, so :class:`SippResult` gives an outcome per call (``completed``,
``remote_hangup``, ``busy`` ...). Calls that sipp aborted (unexpected message, retransmission
timeout) log no outcome and are counted as ``aborted``. sipp's exit code says little (see the lab
notes): assert on outcomes here and on Asterisk/AGI/database evidence elsewhere.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import tempfile
import time
import urllib.parse
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

from telephony.sipp import scenarios
from telephony.sipp.scenarios import (
    ANSWERED,
    INVITED,
    LOG_TAG,
    AgentScenario,
    CallerIdSource,
    CallerScenario,
)

if TYPE_CHECKING:
    from hotline.settings import SeatSettings, Settings

SIPP: Final = "/usr/bin/sipp"
LOOPBACK: Final = "127.0.0.1"

# sipp's exit codes (screen.hpp): anything else is a signal or a crash.
EXIT_CODES: Final = {
    0: "all calls successful",
    1: "at least one call failed",
    95: "stopped by user",
    96: "killed",
    97: "exit on internal command or global timeout",
    98: "unknown result",
    99: "normal exit without calls processed",
    253: "system error",
    254: "cannot bind a socket",
    255: "fatal error",
}

# Bytes left as they are in the user part of a SIP URI. Everything else is %-encoded, which is
# also what keeps ';' '?' '@' and spaces from changing the meaning of the URI. Asterisk decodes
# the user part (ast_uri_decode) before it becomes CALLERID(num).
_URI_USER_SAFE: Final = "-_.!~*'()+"
_SERVICE_RE: Final = re.compile(r"^[0-9A-Za-z+._-]{1,32}$")
_ERROR_ENTRY_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\.\d{6}\t\d+\.\d{6}: ")
# Timeouts we set on purpose (ring, talk and hold times) are reported by sipp as "errors".
_EXPECTED_ERROR_RE: Final = re.compile(
    r"receive timeout on message .* jumping to label|Automatic response mode for an unexpected"
)


class SippError(RuntimeError):
    """sipp could not be started or died before doing anything useful."""


@dataclass(frozen=True)
class CallerId:
    """Who the test caller claims to be: the From URI user (the calling number) and display name.

    Any text is allowed, including shell and dialplan metacharacters such as ``$(reboot)``,
    ``;``, ``${EXTEN}`` and quotes. On the wire it is the exact SIP encoding of what was written:
    the user part %-encoded (Asterisk decodes it into CALLERID(num)), the name a quoted-string
    with ``\\`` and ``"`` escaped. Control characters are refused: in a SIP header they would
    forge other headers rather than test anything.
    """

    number: str
    name: str = ""

    def __post_init__(self) -> None:
        if not self.number:
            raise ValueError("a caller ID needs a number (use 'anonymous' for a withheld one)")
        for text in (self.number, self.name):
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
                raise ValueError(f"control characters cannot be sent in a SIP header: {text!r}")

    @property
    def uri_user(self) -> str:
        return urllib.parse.quote(self.number, safe=_URI_USER_SAFE)

    @property
    def display(self) -> str:
        """The display-name part of the From header, with the space before ``<``; empty if none."""
        if not self.name:
            return ""
        quoted = self.name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" '


def numbered_callers(count: int, first: int = 13800000000, name: str = "") -> list[CallerId]:
    """``count`` distinct mobile-looking numbers, for load runs."""
    return [CallerId(str(first + i), name) for i in range(count)]


_FROM_RE: Final = re.compile(r'^\s*(?:"(?P<name>(?:[^"\\]|\\.)*)"\s*)?<sip:(?P<user>[^@>]*)@')


def parse_from_header(value: str) -> CallerId:
    """Read a From header (with or without ``From:``) back into the :class:`CallerId` it encodes."""
    value = value.strip()
    if value[:5].lower() == "from:":
        value = value[5:]
    match = _FROM_RE.match(value)
    if match is None:
        raise ValueError(f"not a name-addr From header: {value!r}")
    name = re.sub(r"\\(.)", r"\1", match.group("name") or "")
    return CallerId(urllib.parse.unquote(match.group("user")), name)


@dataclass(frozen=True)
class CallRecord:
    """What one call logged, in order: ``(sipp clock ms, event, detail)``."""

    number: int
    events: tuple[tuple[int, str, str], ...]

    @property
    def outcome(self) -> str | None:
        """How the call ended (see :mod:`telephony.sipp.scenarios`), None while going or aborted."""
        finals = [e for _, e, _ in self.events if e not in (ANSWERED, INVITED)]
        return finals[-1] if finals else None

    @property
    def answered(self) -> bool:
        return any(e == ANSWERED for _, e, _ in self.events)

    @property
    def talk_ms(self) -> int | None:
        """From answer to the end of the call, by sipp's clock."""
        start = next((t for t, e, _ in self.events if e == ANSWERED), None)
        end = next((t for t, e, _ in reversed(self.events) if e not in (ANSWERED, INVITED)), None)
        return None if start is None or end is None else end - start

    @property
    def from_header(self) -> str | None:
        """The From header an agent received (agents only)."""
        return next((d for _, e, d in self.events if e == INVITED), None)

    @property
    def caller_id(self) -> CallerId | None:
        header = self.from_header
        return None if header is None else parse_from_header(header)


@dataclass(frozen=True)
class SippResult:
    """One sipp run: its counters, and per call what the scenario logged."""

    role: Literal["caller", "agent"]
    work_dir: Path
    returncode: int | None
    created: int
    successful: int
    failed: int
    calls: dict[int, CallRecord]
    errors: tuple[str, ...] = ()
    forced_stop: bool = False
    stats: dict[str, str] = field(default_factory=dict)

    @property
    def real_calls(self) -> list[CallRecord]:
        """Calls that really happened. An agent's out-of-dialog requests (OPTIONS) also open a
        sipp "call", which never logs an INVITE: they are left out."""
        if self.role == "agent":
            return [c for c in self.calls.values() if c.from_header is not None]
        return list(self.calls.values())

    @property
    def outcomes(self) -> Counter[str]:
        """Calls per outcome; ``aborted`` counts calls sipp ended without an outcome."""
        counts: Counter[str] = Counter()
        for call in self.real_calls:
            counts[call.outcome or "aborted"] += 1
        if self.role == "caller":
            # Calls aborted before anything was logged (no answer at all) appear only in the count.
            counts["aborted"] += max(0, self.created - len(self.calls))
        return +counts

    @property
    def exit_meaning(self) -> str:
        if self.returncode is None:
            return "still running"
        return EXIT_CODES.get(self.returncode % 256, f"exit code {self.returncode}")


def _read_calls(log_file: Path) -> dict[int, CallRecord]:
    events: dict[int, list[tuple[int, str, str]]] = {}
    if not log_file.exists():
        return {}
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("|", 5)
        if len(parts) != 6 or parts[0] != LOG_TAG:
            continue
        _, _role, number, clock, event, detail = parts
        with contextlib.suppress(ValueError):
            events.setdefault(int(number), []).append((int(clock), event, detail))
    return {n: CallRecord(n, tuple(e)) for n, e in sorted(events.items())}


def _read_stats(stat_file: Path) -> dict[str, str]:
    if not stat_file.exists():
        return {}
    lines = [ln for ln in stat_file.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    return dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))


def _read_errors(error_file: Path) -> tuple[str, ...]:
    if not error_file.exists():
        return ()
    text = error_file.read_text(errors="replace")
    # sipp writes entries back to back without newlines; each starts with a date stamp.
    entries = [e.strip() for e in _ERROR_ENTRY_RE.split(text)[1:]]
    return tuple(e for e in entries if e and not _EXPECTED_ERROR_RE.search(e))


def _int(stats: dict[str, str], key: str) -> int:
    try:
        return int(stats.get(key, "0"))
    except ValueError:
        return 0


class _SippProcess:
    """One sipp child with its files in a work directory, and the escalating stop."""

    def __init__(self, role: Literal["caller", "agent"], work_dir: Path | None, sipp_binary: str) -> None:
        self.role = role
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix=f"sipp-{role}-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.sipp_binary = sipp_binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.forced_stop = False

    def path(self, name: str) -> Path:
        return self.work_dir / f"{self.role}_{name}"

    def common_args(self) -> list[str]:
        # Every file sipp writes gets an explicit name in the work dir: its defaults embed the
        # pid and land in the current directory.
        return [
            "-nostdin",
            "-trace_stat", "-stf", str(self.path("stats.csv")), "-fd", "5",
            "-trace_err", "-error_file", str(self.path("errors.log")),
            "-trace_logs", "-log_file", str(self.path("calls.log")),
            "-trace_screen", "-screen_file", str(self.path("screen.log")),
            "-f", "10",
            # The final pause of each scenario only lets retransmissions find their call; a stray
            # response arriving then must not make sipp abort a call whose outcome is logged.
            "-pause_msg_ign",
        ]  # fmt: skip

    def spawn(self, args: list[str]) -> None:
        for name in ("stats.csv", "errors.log", "calls.log", "screen.log"):
            self.path(name).unlink(missing_ok=True)
        (self.work_dir / f"{self.role}_command.txt").write_text(" ".join([self.sipp_binary, *args]) + "\n")
        with self.path("stdout.log").open("wb") as out:
            try:
                self.proc = subprocess.Popen(
                    [self.sipp_binary, *args],
                    cwd=self.work_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            except FileNotFoundError as exc:
                raise SippError(f"{self.sipp_binary} not found: apt-get install sip-tester") from exc
        # A peer forgotten by its owner (a failing test, an interrupted run) must not keep its
        # ports until its own timeout: it is terminated when this object goes or Python exits.
        weakref.finalize(self, _terminate, self.proc)

    def output_tail(self, limit: int = 2000) -> str:
        try:
            return self.path("stdout.log").read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float) -> int:
        """Soft stop (no new calls, finish the open ones), then abort the calls, then kill."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGUSR1)  # like pressing 'q': no new calls
        if (rc := self.wait(grace)) is not None:
            return rc
        self.forced_stop = True
        # A second 'q' takes sipp past its force-exit threshold: it aborts the open calls (a
        # caller sends BYE or CANCEL by its default behaviour; an agent just drops them) and
        # writes its statistics. sipp 3.6.1 may still wait for an aborted UAS call: then TERM.
        self.proc.send_signal(signal.SIGUSR1)
        if (rc := self.wait(2.0)) is not None:
            return rc
        self.proc.terminate()
        if (rc := self.wait(3.0)) is not None:
            return rc
        self.proc.kill()
        return self.proc.wait()

    def result(self, returncode: int | None) -> SippResult:
        stats = _read_stats(self.path("stats.csv"))
        errors = _read_errors(self.path("errors.log"))
        if returncode is not None and returncode % 256 in (252, 253, 254, 255):
            errors = (*errors, self.output_tail())
        return SippResult(
            role=self.role,
            work_dir=self.work_dir,
            returncode=returncode,
            created=_int(stats, "TotalCallCreated"),
            successful=_int(stats, "SuccessfulCall(C)"),
            failed=_int(stats, "FailedCall(C)"),
            calls=_read_calls(self.path("calls.log")),
            errors=errors,
            forced_stop=self.forced_stop,
            stats=stats,
        )


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=3)


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def _check_port(port: int, what: str) -> None:
    if not 1024 <= port <= 65533:
        raise ValueError(f"{what} {port} must be between 1024 and 65533")


class SippCaller:
    """Places calls into Asterisk (or straight at an agent) from the trunk's IP:port.

    ``target`` is where the INVITEs go (Asterisk's SIP address); ``local`` is the address sipp
    binds and sends from, which must be the trunk's ``host:port`` for Asterisk to take the call as
    coming from that carrier. ``media_port`` is this peer's RTP port; keep it outside Asterisk's
    RTP range. ``service`` is the dialled number (Request-URI user).
    """

    def __init__(
        self,
        target: tuple[str, int] = (LOOPBACK, 5060),
        *,
        local: tuple[str, int] = (LOOPBACK, 5080),
        media_port: int = 6000,
        service: str = "12345",
        work_dir: Path | None = None,
        sipp_binary: str = SIPP,
    ) -> None:
        if not _SERVICE_RE.match(service):
            raise ValueError(f"service {service!r}: digits, letters, + . _ - only")
        for port, what in ((target[1], "target port"), (local[1], "local port"), (media_port, "media port")):
            _check_port(port, what)
        self.target = target
        self.local = local
        self.media_port = media_port
        self.service = service
        self.work_dir = work_dir
        self.sipp_binary = sipp_binary

    def run(
        self,
        callers: Sequence[CallerId] | int = 1,
        *,
        media: Path | None = None,
        talk_seconds: float = 10.0,
        rate: float = 10.0,
        max_concurrent: int | None = None,
        ring_timeout: float = 30.0,
        max_seconds: float | None = None,
        trace_messages: bool = False,
    ) -> SippResult:
        """Place one call per caller ID (or ``callers`` numbered calls) and wait for them all.

        Each answered call plays ``media`` (a pcap from :func:`telephony.sipp.pcap.write_call_pcap`)
        and hangs up after ``talk_seconds`` unless the other side hangs up first. ``rate`` calls
        per second, at most ``max_concurrent`` at once (default: all). ``max_seconds`` bounds the
        time during which new calls start (default: enough for the rate plus one call); open calls
        then finish within their own ring and talk timeouts, and the process is stopped by force
        past that.
        """
        ids = numbered_callers(callers) if isinstance(callers, int) else list(callers)
        if not ids:
            raise ValueError("no calls to place")
        if rate <= 0 or talk_seconds <= 0 or ring_timeout <= 0:
            raise ValueError("rate, talk_seconds and ring_timeout must be positive")
        count = len(ids)
        concurrent = max_concurrent or count
        proc = _SippProcess("caller", self.work_dir, self.sipp_binary)

        # sipp's injection file has no escape for its ';' field separator. A name with ';' can
        # still be sent by one call through a -set global, which takes any text.
        source: CallerIdSource = "inf"
        if any(";" in c.display for c in ids):
            if count != 1:
                raise ValueError("caller names containing ';' can only be placed one call per run")
            source = "set"
        scenario = proc.work_dir / "caller.xml"
        scenario.write_text(
            scenarios.caller_scenario(
                CallerScenario(
                    pcap=media,
                    talk_ms=round(talk_seconds * 1000),
                    ring_timeout_ms=round(ring_timeout * 1000),
                    caller_id=source,
                )
            ),
            encoding="ascii",
        )
        if max_seconds is None:
            max_seconds = count / rate + ring_timeout + talk_seconds + 10

        args = [
            f"{self.target[0]}:{self.target[1]}",
            "-sf", str(scenario),
            "-i", self.local[0], "-p", str(self.local[1]), "-bind_local",
            "-mi", self.local[0], "-mp", str(self.media_port),
            "-s", self.service,
            "-m", str(count), "-l", str(concurrent), "-r", f"{rate:g}", "-rp", "1000",
            "-timeout", f"{max(1, round(max_seconds))}s",
            "-recv_timeout", _ms(ring_timeout + talk_seconds + 30),
            "-aa",
            *proc.common_args(),
        ]  # fmt: skip
        if source == "inf":
            inf = proc.work_dir / "caller_ids.csv"
            lines = ["SEQUENTIAL"]
            # Field 0 is the call index: a line that starts with '#' would be a comment to sipp,
            # and an empty line would end the file, so a name or number never comes first.
            lines += [f"{i};{c.display};{c.uri_user}" for i, c in enumerate(ids)]
            inf.write_text("\n".join(lines) + "\n", encoding="utf-8")
            args += ["-inf", str(inf)]
        else:
            args += ["-set", "cid_name", ids[0].display, "-set", "cid_user", ids[0].uri_user]
        if trace_messages:
            args += ["-trace_msg", "-message_file", str(proc.path("messages.log"))]

        proc.spawn(args)
        hard_deadline = max_seconds + ring_timeout + talk_seconds + 20
        try:
            returncode = proc.wait(hard_deadline)
        except BaseException:
            proc.stop(grace=0.5)  # interrupted (Ctrl-C, test timeout): take the calls down too
            raise
        if returncode is None:
            returncode = proc.stop(grace=2.0)
        return proc.result(returncode)


class SippAgent:
    """A fixed SIP seat answering calls from Asterisk, running in the background until stopped.

    ``echo=True`` runs sipp's ``-rtp_echo``: the caller hears itself, which proves both media
    directions through the bridge. Never echo on both legs of one bridge (the caller peer never
    echoes). Alternatively ``media`` is a pcap played after the answer. ``reject_code`` makes the
    seat refuse every call with that SIP code after ringing (a busy phone, a DND seat).

    Bounds: ``max_calls`` (sipp's ``-m``; Asterisk's OPTIONS qualify requests count too) and
    ``max_lifetime`` (``-timeout``: after it no new calls, and sipp exits once open ones end).
    ``max_concurrent`` goes to ``-l``, which sipp 3.6.1 ignores in server mode: the seat answers
    every call it gets, as a desk phone with call waiting would.
    """

    def __init__(
        self,
        *,
        local: tuple[str, int] = (LOOPBACK, 5071),
        media_port: int = 6200,
        echo: bool = True,
        media: Path | None = None,
        ring_seconds: float = 0.5,
        hold_seconds: float = 60.0,
        reject_code: int | None = None,
        max_calls: int = 10_000,
        max_concurrent: int = 10,
        max_lifetime: float = 600.0,
        work_dir: Path | None = None,
        sipp_binary: str = SIPP,
    ) -> None:
        if echo and media is not None:
            raise ValueError("choose echo or a media pcap for an agent, not both")
        for port, what in ((local[1], "local port"), (media_port, "media port")):
            _check_port(port, what)
        if max_lifetime <= 0 or max_calls <= 0 or max_concurrent <= 0:
            raise ValueError("max_lifetime, max_calls and max_concurrent must be positive")
        self.local = local
        self.media_port = media_port
        self.echo = echo
        self.scenario = AgentScenario(
            ring_ms=round(ring_seconds * 1000),
            hold_ms=round(hold_seconds * 1000),
            pcap=media,
            reject_code=reject_code,
        )
        self.max_calls = max_calls
        self.max_concurrent = max_concurrent
        self.max_lifetime = max_lifetime
        self._proc = _SippProcess("agent", work_dir, sipp_binary)
        self._started_at = 0.0

    @classmethod
    def for_seat(cls, seat: SeatSettings, **kwargs: Any) -> SippAgent:
        """The agent answering at a configured seat's contact address."""
        host, _, port = seat.contact.rpartition(":")
        return cls(local=(host, int(port)), **kwargs)

    @property
    def work_dir(self) -> Path:
        return self._proc.work_dir

    @property
    def running(self) -> bool:
        return self._proc.proc is not None and self._proc.proc.poll() is None

    def start(self, ready_timeout: float = 5.0) -> SippAgent:
        if self._proc.proc is not None:
            raise SippError("this agent was already started")
        scenario = self.work_dir / "agent.xml"
        scenario.write_text(scenarios.agent_scenario(self.scenario), encoding="ascii")
        hold_s = self.scenario.hold_ms / 1000
        args = [
            "-sf", str(scenario),
            "-i", self.local[0], "-p", str(self.local[1]), "-bind_local",
            "-mi", self.local[0], "-mp", str(self.media_port),
            "-m", str(self.max_calls), "-l", str(self.max_concurrent),
            "-timeout", f"{max(1, round(self.max_lifetime))}s",
            # Also ends the half-open "calls" that out-of-dialog OPTIONS leave in a UAS sipp.
            "-recv_timeout", _ms(hold_s + 30),
            "-aa",
            *self._proc.common_args(),
        ]  # fmt: skip
        if self.echo:
            args.append("-rtp_echo")
        self._proc.spawn(args)
        self._started_at = time.monotonic()
        # sipp writes its first statistics line once its sockets are bound: that is "ready".
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._proc.path("stats.csv").exists():
                return self
            if not self.running:
                raise SippError(f"sipp agent exited at start:\n{self._proc.output_tail()}")
            time.sleep(0.05)
        self._proc.stop(grace=1.0)
        raise SippError(f"sipp agent not ready after {ready_timeout}s:\n{self._proc.output_tail()}")

    def calls(self) -> list[CallRecord]:
        """The calls this agent has seen so far (its log is written as it goes)."""
        return [c for c in _read_calls(self._proc.path("calls.log")).values() if c.from_header is not None]

    def wait_for(
        self, count: int = 1, *, outcome: str | None = None, timeout: float = 30.0
    ) -> list[CallRecord]:
        """Wait until ``count`` calls have ended (with ``outcome`` if given); return them.

        ``outcome=scenarios.ANSWERED`` waits for answered calls instead of ended ones.
        """
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls()
            if outcome == ANSWERED:
                done = [c for c in calls if c.answered]
            else:
                done = [c for c in calls if c.outcome is not None and outcome in (None, c.outcome)]
            if len(done) >= count:
                return done
            if time.monotonic() >= deadline or not self.running:
                raise TimeoutError(
                    f"agent saw {len(done)} of {count} calls ({outcome or 'ended'}) in {timeout}s; "
                    f"all calls: {[(c.number, c.outcome) for c in calls]}"
                )
            time.sleep(0.1)

    def stop(self, grace: float = 5.0) -> SippResult:
        """Stop taking calls, give open calls ``grace`` seconds, then abort them; the result."""
        if self._proc.proc is None:
            raise SippError("this agent was never started")
        return self._proc.result(self._proc.stop(grace))

    def __enter__(self) -> SippAgent:
        return self.start() if self._proc.proc is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc.proc is not None:
            self.stop(grace=1.0)


def _free_media_port(settings: Settings, preferred: int = 6000) -> int:
    """An even RTP port for the test caller outside Asterisk's RTP range (it binds that range)."""
    low, high = settings.asterisk.rtp_start, settings.asterisk.rtp_end
    if not low - 4 <= preferred <= high + 4:
        return preferred
    above = high + 10 + high % 2
    return above if above <= 65530 else low - 10 - low % 2


def place_test_call(
    settings: Settings,
    *,
    text: str | None = None,
    voice: str = "cmn",
    digits: str = "",
    digits_at: float = 3.0,
    caller: CallerId | None = None,
    talk_seconds: float = 20.0,
    trunk: str | None = None,
    work_dir: Path | None = None,
) -> SippResult:
    """One real call into the running platform, as the operator's "place a test call" does.

    The call comes from the first trunk's IP:port (or the trunk named ``trunk``) to Asterisk's SIP
    port, dials the hotline number, speaks ``text`` (espeak-ng) and presses ``digits`` from
    ``digits_at`` seconds after the answer, and hangs up after ``talk_seconds``.
    """
    from telephony.sipp.pcap import speak_to_wav, write_call_pcap

    chosen = next((t for t in settings.trunks if trunk in (None, t.name)), None)
    if chosen is None:
        raise ValueError(f"no trunk named {trunk!r}")
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hotline-test-call-"))
    work.mkdir(parents=True, exist_ok=True)
    wav = speak_to_wav(text, voice, work / "speech.wav") if text else None
    presses = [(digits_at, digits)] if digits else []
    # The stream lasts the talk time, or longer if the speech and key presses need it.
    written = write_call_pcap(work / "call.pcap", wav, presses)
    if written.duration_ms < talk_seconds * 1000:
        written = write_call_pcap(work / "call.pcap", wav, presses, talk_seconds)
    talk_seconds = written.duration_ms / 1000
    call = SippCaller(
        (settings.asterisk.bind_address, settings.asterisk.sip_port),
        local=(chosen.host, chosen.port),
        media_port=_free_media_port(settings),
        service=settings.site.hotline_number,
        work_dir=work,
    )
    return call.run(
        [caller or CallerId("13800138000", "hotline test")],
        media=work / "call.pcap",
        talk_seconds=talk_seconds + 1,
        rate=1,
        trace_messages=True,
    )


def outcome_summary(results: Iterable[SippResult]) -> Counter[str]:
    """Outcomes of several runs added up (a benchmark spreads calls over runs)."""
    total: Counter[str] = Counter()
    for result in results:
        total.update(result.outcomes)
    return total
