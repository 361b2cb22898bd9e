"""IVR load benchmark: sipp callers with audio through the default flow, three ways side by side.

    .venv/bin/python -m benchmarks.ivr_load [--calls 90 270] [--hold 30] [--rate 30]

One platform (`hotline run`, its own ports) with three trunks running the same flow:
  dialplan     greeting + main queue in pure dialplan: the floor, no Python on the call path
  fastagi      the flow engine over our FastAGI server (the platform's normal mode)
  classic_agi  the flow engine as a process per call (pyst2), what most sites run
For each mode and each call count, N callers (RTP audio, a spoken sentence then silence) arrive at
`--rate` calls/s, hear the greeting, wait in the queue, and hang up after `--hold` seconds.
Reported: failed calls (sipp failures, or a call row that never reached the queue), FastAGI quick
command round trips (p50/p99), CPU of Asterisk and of the Python processes as % of one core over
the busy window, peak memory. Results go to benchmarks/results/ivr_load.json and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import signal
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from telephony.sipp.pcap import speak_to_wav, write_call_pcap
from telephony.sipp.runner import SippCaller
from tests.integration.harness import Platform, poll, start_platform, stop_platform

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODES = {"dialplan": 35082, "fastagi": 35080, "classic_agi": 35081}
TICKS = os.sysconf("SC_CLK_TCK")


def bench_settings(state_dir: Path) -> str:
    trunks = "\n".join(
        f'[[trunks]]\nname = "{mode.replace("_", "-")}"\nhost = "127.0.0.1"\nport = {port}\n'
        f'max_channels = 1000\nivr_mode = "{mode}"\n'
        for mode, port in MODES.items()
    )
    return f"""
e1_spans = []

[site]
state_dir = "{state_dir}"

[asterisk]
instance = "bench"
sip_port = 35060
ami_port = 35038
http_port = 38088
rtp_start = 40000
rtp_end = 43999

[agi]
port = 34573
idle_timeout = 10.0
max_flow_seconds = 300.0

[web]
port = 38000

[capacity]
channels = 1000

[[queues]]
name = "main"
strategy = "ringall"

{trunks}
"""


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own user+system, reaped children's user+system) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / TICKS
    children = (int(fields[13]) + int(fields[14])) / TICKS
    return own, children


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Run:
    mode: str
    calls: int
    hold_seconds: float
    rate: float
    sipp_outcomes: dict[str, int] = field(default_factory=dict)
    sipp_failed: int = 0
    rows: int = 0
    reached_queue: int = 0
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    window_seconds: float = 0.0
    peak_live_calls: int = 0
    asterisk_cpu_pct: float = 0.0
    agi_scripts_cpu_pct: float = 0.0  # classic AGI processes (Asterisk's reaped children)
    fastagi_cpu_pct: float = 0.0
    tracker_cpu_pct: float = 0.0
    asterisk_peak_rss_mb: float = 0.0
    fastagi_peak_rss_mb: float = 0.0
    round_trips: dict[str, Any] = field(default_factory=dict)


def restart_agi(platform: Platform) -> int:
    """A fresh FastAGI process, so its round-trip sample covers only the next run."""
    old = platform.component_pid("agi")
    os.kill(old, signal.SIGTERM)
    poll("a new FastAGI process", lambda: platform.component_pid("agi") != old and platform.healthy(), 30)
    return platform.component_pid("agi")


def one_run(
    platform: Platform, mode: str, calls: int, hold: float, rate: float, pcap: Path, work: Path
) -> Run:
    run = Run(mode, calls, hold, rate)
    agi_pid = restart_agi(platform)
    tracker_pid = platform.component_pid("tracker")
    ast_pid = platform.instance.pid
    assert ast_pid is not None, "Asterisk is not running"
    first_row = platform.last_call_id()
    before = {
        name: cpu_seconds(pid) for name, pid in (("ast", ast_pid), ("agi", agi_pid), ("trk", tracker_pid))
    }
    caller = SippCaller(
        ("127.0.0.1", platform.settings.asterisk.sip_port),
        local=("127.0.0.1", MODES[mode]),
        media_port=37000,
        service="12345",
        work_dir=work,
    )
    started = time.monotonic()
    import threading

    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            try:
                run.asterisk_peak_rss_mb = max(run.asterisk_peak_rss_mb, rss_mb(ast_pid))
                run.fastagi_peak_rss_mb = max(run.fastagi_peak_rss_mb, rss_mb(agi_pid))
                status = platform.status("tracker") or {}
                run.peak_live_calls = max(run.peak_live_calls, int(status.get("live_calls") or 0))
            except OSError:
                pass
            stop_sampling.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = caller.run(
            calls,
            media=pcap,
            talk_seconds=hold,
            rate=rate,
            max_concurrent=calls,
            ring_timeout=30,
            max_seconds=calls / rate + 5,
        )
    finally:
        stop_sampling.set()
        sampler.join(5)
    run.window_seconds = time.monotonic() - started
    after = {
        name: cpu_seconds(pid) for name, pid in (("ast", ast_pid), ("agi", agi_pid), ("trk", tracker_pid))
    }

    def pct(spent: float) -> float:
        return round(100 * spent / run.window_seconds, 1)

    run.asterisk_cpu_pct = pct(after["ast"][0] - before["ast"][0])
    run.agi_scripts_cpu_pct = pct(after["ast"][1] - before["ast"][1])
    run.fastagi_cpu_pct = pct(after["agi"][0] - before["agi"][0])
    run.tracker_cpu_pct = pct(after["trk"][0] - before["trk"][0])
    run.sipp_outcomes = dict(result.outcomes)
    run.sipp_failed = result.failed

    # Wait (bounded) for the rows to close; whatever is still open then counts as a failure.
    deadline = time.monotonic() + 120
    rows = platform.call_rows_since(first_row)
    while time.monotonic() < deadline and (len(rows) < calls or not all(c.ended_at for c in rows)):
        time.sleep(1)
        rows = platform.call_rows_since(first_row)
    run.rows = len(rows)
    expected_path = "" if mode == "dialplan" else "office_hours,greeting,to_agent"
    for row in rows:
        ok = (
            row.ended_at is not None
            and row.queued_at is not None
            and row.queue == "main"
            and row.ivr_path == expected_path
        )
        run.reached_queue += row.queued_at is not None
        if not ok:
            run.failures += 1
            if len(run.failure_examples) < 5:
                run.failure_examples.append(
                    f"{row.uniqueid}: {row.disposition} route={row.route} path={row.ivr_path}"
                )
    # sipp-side failures count too: a call that never got a row is a lost call.
    run.failures += max(0, calls - len(rows)) + sum(
        n for outcome, n in result.outcomes.items() if outcome != "completed"
    )
    agi = platform.status("agi") or {}
    run.round_trips = agi.get("round_trips", {}) if mode == "fastagi" else {}
    return run


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": host.release(),
        "python": host.python_version(),
    }


def medians(runs: list[Run]) -> list[dict[str, Any]]:
    """Per mode and size: the median of each CPU figure, the worst of failures and round trips."""
    table: list[dict[str, Any]] = []
    for key in sorted({(r.calls, r.mode) for r in runs}, key=lambda k: (k[0], list(MODES).index(k[1]))):
        same = [r for r in runs if (r.calls, r.mode) == key]
        trips = [r.round_trips for r in same if r.round_trips.get("count")]
        table.append(
            {
                "calls": key[0],
                "mode": key[1],
                "runs": len(same),
                "failures_total": sum(r.failures for r in same),
                "asterisk_cpu_pct": statistics.median(r.asterisk_cpu_pct for r in same),
                "python_cpu_pct": statistics.median(
                    r.fastagi_cpu_pct + r.agi_scripts_cpu_pct + r.tracker_cpu_pct for r in same
                ),
                "asterisk_peak_rss_mb": round(max(r.asterisk_peak_rss_mb for r in same)),
                "fastagi_peak_rss_mb": round(max(r.fastagi_peak_rss_mb for r in same)),
                "rtt_p50_ms": round(statistics.median(t["p50_ms"] for t in trips), 2) if trips else None,
                "rtt_p99_ms_worst": round(max(t["p99_ms"] for t in trips), 2) if trips else None,
            }
        )
    floor: dict[int, float] = {
        r["calls"]: float(r["asterisk_cpu_pct"]) for r in table if r["mode"] == "dialplan"
    }
    for row in table:
        if floor.get(row["calls"]):
            row["asterisk_cpu_vs_floor"] = round(float(row["asterisk_cpu_pct"]) / floor[row["calls"]], 2)
    return table


def save(runs: list[Run]) -> dict[str, Any]:
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "summary": medians(runs),
        "runs": [asdict(r) for r in runs],
    }
    (RESULTS / "ivr_load.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[90, 270])
    parser.add_argument("--hold", type=float, default=30.0, help="seconds each caller stays on the line")
    parser.add_argument("--rate", type=float, default=30.0, help="new calls per second")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode and size (medians reported)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/hotline-bench")
    work.mkdir(exist_ok=True)
    wav = speak_to_wav("您好，我想反映一下小区门口的路灯已经坏了好几天了。", "cmn", work / "speech.wav")
    pcap = work / "call.pcap"
    write_call_pcap(pcap, wav, [], args.hold)
    print("starting the platform for the benchmark (logs under /tmp/hotline-bench-*) ...", flush=True)
    platform = start_platform(bench_settings, prefix="hotline-bench-")
    runs: list[Run] = []
    try:
        # Interleaved (mode after mode, then again) so drift on a shared machine hits every mode alike.
        for calls, _round, mode in [
            (c, r, m) for c in args.calls for r in range(args.repeat) for m in args.modes
        ]:
            print(f"  {mode}: {calls} calls at {args.rate}/s, {args.hold:.0f}s each ...", flush=True)
            run = one_run(platform, mode, calls, args.hold, args.rate, pcap, work / f"{mode}-{calls}")
            runs.append(run)
            save(runs)
            print(
                f"    failures {run.failures}, Asterisk {run.asterisk_cpu_pct}% of a core, "
                f"FastAGI {run.fastagi_cpu_pct}%, classic scripts {run.agi_scripts_cpu_pct}%, "
                f"peak {run.peak_live_calls} live calls, round trips {run.round_trips}",
                flush=True,
            )
            try:
                platform.settle(180)
            except AssertionError as exc:  # an overloaded mode must not stop the others
                print(f"    not settled: {exc}", flush=True)
    finally:
        stop_platform(platform, work / "artifacts")
    report = save(runs)
    for row in report["summary"]:
        print(json.dumps(row, ensure_ascii=False))
    return 0 if all(r.failures == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
