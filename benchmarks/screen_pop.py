"""Ring to screen pop: from a citizen's INVITE to the agent's browser showing who is calling.

    .venv/bin/python -m benchmarks.screen_pop [--calls 30] [--warmup 2] [--ring 3] [--slot 2]

Everything real, on loopback: the integration tests' platform (`hotline run` through
tests/integration/harness.py: Asterisk, FastAGI, tracker, seats, web, Redis) on its own ports
(HOTLINE_TEST_SLOT, 2 unless told), Debian's headless Chromium driven by Playwright
(tests/integration/browser.py) with an agent logged in to the console (/agent), its JsSIP
softphone registered and the seat available in the "desk" queue, and sipp callers on the "desk"
trunk. Its flow (tests/integration/flows/desk_test.yaml) is one step: straight to the queue.

One call at a time: the caller (always the same number, whose earlier calls the pop lists) rings
for ``--ring`` seconds, nobody answers, and the caller hangs up; the next call starts once the
page, the seat and Asterisk are idle again. Every moment is wall-clock time on this machine:
  invite       sipp's own timestamp of sending the INVITE (its -trace_msg log: gettimeofday()
               right after the send), not the moment sipp was started; if Asterisk's channel
               for the call is older than that stamp (sipp descheduled after the send), the
               channel's Timestamp instead
  Asterisk     the AMI events' own Timestamp fields: the caller's channel (Newchannel), the caller
               in the queue (QueueCallerJoin), the queue ringing the seat (AgentCalled)
  seats        the ``sent`` field of the seat's "ringing" message (the seats component's clock)
  the page     performance.timeOrigin + performance.now(), put on the wall clock by an offset
               read at an edge of Date.now() before each call. Hooks added from outside, no
               product change: a first listener on the softphone's JsSIP user agent
               (newRTCSession), a setter on hotlineConsole.lastAgentMessage (the console taking
               the seat's message off /ws/seat), a MutationObserver (#incoming shown, the number
               in #pop-number, #pop-status cleared once /api/calls/<id>/pop has been drawn), the
               pop fetch's resource timing, and the next requestAnimationFrame after the pop.
Results go to benchmarks/results/screen_pop.json and stdout; the exit status is 1 when a
measured call missed a moment or ended otherwise than by the caller hanging up. No aim is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from hotline.settings import Settings
    from telephony.ami import AmiClient
    from tests.integration.harness import Platform

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SLOTS = (2, 4)  # HOTLINE_TEST_SLOT values this benchmark may take; 0, 1 and 3 are the test suites'
AGENT, EXTENSION = "bench.agent", "2001"
CALLER = "13700001234"
HISTORY = 10  # earlier calls of the caller on record: the pop lists at most 10 (seats_api)
PLATFORM_PREFIX = "hotline-bench-pop-platform-"
GAP_SECONDS = 1.0  # between one call being over everywhere and the next INVITE
# The page's moments, in the order they normally come.
MOMENTS = ("ring", "ws", "visible", "number", "loading", "pop", "frame")

# Installed in the logged-in console page. Nothing in the product changes: it listens.
INSTRUMENT = """
() => {
  const now = () => performance.timeOrigin + performance.now();
  const $ = (sel) => document.querySelector(sel);
  const hc = window.hotlineConsole;
  const loadingText = JSON.parse($('#words').textContent).c_pop_loading;
  const bench = { armed: false, number: '', marks: {}, extra: {}, offset: 0 };
  window.__bench = bench;
  const note = (name) => {
    if (bench.armed && !(name in bench.marks)) bench.marks[name] = now();
  };

  // Wall clock minus the page's high-resolution clock, read at the instant Date.now() ticks.
  const offset = () => {
    const first = Date.now();
    let t = now();
    let d = first;
    while (d === first) {
      t = now();
      d = Date.now();
    }
    return d - t;
  };

  // The INVITE reaching the softphone: JsSIP's newRTCSession, heard before the console's own
  // listener. The softphone may replace its user agent (reconnect): hooked again at each arm.
  const hook = () => {
    const ua = hc.softphone && hc.softphone.ua;
    if (!ua) return 'no user agent';
    if (!ua.__benchHooked) {
      ua.__benchHooked = true;
      ua.prependListener('newRTCSession', (e) => {
        if (e.originator === 'remote') note('ring');
      });
    }
    return 'ok';
  };

  // The seat's "ringing" message as the console takes it (onAgentMessage stores every message).
  let last = hc.lastAgentMessage;
  Object.defineProperty(hc, 'lastAgentMessage', {
    configurable: true,
    enumerable: true,
    get: () => last,
    set: (msg) => {
      last = msg;
      if (bench.armed && msg && msg.state === 'ringing' && msg.ring && !('ws' in bench.marks)) {
        note('ws');
        bench.extra.seat_sent = msg.sent;
        bench.extra.uniqueid = msg.ring.caller;
      }
    },
  });

  // The screen: the ring panel, the number in the pop, the pop's history drawn.
  const incoming = $('#incoming');
  const incomingNumber = $('#incoming-number');
  const pop = $('#pop');
  const popNumber = $('#pop-number');
  const popStatus = $('#pop-status');
  const history = $('#pop-history tbody');
  const look = () => {
    if (!bench.armed) return;
    const number = bench.number;
    if (!incoming.hidden && incomingNumber.textContent.includes(number)) note('visible');
    // The pop may still show the same caller's previous call: this call's, once it is for it.
    const popIsThisCall = pop.dataset.uniqueid && pop.dataset.uniqueid === bench.extra.uniqueid;
    if (popIsThisCall && popNumber.textContent.includes(number)) note('number');
    const status = popStatus.textContent;
    if (status === loadingText) {
      note('loading');
    } else if ('loading' in bench.marks && !('pop' in bench.marks)) {
      if (status === '') {
        note('pop');
        bench.extra.history_rows = history.querySelectorAll('tr:not(.empty)').length;
        requestAnimationFrame(() => note('frame'));
      } else {
        bench.extra.pop_error = status;
      }
    }
  };
  new MutationObserver(look).observe(document.body, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ['hidden', 'data-uniqueid'],
  });

  bench.arm = (number) => {
    performance.clearResourceTimings();
    bench.marks = {};
    bench.extra = {};
    bench.number = number;
    bench.offset = offset();
    bench.armed = true;
    return hook();
  };
  bench.done = () =>
    ['ring', 'ws', 'visible', 'number', 'pop', 'frame'].every((k) => k in bench.marks) ||
    'pop_error' in bench.extra;
  bench.take = () => {
    bench.armed = false;
    const fetches = performance.getEntriesByType('resource').filter((e) => e.name.includes('/pop'));
    const f = fetches[fetches.length - 1];
    const origin = performance.timeOrigin;
    return {
      marks: bench.marks,
      extra: bench.extra,
      offset: bench.offset,
      fetch: f ? { start: origin + f.startTime, end: origin + f.responseEnd } : null,
    };
  };
  bench.idle = () =>
    incoming.hidden && $('#seat-state').dataset.state === 'available' && !hc.softphone.session;
  return 'ok';
}
"""


# ----- the pieces -----------------------------------------------------------------------------------
class AmiTimes:
    """The AMI events a ring is made of, with Asterisk's own Timestamp, from a background thread."""

    KEEP = frozenset({"Newchannel", "QueueCallerJoin", "AgentCalled"})

    def __init__(self, settings: Settings) -> None:
        from asterisk_conf.layout import InstanceLayout
        from telephony.ami import AmiClient

        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        secret = InstanceLayout.for_settings(settings).ami_secret()

        def keep(event: dict[str, Any]) -> None:
            if event.get("Event") in self.KEEP:
                event["BenchArrived"] = time.time()
                with self._lock:
                    self.events.append(event)

        async def make() -> AmiClient:
            client = AmiClient(
                host="127.0.0.1",
                port=settings.asterisk.ami_port,
                username=settings.asterisk.ami_user,
                secret=secret,
                on_event=keep,
            )
            await client.start(timeout=20)
            return client

        self._thread = threading.Thread(target=self._loop.run_forever, name="ami-times", daemon=True)
        self._thread.start()
        self._client = asyncio.run_coroutine_threadsafe(make(), self._loop).result(30)

    def first(self, name: str, since: float, **match: str) -> dict[str, Any] | None:
        with self._lock:
            events = list(self.events)
        for event in events:
            if (
                event.get("Event") == name
                and at(event) >= since
                and all(str(event.get(k)) == v for k, v in match.items())
            ):
                return event
        return None

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def at(event: dict[str, Any]) -> float:
    """When Asterisk made the event (timestampevents), else when it arrived here."""
    try:
        return float(event["Timestamp"])
    except (KeyError, ValueError):
        return float(event["BenchArrived"])


def invite_sent(messages: Path) -> float | None:
    """The wall-clock time sipp stamped on the INVITE it sent (-trace_msg, local time, µs)."""
    if not messages.exists():
        return None
    stamp: str | None = None
    for line in messages.read_text(errors="replace").splitlines():
        if line.startswith("-----"):
            stamp = line.strip("- ")
        elif line.startswith("INVITE ") and stamp:
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return None


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def seed_history(platform: Platform) -> None:
    """The caller has called before: HISTORY earlier calls on record, as the pop lists them."""
    from telephony.models import Call, Disposition

    start = datetime.now(UTC) - timedelta(days=HISTORY + 1)
    with platform.db.unit_of_work() as session:
        for k in range(HISTORY):
            begun = start + timedelta(days=k, hours=1)
            answered = k % 3 != 2
            session.add(
                Call(
                    uniqueid=f"bench-history-{k}",
                    linkedid=f"bench-history-{k}",
                    channel=f"PJSIP/desk-{k:08x}",
                    caller_number=CALLER,
                    called_number="12345",
                    trunk="desk",
                    started_at=begun,
                    answered_at=begun,
                    queued_at=begun + timedelta(seconds=2),
                    agent_connected_at=begun + timedelta(seconds=20) if answered else None,
                    ended_at=begun + timedelta(seconds=200 if answered else 40),
                    disposition=Disposition.ANSWERED if answered else Disposition.ABANDONED,
                    ivr_path="to_desk",
                    route="queue",
                    queue="desk",
                    agent=AGENT if answered else "",
                    outcome="resolved" if answered else "",
                    outcome_note="告知报修电话" if answered else "",
                )
            )


@contextlib.contextmanager
def agent_console(platform: Platform) -> Iterator[Page]:
    """The agent's console in a fresh headless Chromium: logged in, registered, available."""
    from playwright.sync_api import expect

    from tests.integration.browser import open_page
    from tests.integration.seats_support import add_seat_user, log_in

    add_seat_user(platform, AGENT, EXTENSION, "agent", skills={"desk": 0})
    with open_page(media=True) as page:
        log_in(page, platform.web, AGENT, "/agent")
        expect(page.locator("#sip-status")).to_have_attribute("data-state", "registered", timeout=20_000)
        page.locator("#btn-login").click()
        expect(page.locator("#seat-state")).to_have_attribute("data-state", "available")
        if page.evaluate(INSTRUMENT) != "ok":
            raise RuntimeError("the page could not be instrumented")
        yield page


# ----- one call -----------------------------------------------------------------------------------
class Caller:
    """One sipp call from the desk trunk, in a thread (the page is driven from this one)."""

    def __init__(self, platform: Platform, work: Path, pcap: Path, media_port: int, ring: float) -> None:
        from telephony.sipp.runner import CallerId, SippCaller
        from tests.integration.harness import TRUNK_PORTS

        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None
        sipp = SippCaller(
            (platform.settings.asterisk.bind_address, platform.settings.asterisk.sip_port),
            local=("127.0.0.1", TRUNK_PORTS["desk"]),
            media_port=media_port,
            service="12345",
            work_dir=work,
        )

        def run() -> None:
            try:
                self.result = sipp.run(
                    [CallerId(CALLER)],
                    media=pcap,
                    talk_seconds=ring,
                    rate=1,
                    ring_timeout=10,
                    trace_messages=True,
                )
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run, name="desk-caller", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> str:
        """How the call ended for the caller."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            return "sipp did not finish"
        if self.error is not None:
            return f"sipp failed: {self.error}"
        outcomes = dict(self.result.outcomes)
        return "completed" if outcomes == {"completed": 1} else json.dumps(outcomes)


def one_call(
    platform: Platform, page: Page, ami: AmiTimes, work: Path, pcap: Path, media_port: int, ring: float
) -> dict[str, Any]:
    from playwright.sync_api import TimeoutError as PageTimeout

    from tests.integration.harness import DESK_QUEUE

    hooked = page.evaluate("(n) => window.__bench.arm(n)", CALLER)
    if hooked != "ok":
        raise RuntimeError(f"the softphone could not be hooked: {hooked}")
    caller = Caller(platform, work, pcap, media_port, ring)
    spawned = time.time()
    caller.start()
    with contextlib.suppress(PageTimeout):
        page.wait_for_function("() => window.__bench.done()", polling=100, timeout=(ring + 5) * 1000)
    seen = page.evaluate("() => window.__bench.take()")
    ended = caller.join(ring + 60)
    invite = invite_sent(work / "caller_messages.log")

    # Back to idle everywhere before the next call.
    page.wait_for_function("() => window.__bench.idle()", polling=100, timeout=30_000)
    platform.settle(30)

    offset = float(seen["offset"])

    def wall(page_ms: float | None) -> float | None:
        return None if page_ms is None else (page_ms + offset) / 1000

    moments: dict[str, float | None] = {name: wall(seen["marks"].get(name)) for name in MOMENTS}
    fetched = seen.get("fetch") or {}
    moments["fetch_start"] = wall(fetched.get("start"))
    moments["fetch_end"] = wall(fetched.get("end"))
    extra = seen["extra"]
    moments["seat_sent"] = float(extra["seat_sent"]) if "seat_sent" in extra else None
    uniqueid = str(extra.get("uniqueid", ""))
    joined = ami.first("QueueCallerJoin", spawned, Queue=DESK_QUEUE, CallerIDNum=CALLER)
    uid = str(joined["Uniqueid"]) if joined else uniqueid
    stamped = True
    for name, event in (
        ("newchannel", ami.first("Newchannel", spawned, Uniqueid=uid)),
        ("queue_join", joined),
        ("agent_called", ami.first("AgentCalled", spawned, Uniqueid=uid)),
    ):
        moments[name] = at(event) if event else None
        stamped = stamped and event is not None and "Timestamp" in event
    missing = [k for k in ("ring", "ws", "visible", "number", "pop", "frame") if moments[k] is None]
    if invite is None:
        missing.insert(0, "invite")
    # sipp stamps the INVITE once sendto() has returned: descheduled in between (a busy machine),
    # its stamp is late, and Asterisk's channel can predate it. The INVITE had left by then.
    stamped_late = 0.0
    channel = moments["newchannel"]
    if invite is not None and channel is not None and channel < invite:
        stamped_late, invite = invite - channel, channel
    relative = {
        f"{name}_ms": round(1000 * (value - invite), 3) if value is not None and invite else None
        for name, value in moments.items()
    }
    return {
        "uniqueid": uid,
        "ws_uniqueid_matches": uniqueid == uid,
        "caller": ended,
        "missing": missing,
        "pop_error": extra.get("pop_error"),
        "history_rows": extra.get("history_rows"),
        "page_clock_offset_ms": round(offset, 3),
        "asterisk_timestamps": stamped,
        "sipp_stamp_late_ms": round(1000 * stamped_late, 3),
        "spawn_ms": round(1000 * (spawned - invite), 3) if invite else None,
        **relative,
    }


# ----- figures --------------------------------------------------------------------------------------
def spans(call: dict[str, Any]) -> dict[str, float | None]:
    """The intervals reported, in ms, from one call's moments (ms after its INVITE)."""

    def get(name: str) -> float | None:
        if name == "invite":
            return 0.0
        if name == "complete":  # the pop complete: panel shown, number in it, history drawn
            parts = [get(k) for k in ("visible", "number", "pop")]
            return max(p for p in parts if p is not None) if None not in parts else None
        value = call.get(f"{name}_ms")
        return None if value is None else float(value)

    def between(a: str, b: str) -> float | None:
        start, end = get(a), get(b)
        return None if start is None or end is None else round(end - start, 3)

    return {
        # the three asked for
        "invite_to_ring": between("invite", "ring"),
        "ring_to_pop": between("ring", "complete"),
        "invite_to_pop": between("invite", "complete"),
        # where the time goes
        "invite_to_asterisk_channel": between("invite", "newchannel"),
        "channel_to_queue_join": between("newchannel", "queue_join"),
        "queue_join_to_agent_called": between("queue_join", "agent_called"),
        "agent_called_to_ring": between("agent_called", "ring"),
        "agent_called_to_seat_message": between("agent_called", "seat_sent"),
        "seat_message_to_console": between("seat_sent", "ws"),
        "invite_to_console_message": between("invite", "ws"),
        "console_message_to_number": between("ws", "number"),
        "pop_fetch": between("fetch_start", "fetch_end"),
        "console_message_to_pop": between("ws", "complete"),
        "pop_to_next_frame": between("pop", "frame"),
        "invite_to_number": between("invite", "number"),
        "sipp_start_to_invite": between("spawn", "invite"),
    }


LABELS = {
    "invite_to_ring": "INVITE → ring in browser (JsSIP newRTCSession)",
    "ring_to_pop": "ring → screen pop complete",
    "invite_to_pop": "INVITE → screen pop complete (total)",
    "invite_to_asterisk_channel": "INVITE → Asterisk's channel (Newchannel)",
    "channel_to_queue_join": "channel → in the desk queue (Answer, FastAGI flow)",
    "queue_join_to_agent_called": "in the queue → queue rings the seat (AgentCalled)",
    "agent_called_to_ring": "AgentCalled → ring in browser",
    "agent_called_to_seat_message": "AgentCalled → seat message published (seats)",
    "seat_message_to_console": "seat message → console has it (Redis, web, /ws/seat)",
    "invite_to_console_message": "INVITE → console has the seat message",
    "console_message_to_number": "console has it → number in #pop-number",
    "pop_fetch": "pop fetch (/api/calls/<id>/pop, request → response)",
    "console_message_to_pop": "console has it → pop complete (fetch + draw)",
    "pop_to_next_frame": "pop complete → next animation frame",
    "invite_to_number": "INVITE → number in #pop-number",
    "sipp_start_to_invite": "sipp started → INVITE sent (not in any figure)",
}


def summary(values: Sequence[float]) -> dict[str, Any]:
    from benchmarks.seat_push import percentile  # nearest rank; imports the harness (slot set)

    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p90_ms": round(percentile(values, 90), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
        "min_ms": round(min(values), 1),
    }


def figures(calls: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    table: dict[str, list[float]] = {name: [] for name in LABELS}
    for call in calls:
        for name, value in spans(call).items():
            if value is not None:
                table[name].append(value)
    return {name: summary(values) for name, values in table.items()}


def print_table(result: dict[str, dict[str, Any]]) -> None:
    width = max(len(label) for label in LABELS.values())
    print(f"{'':{width}}  {'n':>3} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  ms")
    for name, label in LABELS.items():
        row = result[name]
        if not row.get("count"):
            print(f"{label:{width}}  {0:>3}")
            continue
        cells = " ".join(f"{row[k]:>8.1f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        print(f"{label:{width}}  {row['count']:>3} {cells}")


# ----- the run ------------------------------------------------------------------------------------
def versions(platform: Platform, page: Page) -> dict[str, str]:
    import importlib.metadata

    from tests.integration.browser import CHROMIUM

    found = {"playwright": importlib.metadata.version("playwright")}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        shown = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
        found["chromium"] = shown.stdout.strip()
    found["jssip"] = str(page.evaluate("() => hotlineConsole.softphone.ua.configuration.user_agent || ''"))
    with contextlib.suppress(Exception):
        found["asterisk"] = platform.rx("core show version").split()[1]
    return found


def measure(platform: Platform, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from benchmarks.ivr_load import machine
    from benchmarks.seat_push import machine_cpu
    from tests.integration.harness import caller_pcap

    pcap = caller_pcap(work / "media", seconds=args.ring + 2)
    seed_history(platform)
    ami = AmiTimes(platform.settings)
    calls: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    try:
        with agent_console(platform) as page:
            found = versions(platform, page)
            load_before = os.getloadavg()
            busy, jiffies = machine_cpu()
            total = args.warmup + args.calls
            for n in range(total):
                call = one_call(platform, page, ami, work / f"call-{n:03d}", pcap, args.media_port, args.ring)
                (warm if n < args.warmup else calls).append(call)
                shown = spans(call)
                print(
                    f"  {'warm-up' if n < args.warmup else 'call'} {n + 1}/{total}: "
                    + ", ".join(
                        f"{k} {shown[k]:.1f} ms" if shown[k] is not None else f"{k} –"
                        for k in ("invite_to_ring", "ring_to_pop", "invite_to_pop")
                    )
                    + (f"; missing {call['missing']}" if call["missing"] else "")
                    + (f"; pop: {call['pop_error']}" if call["pop_error"] else "")
                    + (f"; caller: {call['caller']}" if call["caller"] != "completed" else ""),
                    flush=True,
                )
                time.sleep(GAP_SECONDS)
            load_after = os.getloadavg()
            busy_after, jiffies_after = machine_cpu()
    finally:
        ami.close()
    offsets = [c["page_clock_offset_ms"] for c in calls]
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        # Everything on the machine (this run and anyone else's) over the calls, % of all cores.
        "machine_busy_pct": round(100 * (busy_after - busy) / max(1, jiffies_after - jiffies), 1),
        "versions": found,
        "parameters": {
            "calls": args.calls,
            "warmup_calls": args.warmup,
            "ring_seconds": args.ring,
            "slot": args.slot,
            "caller": CALLER,
            "history_on_record": HISTORY,
        },
        "path": (
            "sipp INVITE (desk trunk) → Asterisk PJSIP → hotline-inbound: group limits, Answer(), "
            "AGI(agi://…/desk_test) (one step: queue desk) → Queue(desk, ringall) → PJSIP/seat"
            f"{EXTENSION} over the SIP websocket (DTLS-SRTP offer) → JsSIP in the page; beside it "
            "AgentCalled → seats component → Redis → web → /ws/seat → console → GET "
            "/api/calls/<id>/pop → drawn"
        ),
        "clock": {
            "page_offset_ms_min": min(offsets, default=None),
            "page_offset_ms_max": max(offsets, default=None),
        },
        "figures": figures(calls),
        "failed_calls": sum(1 for c in calls if c["missing"] or c["caller"] != "completed"),
        "calls": calls,
        "warmup": warm,
    }


def interrupted(exc: BaseException | None) -> bool:
    """Ctrl-C (or SIGTERM), also when closing the browser failed after it (Chromium got it too)."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def stop_started_platform() -> None:
    """A start interrupted before the harness returned: Ctrl-C to this process's `hotline run`
    child (its own session, so the terminal's Ctrl-C never reached it), as stop_platform does."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent != os.getpid() or b"hotline.cli" not in command or b"run" not in command:
            continue
        pid = int(stat.parent.name)
        environ = dict(
            item.split(b"=", 1)
            for item in (stat.parent / "environ").read_bytes().split(b"\0")
            if b"=" in item
        )
        print(f"stopping the half-started platform (pid {pid}) ...", file=sys.stderr, flush=True)
        os.kill(pid, signal.SIGINT)
        deadline, ended = time.monotonic() + 90, False
        while not ended and time.monotonic() < deadline:
            ended = os.waitpid(pid, os.WNOHANG) != (0, 0)
            time.sleep(0 if ended else 0.2)
        if not ended:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        config = Path(os.fsdecode(environ.get(b"HOTLINE_CONFIG", b"")))
        if config.parent.name.startswith(PLATFORM_PREFIX):
            shutil.rmtree(config.parent, ignore_errors=True)  # its state dir, as stop_platform does


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=30, help="measured calls, one at a time")
    parser.add_argument("--warmup", type=int, default=2, help="calls before them, not counted")
    parser.add_argument("--ring", type=float, default=3.0, help="seconds each caller waits, then hangs up")
    parser.add_argument("--slot", type=int, default=2, choices=SLOTS, help="HOTLINE_TEST_SLOT (ports)")
    parser.add_argument("--output", type=Path, default=RESULTS / "screen_pop.json")
    args = parser.parse_args()
    if args.calls < 1 or args.warmup < 0 or not 1.0 <= args.ring <= 10.0:
        parser.error("--calls at least 1, --warmup at least 0, --ring between 1 and 10 seconds")
    # Before the harness is imported (benchmarks.ivr_load imports it too): its ports come from the slot.
    os.environ["HOTLINE_TEST_SLOT"] = str(args.slot)
    from tests.integration import harness

    if args.slot != harness.SLOT:
        print(f"screen_pop: the harness was loaded with slot {harness.SLOT}", file=sys.stderr)
        return 2
    args.media_port = 29000 + 200 * args.slot  # the sipp caller's RTP: no harness or Asterisk port
    busy = [p for p in (harness.WEB_PORT, harness.SIP_PORT, harness.REDIS_PORT) if not port_free(p)]
    if busy or not port_free(args.media_port):
        print(f"screen_pop: slot {args.slot} looks in use (ports {busy}); try --slot", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)  # as Ctrl-C: the platform is stopped on the way out
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-pop-", dir="/tmp"))
    print(f"screen pop benchmark, slot {args.slot} (work files in {work}) ...", flush=True)
    try:
        platform = harness.start_platform(prefix=PLATFORM_PREFIX)
    except BaseException as exc:
        stop_started_platform()
        shutil.rmtree(work, ignore_errors=True)
        if not interrupted(exc):
            raise
        print("screen_pop: interrupted while the platform started", file=sys.stderr)
        return 130
    report: dict[str, Any] | None = None
    try:
        report = measure(platform, args, work)
    except BaseException as exc:
        if not interrupted(exc):
            raise
        print("screen_pop: interrupted", file=sys.stderr)
    finally:
        print("stopping the platform ...", flush=True)
        try:
            harness.stop_platform(platform, work / "artifacts")
        except AssertionError as exc:
            print(f"screen_pop: {exc}", file=sys.stderr)
            if report is not None:
                report["platform_stopped_cleanly"] = False
        if report is None:
            print(f"screen_pop: no results; logs kept in {work}", file=sys.stderr)
    if report is None:
        return 130
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(report["figures"])
    ok = report["failed_calls"] == 0 and report.get("platform_stopped_cleanly", True)
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"screen_pop: some calls failed; logs kept in {work}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
