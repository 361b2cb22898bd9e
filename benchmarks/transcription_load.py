"""Transcription turnaround and throughput while the IVR carries its 90-call load.

    .venv/bin/python -m benchmarks.transcription_load [--calls 90] [--seconds 60] [--asr-workers 1 2]

For each ``--asr-workers`` value, one platform (`hotline run` with benchmarks.ivr_load's ports and
trunks, its own Redis port, ``[asr] workers = N``: components recorder, asr and beat running as
in production), then:

  a. baseline   ``--baseline-rounds`` rounds of ivr_load's FastAGI load alone (``--calls`` sipp
                callers at ``--rate``/s through the default flow, each on the line ``--hold`` s):
                failures, AGI round trips, Asterisk CPU, as benchmarks/ivr_load.py measures them.
  b. loaded     the same rounds again, back to back, while ``--calls`` recorded calls end together
                (during the first round, once its callers are all up) and are finished and
                transcribed: ``--loaded-rounds`` rounds (0: until every transcript is stored), then
                the rest of the transcripts are awaited with the IVR idle (``--max-minutes`` in all).

The recorded calls are INJECTED, not recorded from live agent calls: the platform's sipp seats
cannot hold 90 answered calls on two cores. Each is made the way Asterisk's MixMonitor leaves a
call: ``<state_dir>/recordings/<Y>/<m>/<d>/bench-<n>-caller.wav`` and ``-agent.wav`` (``--seconds``
long, 8 kHz 16-bit mono PCM: espeak-ng English, the hotline's complaints and everyday words on
the caller's leg, an agent's answers on the other, turns with pauses and holds, a different mix,
voice and speed per call, a noise floor and a G.711 mu-law round trip) and the mono mix
``bench-<n>.wav``. Their rows go through the tracker's own calls: a Call row (answered) and
``recording.service.start_call_recording`` in one unit of work before the loaded rounds (the
answer), then, once the first loaded round's callers are all up, the Call rows closed and
``recording.service.call_ended`` for all of them in ONE unit of work (the hang-up), with
``recording.jobs.configure`` done first so that the after-commit hook queues the finishing jobs
exactly as the tracker does. From there on the platform's own workers do everything.

Per recording: hang-up (``Recording.ended_at``) to the archive written (its file's mtime; the row
commits right after) and to the transcript stored (``Transcript.created_at``): p50, p95, max, and
the time until all are transcribed; audio per wall second over that time; CPU of the asr worker
processes (the Celery parent and its pool children), of the recorder and of Asterisk, as % of one
core, and of the load generator (this process and its sipp callers, on the same two cores). Which
archives and transcripts were done while the IVR load ran is kept per recording. The IVR figures
of (a) and (b) side by side show whether transcription degraded the calls.
Results: benchmarks/results/transcription_load.json and a table on stdout. No aim is set; the exit
status is 1 when a transcription failed (named, with its error) or was not done in time.

    --recording-cost   no transcription: the IVR rounds on a platform with ``[recording] enabled
                       = false``, then on one with it on (MixMonitor before every Queue()); kept
                       under ``recording_cost`` in the results file
    --resummarise      no run: the summaries of the results file made again from its raw parts
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from sqlalchemy import select

from benchmarks.asr_rtf import ENGLISH, espeak_version
from benchmarks.ivr_load import Run, bench_settings, cpu_seconds, machine, one_run
from benchmarks.seat_push import machine_cpu, percentile
from hotline.db import utcnow
from recording import jobs
from recording.asr.pocketsphinx_engine import EVERYDAY_SENTENCES
from recording.models import AsrStatus, KeyPhraseHit, Recording, RecordingStatus, Transcript
from recording.service import call_ended, start_call_recording
from telephony.models import Call, Disposition
from telephony.sipp.pcap import speak_to_wav, write_call_pcap
from tests.integration.harness import Platform, start_platform, stop_platform
from tests.unit.phone_speech import RATE, mulaw_decode, mulaw_encode, phone_speech

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REDIS_PORT = 36379  # ivr_load's settings leave Redis on 6379, where a developer's platform may be
PREFIX = "hotline-bench-asr-"
MODE = "fastagi"
METHOD = (
    "The recorded calls are injected as finished calls: their files as Asterisk's MixMonitor writes "
    "them (two 8 kHz PCM legs and the mono mix, espeak-ng speech) and their rows through "
    "recording.service.start_call_recording and call_ended, all hung up in one unit of work during "
    "a live IVR load round. They are not recorded from 90 live agent calls: the platform's fixed "
    "sipp seats cannot hold 90 answered calls on two cores."
)

# What an agent says (written for this benchmark); the caller says ENGLISH and EVERYDAY_SENTENCES.
GREETING = "Twelve three four five hotline, how can I help you"
AGENT_LINES = (
    "Can you tell me the address please",
    "Which street is it on",
    "When did it start",
    "I am sorry to hear that",
    "Please hold while I check",
    "I will report it today",
    "Someone will come to repair it tomorrow",
    "Is anybody hurt",
    "Can I have your name and phone number",
    "Is there anything else",
    "Thank you for calling, goodbye",
)
CALLER_EXTRA = ("Yes", "Okay thank you", "It is the third time I call about it")
CALLER_VOICES = (("en", 150), ("en-us", 170))
AGENT_VOICES = (("en-us", 160), ("en", 175))
LINE_NOISE = {"caller": 40.0, "agent": 12.0}  # int16 steps: a PSTN line, a quieter headset


# ----- the recorded calls ---------------------------------------------------------------------------
Pcm = NDArray[np.int16]


@dataclass
class Lines:
    """Every sentence spoken once per voice (espeak-ng, 8 kHz, G.711 round trip)."""

    caller: dict[tuple[str, str, int], Pcm]
    agent: dict[tuple[str, str, int], Pcm]


def synthesise(work: Path) -> Lines:
    caller_texts = [text for text, _ in ENGLISH] + list(EVERYDAY_SENTENCES) + list(CALLER_EXTRA)
    agent_texts = [GREETING, *AGENT_LINES]
    jobs_: list[tuple[str, str, str, int]] = [
        ("caller", text, voice, speed) for text in caller_texts for voice, speed in CALLER_VOICES
    ] + [("agent", text, voice, speed) for text in agent_texts for voice, speed in AGENT_VOICES]

    def speak(k: int) -> Pcm:
        _, text, voice, speed = jobs_[k]
        return phone_speech(
            text, work / f"line-{k}", voice=voice, speed=speed, silence_before=0, silence_after=0
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        spoken = list(pool.map(speak, range(len(jobs_))))
    lines = Lines({}, {})
    for (who, text, voice, speed), samples in zip(jobs_, spoken, strict=True):
        getattr(lines, who)[(text, voice, speed)] = samples
    return lines


@dataclass
class Conversation:
    caller: Pcm
    agent: Pcm
    caller_speech_s: float
    agent_speech_s: float
    sentences: int
    holds: int
    categories_said: list[str]


def conversation(lines: Lines, n: int, seconds: float, seed: int) -> Conversation:
    """Call n: the agent greets, the caller complains, turns with gaps, now and then a hold."""
    rng = random.Random(seed * 1000 + n)
    total = round(seconds * RATE)
    legs = {"caller": np.zeros(total, dtype=np.int32), "agent": np.zeros(total, dtype=np.int32)}
    speech = {"caller": 0, "agent": 0}
    caller_voice, agent_voice = rng.choice(CALLER_VOICES), rng.choice(AGENT_VOICES)
    gains = {who: 10 ** (rng.uniform(-4.0, 2.0) / 20) for who in legs}
    sentences = holds = 0

    def say(who: str, text: str, at: float) -> float:
        nonlocal sentences
        voice, speed = caller_voice if who == "caller" else agent_voice
        samples = getattr(lines, who)[(text, voice, speed)]
        start = round(at * RATE)
        if start >= total:
            return at
        part = samples[: total - start].astype(np.int32)
        legs[who][start : start + part.size] += (part * gains[who]).astype(np.int32)
        speech[who] += part.size
        sentences += 1
        return at + float(samples.size) / RATE

    complaints = rng.sample(list(ENGLISH), rng.randint(1, 3))
    categories = sorted({c for _, c in complaints if c})
    everyday = [*EVERYDAY_SENTENCES, *CALLER_EXTRA]
    t = say("agent", GREETING, rng.uniform(0.3, 0.8)) + rng.uniform(0.3, 1.0)
    while t < seconds:
        turn = [complaints.pop(0)[0]] if complaints else rng.sample(everyday, rng.randint(1, 2))
        for text in turn:
            t = say("caller", text, t) + rng.uniform(0.15, 0.45)
        t += rng.uniform(0.3, 1.2)
        if rng.random() < 0.15:  # the agent types, both sides quiet
            t += rng.uniform(2.0, 6.0)
            holds += 1
        for text in rng.sample(AGENT_LINES, rng.randint(1, 2)):
            t = say("agent", text, t) + rng.uniform(0.15, 0.4)
        t += rng.uniform(0.3, 1.2)
    noise = np.random.default_rng(seed * 1000 + n)
    out: dict[str, Pcm] = {}
    for who, leg in legs.items():
        line = leg + noise.normal(0.0, LINE_NOISE[who], total).astype(np.int32)
        out[who] = mulaw_decode(mulaw_encode(np.clip(line, -32768, 32767).astype(np.int16)))
    return Conversation(
        out["caller"],
        out["agent"],
        round(speech["caller"] / RATE, 2),
        round(speech["agent"] / RATE, 2),
        sentences,
        holds,
        categories,
    )


@dataclass
class Injected:
    uniqueid: str
    base: str
    caller_speech_s: float
    agent_speech_s: float
    sentences: int
    holds: int
    categories_said: list[str]


def write_recordings(
    platform: Platform, lines: Lines, calls: int, seconds: float, seed: int
) -> list[Injected]:
    """The files MixMonitor leaves: <base>-caller.wav, <base>-agent.wav and the mix <base>.wav."""
    today = datetime.now(platform.settings.site.zone).strftime("%Y/%m/%d")
    folder = platform.state_dir / "recordings" / today
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Injected] = []
    for n in range(calls):
        talk = conversation(lines, n, seconds, seed)
        base = folder / f"bench-{n}"
        sf.write(f"{base}-caller.wav", talk.caller, RATE, subtype="PCM_16")
        sf.write(f"{base}-agent.wav", talk.agent, RATE, subtype="PCM_16")
        mix = np.clip(talk.caller.astype(np.int32) + talk.agent.astype(np.int32), -32768, 32767)
        sf.write(f"{base}.wav", mix.astype(np.int16), RATE, subtype="PCM_16")
        made.append(
            Injected(
                f"bench-{n}",
                str(base),
                talk.caller_speech_s,
                talk.agent_speech_s,
                talk.sentences,
                talk.holds,
                talk.categories_said,
            )
        )
    return made


def answer_all(platform: Platform, calls: Sequence[Injected], seconds: float, hang_up_in: float) -> None:
    """As the tracker at AgentConnect: the call rows (answered) and their recording rows, one
    unit of work. Backdated so that the recordings are ``seconds`` long at the planned hang-up."""
    answered = utcnow() + timedelta(seconds=hang_up_in - seconds)
    with platform.db.unit_of_work() as session:
        for k, call in enumerate(calls):
            began = answered - timedelta(seconds=25)
            session.add(
                Call(
                    uniqueid=call.uniqueid,
                    linkedid=call.uniqueid,
                    channel=f"PJSIP/bench-{k:08x}",
                    caller_number=f"1380000{k:04d}",
                    called_number="12345",
                    trunk="bench",
                    started_at=began,
                    answered_at=began,
                    queued_at=began + timedelta(seconds=15),
                    agent_connected_at=answered,
                    ivr_path="office_hours,greeting,to_agent",
                    route="queue",
                    queue="main",
                    agent=f"bench.agent{k % 30}",
                )
            )
            start_call_recording(
                session,
                call_uniqueid=call.uniqueid,
                base_path=call.base,
                started_at=answered,
                settings=platform.settings.recording,
            )


def hang_up_all(platform: Platform, calls: Sequence[Injected]) -> datetime:
    """As the tracker at Hangup, for every call at one instant: one unit of work; the finishing
    jobs are queued by the after-commit hook. Returns the instant (Recording.ended_at)."""
    uids = [c.uniqueid for c in calls]
    with platform.db.unit_of_work() as session:
        now = utcnow()
        for call in session.scalars(select(Call).where(Call.uniqueid.in_(uids))):
            call.ended_at = now
            call.disposition = Disposition.ANSWERED
            call.hangup_cause = "Normal Clearing"
            call.duration_seconds = max(0, round((now - call.started_at).total_seconds()))
            stopped = call_ended(session, call_uniqueid=call.uniqueid, ended_at=now)
            assert stopped, f"no recording row to stop for {call.uniqueid}"
    return now


# ----- watching the workers ---------------------------------------------------------------------
def parents() -> dict[int, int]:
    """Every process's parent, from one pass over /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            found[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


def children_of(pid: int, parent: dict[int, int] | None = None) -> list[int]:
    return [child for child, up in (parent or parents()).items() if up == pid]


class TreeCpu:
    """CPU seconds of a process and its children since the first sample; children that come and go
    count for as long as they were seen (a pool child replaced in between loses its last second)."""

    def __init__(self, root: Callable[[], int]) -> None:
        self._root = root
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._started = False

    def sample(self, parent: dict[int, int] | None = None) -> float:
        try:
            root = self._root()
        except (OSError, ValueError):
            return self.seconds
        for pid in [root, *children_of(root, parent)]:
            try:
                own = cpu_seconds(pid)[0]
            except (OSError, ValueError, IndexError):
                continue
            self._first.setdefault(pid, own if not self._started else 0.0)
            self._last[pid] = own
        self._started = True
        return self.seconds

    @property
    def seconds(self) -> float:
        return sum(self._last[p] - self._first[p] for p in self._last)

    @property
    def processes(self) -> int:
        return len(self._last)


class Monitor:
    """Every second: CPU of the asr and recorder workers and Asterisk, the machine, and which
    recordings are finished and transcribed (the first time each is seen so)."""

    def __init__(self, platform: Platform, ids: Sequence[int]) -> None:
        self.platform = platform
        self.ids = list(ids)
        self.asr = TreeCpu(lambda: platform.component_pid("asr"))
        self.recorder = TreeCpu(lambda: platform.component_pid("recorder"))
        ast = platform.instance.pid
        assert ast is not None, "Asterisk is not running"
        self.asterisk = TreeCpu(lambda: ast)
        me = os.getpid()
        self.bench = TreeCpu(lambda: me)  # this process and its sipp callers: the load generator
        self.finished_seen: dict[int, float] = {}
        self.transcribed_seen: dict[int, float] = {}
        self.failed: set[int] = set()
        self.timeline: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self.t0 = time.time()
        self._machine0 = machine_cpu()

    def start(self) -> None:
        self.t0 = time.time()
        self._machine0 = machine_cpu()
        for tree in (self.asr, self.recorder, self.asterisk, self.bench):
            tree.sample()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as exc:  # a sample lost (a busy database) is not the run lost
                print(f"    monitor: {type(exc).__name__}: {exc}", flush=True)
            self._stop.wait(1.0)

    def sample(self) -> None:
        now = time.time()
        with self.platform.db.unit_of_work() as session:
            finished = session.scalars(
                select(Recording.id).where(
                    Recording.id.in_(self.ids),
                    Recording.status.not_in([RecordingStatus.RECORDING, RecordingStatus.STOPPED]),
                )
            ).all()
            transcribed = session.scalars(
                select(Transcript.recording_id).where(Transcript.recording_id.in_(self.ids))
            ).all()
            failed = session.scalars(
                select(Recording.id).where(
                    Recording.id.in_(self.ids), Recording.asr_status == AsrStatus.FAILED
                )
            ).all()
        # Given up by the pipeline (asr_error says why); kept once seen, since a duplicate job the
        # sweeper queued may set it running again.
        self.failed = (self.failed | set(failed)) - set(transcribed)
        for rid in finished:
            self.finished_seen.setdefault(rid, now)
        for rid in transcribed:
            self.transcribed_seen.setdefault(rid, now)
        busy, total = machine_cpu()
        parent = parents()
        self.timeline.append(
            {
                "t": round(now - self.t0, 2),
                "asr_cpu_s": round(self.asr.sample(parent), 2),
                "recorder_cpu_s": round(self.recorder.sample(parent), 2),
                "asterisk_cpu_s": round(self.asterisk.sample(parent), 2),
                "bench_cpu_s": round(self.bench.sample(parent), 2),
                "machine_busy_pct": round(
                    100 * (busy - self._machine0[0]) / max(1, total - self._machine0[1]), 1
                ),
                "finished": len(finished),
                "transcribed": len(transcribed),
                "asr_failed": len(self.failed),
            }
        )
        self._machine0 = (busy, total)

    def done(self) -> bool:
        """Every recording transcribed, or its transcription given up (a failure is reported)."""
        return len(self.transcribed_seen) + len(self.failed) >= len(self.ids)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def between(self, start: float, end: float, key: str) -> float | None:
        return between(self.timeline, self.t0, start, end, key)


def between(
    timeline: Sequence[dict[str, Any]], t0: float, start: float, end: float, key: str
) -> float | None:
    """CPU seconds of ``key`` between two wall-clock times, from a timeline that began at t0."""
    inside = [p for p in timeline if start - t0 <= p["t"] <= end - t0]
    if len(inside) < 2:
        return None
    return float(inside[-1][key] - inside[0][key])


# ----- one platform ---------------------------------------------------------------------------------
def settings_for(workers: int, recording: bool = True) -> Callable[[Path], str]:
    def make(state_dir: Path) -> str:
        return (
            bench_settings(state_dir)
            + f'\n[redis]\nurl = "redis://127.0.0.1:{REDIS_PORT}/0"\n\n[asr]\nworkers = {workers}\n'
            + f"\n[recording]\nenabled = {str(recording).lower()}\n"
        )

    return make


def other_platforms() -> list[str]:
    """`hotline run` processes on this machine that are not this benchmark's."""
    out = subprocess.run(["pgrep", "-f", "hotline.cli run"], capture_output=True, text=True).stdout
    mine = {int(p) for p in children_of(os.getpid())}
    found = []
    for pid in (int(p) for p in out.split()):
        if pid in mine or pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        config = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"HOTLINE_CONFIG=")), "")
        found.append(f"{pid} {config}")
    return found


def round_figures(run: Run) -> dict[str, Any]:
    return {
        "failures": run.failures,
        "placed": run.calls,
        "rtt_p50_ms": _ms(run.round_trips.get("p50_ms")),
        "rtt_p99_ms": _ms(run.round_trips.get("p99_ms")),
        "rtt_count": run.round_trips.get("count"),
        "asterisk_cpu_pct": run.asterisk_cpu_pct,
        "fastagi_cpu_pct": run.fastagi_cpu_pct,
        "tracker_cpu_pct": run.tracker_cpu_pct,
        "peak_live_calls": run.peak_live_calls,
        "window_seconds": round(run.window_seconds, 1),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def call_side(rounds: Sequence[Run]) -> dict[str, Any]:
    """ivr_load's summary figures over rounds: medians of CPU, sum of failures, worst p99."""
    trips = [r.round_trips for r in rounds if r.round_trips.get("count")]
    return {
        "rounds": len(rounds),
        "failures": sum(r.failures for r in rounds),
        "placed": sum(r.calls for r in rounds),
        "rtt_p50_ms": round(statistics.median(t["p50_ms"] for t in trips), 2) if trips else None,
        "rtt_p99_ms_median": round(statistics.median(t["p99_ms"] for t in trips), 2) if trips else None,
        "rtt_p99_ms_worst": round(max(t["p99_ms"] for t in trips), 2) if trips else None,
        "asterisk_cpu_pct": round(statistics.median(r.asterisk_cpu_pct for r in rounds), 1)
        if rounds
        else None,
        "fastagi_cpu_pct": round(statistics.median(r.fastagi_cpu_pct for r in rounds), 1) if rounds else None,
        "tracker_cpu_pct": round(statistics.median(r.tracker_cpu_pct for r in rounds), 1) if rounds else None,
        "peak_live_calls": max((r.peak_live_calls for r in rounds), default=0),
    }


def spread(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "min_s": round(min(values), 2),
        "p50_s": round(percentile(values, 50), 2),
        "p95_s": round(percentile(values, 95), 2),
        "max_s": round(max(values), 2),
    }


def ivr_round(
    platform: Platform, args: argparse.Namespace, pcap: Path, work: Path, label: str
) -> tuple[Run, float, float]:
    for attempt in (1, 2):
        began = time.time()
        try:
            run = one_run(platform, MODE, args.calls, args.hold, args.rate, pcap, work / label)
            break
        except ValueError as exc:
            # A pid file read while the supervisor rewrote it (ivr_load's restart_agi), before any
            # call was placed: the round is started again once.
            if attempt == 2:
                raise
            print(f"    {label}: {exc}; starting the round again", flush=True)
            time.sleep(2)
    ended = time.time()
    print(
        f"    {label}: failures {run.failures}/{run.calls}, Asterisk {run.asterisk_cpu_pct}% of a core, "
        f"FastAGI {run.fastagi_cpu_pct}%, round trips p50 {_ms(run.round_trips.get('p50_ms'))} ms "
        f"p99 {_ms(run.round_trips.get('p99_ms'))} ms, peak {run.peak_live_calls} live calls",
        flush=True,
    )
    try:
        platform.settle(180)
    except AssertionError as exc:
        print(f"    not settled: {exc}", flush=True)
    return run, began, ended


def measure(
    platform: Platform, args: argparse.Namespace, lines: Lines, pcap: Path, work: Path, workers: int
) -> dict[str, Any]:
    jobs.configure(platform.settings)  # as the tracker: call_ended's after-commit hook queues jobs
    others_before = other_platforms()
    print(f"  writing {args.calls} recordings of {args.seconds:.0f} s (two legs and the mix) ...", flush=True)
    made = write_recordings(platform, lines, args.calls, args.seconds, args.seed)

    print(f"  (a) the IVR load alone: {args.baseline_rounds} rounds", flush=True)
    baseline: list[Run] = []
    for k in range(args.baseline_rounds):
        baseline.append(ivr_round(platform, args, pcap, work, f"alone-{k + 1}")[0])

    print(f"  (b) the IVR load while {args.calls} recorded calls end together", flush=True)
    print(f"      ({METHOD})", flush=True)
    hang_up_in = 5.0 + args.calls / args.rate  # about when the first round's callers are all up
    answer_all(platform, made, args.seconds, hang_up_in)
    with platform.db.unit_of_work() as session:
        ids = list(
            session.scalars(
                select(Recording.id).where(Recording.call_uniqueid.in_([c.uniqueid for c in made]))
            )
        )
    assert len(ids) == len(made), f"{len(ids)} recording rows for {len(made)} calls"
    monitor = Monitor(platform, ids)
    injection: dict[str, Any] = {}

    def inject() -> None:
        started = time.monotonic()
        deadline = started + 60
        live = 0
        while time.monotonic() < deadline:
            live = int((platform.status("tracker") or {}).get("live_calls") or 0)
            if live >= args.calls:
                break
            time.sleep(0.2)
        instant = hang_up_all(platform, made)
        injection.update(
            {
                "hang_up_at": instant.isoformat(),
                "seconds_after_round_start": round(time.monotonic() - started, 2),
                "ivr_live_calls_at_hang_up": live,
            }
        )
        print(
            f"      {len(made)} recorded calls hung up at {instant:%H:%M:%S.%f} ({live} IVR calls up)",
            flush=True,
        )

    monitor.start()
    injector = threading.Thread(target=inject, name="hang-up", daemon=True)
    loaded: list[dict[str, Any]] = []
    loaded_runs: list[Run] = []
    deadline = time.monotonic() + 60 * args.max_minutes
    k = 0
    ivr_ended = time.time()
    injector.start()
    while (
        time.monotonic() < deadline
        and (k == 0 or not monitor.done())
        and (args.loaded_rounds == 0 or k < args.loaded_rounds)
    ):
        k += 1
        done_before = len(monitor.transcribed_seen)
        run, began, ended = ivr_round(platform, args, pcap, work, f"loaded-{k}")
        ivr_ended = ended
        if k == 1:
            injector.join(5)
        loaded_runs.append(run)

        def during(key: str, began: float = began, ended: float = ended) -> float | None:
            spent = monitor.between(began, ended, key)
            return None if spent is None else round(100 * spent / (ended - began), 1)

        loaded.append(
            {
                **round_figures(run),
                "transcribed_before": done_before,
                "transcribed_after": len(monitor.transcribed_seen),
                "archived_after": len(monitor.finished_seen),
                "asr_cpu_pct_during": during("asr_cpu_s"),
                "recorder_cpu_pct_during": during("recorder_cpu_s"),
                "load_generator_cpu_pct_during": during("bench_cpu_s"),
                "machine_busy_pct_during": _busy(monitor, began, ended),
            }
        )
        print(
            f"      transcripts stored: {len(monitor.transcribed_seen)}/{len(ids)}, "
            f"archives: {len(monitor.finished_seen)}/{len(ids)}",
            flush=True,
        )
    injector.join(5)
    # The last round's callers gone (sipp done), before the platform settled.
    injection["ivr_load_ended_at"] = datetime.fromtimestamp(ivr_ended, UTC).isoformat()
    injection["loaded_rounds"] = k
    if not monitor.done():
        print(f"      IVR load stopped after {k} rounds; waiting for the rest of the transcripts", flush=True)
    while time.monotonic() < deadline and not monitor.done():
        time.sleep(1)
    time.sleep(1.5)
    monitor.stop()
    others_after = other_platforms()
    return report_of(
        platform,
        args,
        workers,
        made,
        ids,
        monitor,
        injection,
        baseline,
        loaded_runs,
        loaded,
        others_before + others_after,
    )


def report_of(
    platform: Platform,
    args: argparse.Namespace,
    workers: int,
    made: Sequence[Injected],
    ids: Sequence[int],
    monitor: Monitor,
    injection: dict[str, Any],
    baseline: Sequence[Run],
    loaded_runs: Sequence[Run],
    loaded: list[dict[str, Any]],
    others: list[str],
) -> dict[str, Any]:
    by_uid = {c.uniqueid: c for c in made}
    ivr_end = (
        datetime.fromisoformat(injection["ivr_load_ended_at"]) if "ivr_load_ended_at" in injection else None
    )
    with platform.db.unit_of_work() as session:
        rows = session.execute(
            select(Recording, Transcript)
            .outerjoin(Transcript, Transcript.recording_id == Recording.id)
            .where(Recording.id.in_(ids))
            .order_by(Recording.id)
        ).all()
        hits: dict[int, set[str]] = {}
        for rid, category in session.execute(
            select(KeyPhraseHit.recording_id, KeyPhraseHit.category).where(KeyPhraseHit.recording_id.in_(ids))
        ):
            hits.setdefault(rid, set()).add(category)
        per: list[dict[str, Any]] = []
        for rec, tr in rows:
            hung = rec.ended_at
            assert hung is not None
            archive = Path(rec.archive_path) if rec.archive_path else None
            archived = (
                datetime.fromtimestamp(archive.stat().st_mtime, UTC) if archive and archive.exists() else None
            )
            call = by_uid[rec.call_uniqueid]
            spotted = sorted(hits.get(rec.id, set()))
            per.append(
                {
                    "uniqueid": rec.call_uniqueid,
                    "status": rec.status,
                    "asr_status": rec.asr_status,
                    "asr_attempts": rec.asr_attempts,
                    "asr_error": rec.asr_error or None,
                    "duration_ms": rec.duration_ms,
                    "archive_bytes": rec.size_bytes,
                    "archive_s": round((archived - hung).total_seconds(), 3) if archived else None,
                    "archive_seen_s": _seen(monitor.finished_seen.get(rec.id), hung),
                    "asr_last_start_s": round((rec.asr_started_at - hung).total_seconds(), 3)
                    if rec.asr_started_at
                    else None,
                    "transcript_s": round((tr.created_at - hung).total_seconds(), 3) if tr else None,
                    "processing_s": round(tr.processing_seconds, 3) if tr else None,
                    "speech_s": {"caller": call.caller_speech_s, "agent": call.agent_speech_s},
                    "sentences": call.sentences,
                    "holds": call.holds,
                    "transcript_chars": len(tr.text) if tr else 0,
                    "categories_said": call.categories_said,
                    "categories_spotted": spotted,
                    "during_ivr": {
                        "archive": bool(archived and ivr_end and archived <= ivr_end),
                        "transcript": bool(tr and ivr_end and tr.created_at <= ivr_end),
                    },
                }
            )
    turnaround = summarise(
        per, monitor.timeline, monitor.t0, injection, args.seconds, time.time(), monitor.asr.processes
    )
    return {
        "asr_workers": workers,
        "other_platforms_seen": sorted(set(others)),
        "injection": injection,
        "turnaround": turnaround,
        "call_side": {"alone": call_side(baseline), "under_transcription": call_side(loaded_runs)},
        "rounds": {"alone": [round_figures(r) for r in baseline], "under_transcription": loaded},
        "runs": {
            "alone": [asdict(r) for r in baseline],
            "under_transcription": [asdict(r) for r in loaded_runs],
        },
        "recordings": per,
        "monitor_started_at": monitor.t0,
        "timeline": monitor.timeline,
    }


def summarise(
    per: Sequence[dict[str, Any]],
    timeline: Sequence[dict[str, Any]],
    t0: float,
    injection: dict[str, Any],
    seconds: float,
    end_time: float,
    asr_processes: int,
) -> dict[str, Any]:
    """The turnaround figures from the per-recording results and the monitor's timeline."""
    archive_s = [p["archive_s"] for p in per if p["archive_s"] is not None]
    transcript_s = [p["transcript_s"] for p in per if p["transcript_s"] is not None]
    # A transcription that failed and was never stored (the status may read "running" again: a
    # duplicate job the sweeper queued).
    failed = [p for p in per if p["transcript_s"] is None and p["asr_error"]]
    window = max(transcript_s) if transcript_s and len(transcript_s) + len(failed) == len(per) else None
    audio = len(transcript_s) * seconds  # what was transcribed
    # CPU over the transcription window: from the hang-up to the last transcript (or the end).
    hung_at = datetime.fromisoformat(injection["hang_up_at"]).timestamp() if injection else 0.0
    ivr_end = (
        datetime.fromisoformat(injection["ivr_load_ended_at"]) if "ivr_load_ended_at" in injection else None
    )
    until = hung_at + window + 1.0 if window else end_time
    span = until - hung_at

    def cpu(key: str) -> float:
        return between(timeline, t0, hung_at, until, key) or 0.0

    def pct(spent: float) -> float | None:
        return round(100 * spent / span, 1) if span > 0 else None

    asr_cpu, recorder_cpu, asterisk_cpu = cpu("asr_cpu_s"), cpu("recorder_cpu_s"), cpu("asterisk_cpu_s")
    said = sum(len(p["categories_said"]) for p in per)
    found = sum(len(set(p["categories_said"]) & set(p["categories_spotted"])) for p in per)
    not_said = sum(len(set(p["categories_spotted"]) - set(p["categories_said"])) for p in per)
    processing = [p["processing_s"] for p in per if p["processing_s"] is not None]
    busy = [q["machine_busy_pct"] for q in timeline if hung_at <= q["t"] + t0 <= until]
    archives = [p["archive_bytes"] for p in per if p["archive_bytes"]]
    return {
        "recordings": len(per),
        "archived": len(archive_s),
        "transcribed": len(transcript_s),
        "hang_up_to_archive": spread(archive_s),
        "hang_up_to_transcript": spread(transcript_s),
        "all_transcribed_s": round(window, 1) if window else None,
        "ivr_load_after_hang_up_s": round(ivr_end.timestamp() - hung_at, 1) if ivr_end else None,
        "archived_while_ivr_ran": sum(1 for p in per if p["during_ivr"]["archive"]),
        "transcribed_while_ivr_ran": sum(1 for p in per if p["during_ivr"]["transcript"]),
        "call_audio_s": round(audio, 1),
        "leg_audio_s": round(2 * audio, 1),
        "call_audio_s_per_wall_s": round(audio / window, 2) if window else None,
        "leg_audio_s_per_wall_s": round(2 * audio / window, 2) if window else None,
        "job_processing_s_median": round(statistics.median(processing), 2) if processing else None,
        "job_rtf_per_leg_second_median": round(statistics.median(processing) / (2 * seconds), 4)
        if processing
        else None,
        "asr_attempts_over_1": sum(1 for p in per if p["asr_attempts"] > 1),
        "asr_failed": [
            {"uniqueid": p["uniqueid"], "attempts": p["asr_attempts"], "error": p["asr_error"]}
            for p in failed
        ],
        "asr_cpu_s": round(asr_cpu, 1),
        "asr_cpu_pct": pct(asr_cpu),
        "asr_cpu_s_per_call_audio_s": round(asr_cpu / audio, 4) if audio else None,
        "asr_processes_seen": asr_processes,
        "recorder_cpu_s": round(recorder_cpu, 1),
        "recorder_cpu_pct": pct(recorder_cpu),
        "asterisk_cpu_pct": pct(asterisk_cpu),
        "load_generator_cpu_pct": pct(cpu("bench_cpu_s")),
        "machine_busy_pct_of_all_cores": round(statistics.fmean(busy), 1) if busy else None,
        "window_s": round(span, 1),
        "archive_mb_per_recorded_hour": round(statistics.fmean(archives) / seconds * 3600 / 1e6, 2)
        if archives
        else None,
        "key_phrase_categories_said": said,
        "key_phrase_categories_spotted": found,
        "key_phrase_categories_not_said": not_said,
    }


def resummarise(path: Path) -> list[dict[str, Any]]:
    """The summaries of a results file made again from its raw parts (recordings, timeline)."""
    report = json.loads(path.read_text(encoding="utf-8"))
    for run in report["runs"]:
        t0 = run.get("monitor_started_at")
        if t0 is None:  # files from before it was kept: the first archive seen gives it
            hung = datetime.fromisoformat(run["injection"]["hang_up_at"]).timestamp()
            first_seen = min(
                p["archive_seen_s"] for p in run["recordings"] if p["archive_seen_s"] is not None
            )
            first_point = next(q["t"] for q in run["timeline"] if q["finished"] >= 1)
            t0 = run["monitor_started_at"] = round(hung + first_seen - first_point, 2)
        run["turnaround"] = summarise(
            run["recordings"],
            run["timeline"],
            t0,
            run["injection"],
            report["parameters"]["recorded_seconds"],
            t0 + run["timeline"][-1]["t"],
            run["turnaround"]["asr_processes_seen"],
        )
    report["resummarised"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    runs: list[dict[str, Any]] = report["runs"]
    return runs


def _busy(monitor: Monitor, start: float, end: float) -> float | None:
    """The whole machine's busy share (% of all cores) between two wall-clock times."""
    inside = [p["machine_busy_pct"] for p in monitor.timeline if start <= p["t"] + monitor.t0 <= end]
    return round(statistics.fmean(inside), 1) if inside else None


def _seen(at: float | None, hung: datetime) -> float | None:
    return round(at - hung.timestamp(), 2) if at is not None else None


# ----- output ------------------------------------------------------------------------------------
def print_table(runs: Sequence[dict[str, Any]]) -> None:
    print()
    print("Recorded calls ending together (injected as finished calls, not live agent calls): seconds")
    print(
        f"{'ASR workers':>11}  {'archive p50/p95/max':>21}  {'transcript p50/p95/max':>24}  "
        f"{'all done':>8}  {'audio s/s':>9}  {'asr CPU %':>9}  {'rec CPU %':>9}  {'attempts>1':>10}  "
        f"{'IVR ran s':>9}  {'done then':>9}  {'failed':>6}"
    )
    for r in runs:
        t = r["turnaround"]
        a, s = t["hang_up_to_archive"], t["hang_up_to_transcript"]

        def three(d: dict[str, Any]) -> str:
            return f"{d['p50_s']:.1f}/{d['p95_s']:.1f}/{d['max_s']:.1f}" if d.get("count") else "–"

        print(
            f"{r['asr_workers']:>11}  {three(a):>21}  {three(s):>24}  {t['all_transcribed_s'] or '–':>8}  "
            f"{t['call_audio_s_per_wall_s'] or '–':>9}  {t['asr_cpu_pct']:>9}  {t['recorder_cpu_pct']:>9}  "
            f"{t['asr_attempts_over_1']:>10}  {t['ivr_load_after_hang_up_s']!s:>9}  "
            f"{t['transcribed_while_ivr_ran']:>9}  {len(t['asr_failed']):>6}"
        )
    print()
    calls = runs[0]["rounds"]["alone"][0]["placed"] if runs and runs[0]["rounds"]["alone"] else "?"
    print(f"The IVR's {calls}-call FastAGI load, alone and while the recordings are finished and transcribed")
    print(
        f"{'ASR workers':>11}  {'IVR load':<20} {'rounds':>6} {'failed/placed':>13} {'RTT p50':>8} "
        f"{'p99 med':>8} {'p99 worst':>9} {'Asterisk %':>10} {'FastAGI %':>9}"
    )
    for r in runs:
        for phase in ("alone", "under_transcription"):
            c = r["call_side"][phase]
            print(
                f"{r['asr_workers']:>11}  {phase.replace('_', ' '):<20} {c['rounds']:>6} "
                f"{c['failures']:>6}/{c['placed']:<6} {c['rtt_p50_ms']!s:>8} {c['rtt_p99_ms_median']!s:>8} "
                f"{c['rtt_p99_ms_worst']!s:>9} {c['asterisk_cpu_pct']!s:>10} {c['fastagi_cpu_pct']!s:>9}"
            )


def save(path: Path, head: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    report = {**head, "when": time.strftime("%Y-%m-%d %H:%M:%S %z"), "runs": runs}
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    with contextlib.suppress(OSError, ValueError, KeyError):
        # --recording-cost's own measurement (dated inside) stays in the file.
        report["recording_cost"] = json.loads(path.read_text(encoding="utf-8"))["recording_cost"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def recording_cost(args: argparse.Namespace, pcap: Path, work: Path) -> dict[str, Any]:
    """The IVR rounds alone on a platform with recording off, then on one with it on (MixMonitor
    before every Queue()): what recording itself costs the live calls, before any transcription."""
    found: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "other_platforms": other_platforms(),
    }
    for enabled in (False, True):
        label = "recording_on" if enabled else "recording_off"
        print(f"starting the platform with [recording] enabled = {str(enabled).lower()} ...", flush=True)
        platform = start_platform(settings_for(1, recording=enabled), prefix=PREFIX)
        try:
            rounds = [
                ivr_round(platform, args, pcap, work, f"{label}-{k + 1}")[0]
                for k in range(args.baseline_rounds)
            ]
        finally:
            stop_platform(platform, work / f"artifacts-{label}")
        found[label] = {**call_side(rounds), "rounds_detail": [round_figures(r) for r in rounds]}
    found["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=90, help="IVR callers per round, and recorded calls")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each recorded call")
    parser.add_argument("--asr-workers", type=int, nargs="+", default=[1, 2], help="a platform for each")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds each IVR caller stays on")
    parser.add_argument("--rate", type=float, default=30.0, help="new IVR calls per second")
    parser.add_argument("--baseline-rounds", type=int, default=2, help="IVR rounds alone, per platform")
    parser.add_argument(
        "--loaded-rounds",
        type=int,
        default=3,
        help="IVR rounds after the hang-up (0: until every transcript is stored); then the rest is awaited",
    )
    parser.add_argument(
        "--max-minutes", type=float, default=15.0, help="longest wait for the transcripts after the hang-up"
    )
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--output", type=Path, default=RESULTS / "transcription_load.json")
    parser.add_argument(
        "--resummarise",
        action="store_true",
        help="no run: make the summaries of --output again from its recordings and timelines",
    )
    parser.add_argument(
        "--recording-cost",
        action="store_true",
        help="no transcription: --baseline-rounds IVR rounds with recording off, then on; kept under "
        "recording_cost in --output",
    )
    args = parser.parse_args()
    if args.resummarise:
        print_table(resummarise(args.output))
        return 0
    if args.recording_cost:
        work = Path(tempfile.mkdtemp(prefix=PREFIX + "work-", dir="/tmp"))
        wav = speak_to_wav("您好，我想反映一下小区门口的路灯已经坏了好几天了。", "cmn", work / "speech.wav")
        pcap = work / "call.pcap"
        write_call_pcap(pcap, wav, [], args.hold)
        cost = recording_cost(args, pcap, work)
        report = json.loads(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
        report["recording_cost"] = cost
        args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        for label in ("recording_off", "recording_on"):
            c = cost[label]
            print(
                f"{label}: failed {c['failures']}/{c['placed']}, "
                f"Asterisk {c['asterisk_cpu_pct']}% of a core, RTT p50 {c['rtt_p50_ms']} ms, "
                f"p99 worst {c['rtt_p99_ms_worst']} ms"
            )
        shutil.rmtree(work, ignore_errors=True)
        return 0
    if args.calls < 1 or not 5 <= args.seconds <= 3600 or args.baseline_rounds < 1 or args.loaded_rounds < 0:
        parser.error(
            "--calls at least 1, --seconds between 5 and 3600, --baseline-rounds at least 1, "
            "--loaded-rounds at least 0"
        )
    if any(not 1 <= w <= 8 for w in args.asr_workers):
        parser.error("--asr-workers between 1 and 8")

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    others = other_platforms()
    if others:
        print(
            f"note: other platforms are running ({len(others)}): the figures share the CPU with them",
            flush=True,
        )
    work = Path(tempfile.mkdtemp(prefix=PREFIX + "work-", dir="/tmp"))
    print(f"transcription load benchmark (work files in {work})", flush=True)
    print(METHOD, flush=True)
    print("synthesising the call audio (espeak-ng) ...", flush=True)
    lines = synthesise(work / "lines")
    wav = speak_to_wav("您好，我想反映一下小区门口的路灯已经坏了好几天了。", "cmn", work / "speech.wav")
    pcap = work / "call.pcap"
    write_call_pcap(pcap, wav, [], args.hold)  # as benchmarks.ivr_load: a sentence, then silence
    head: dict[str, Any] = {
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "other_platforms_at_start": others,
        "method": METHOD,
        "versions": {"pocketsphinx": version("pocketsphinx"), "espeak-ng": espeak_version()},
        "parameters": {
            "calls": args.calls,
            "recorded_seconds": args.seconds,
            "asr_workers": args.asr_workers,
            "ivr_hold_seconds": args.hold,
            "ivr_rate": args.rate,
            "ivr_mode": MODE,
            "baseline_rounds": args.baseline_rounds,
            "loaded_rounds": args.loaded_rounds or "until every transcript is stored",
            "seed": args.seed,
            "audio": "espeak-ng English (caller: en 150 or en-us 170 wpm; agent: en-us 160 or en 175), "
            "8 kHz, noise floor, G.711 mu-law round trip; turns with 0.3-1.2 s gaps and 2-6 s holds",
            "engine": "pocketsphinx (default settings: hotline vocabulary)",
            "archive_format": "opus (default)",
        },
    }
    runs: list[dict[str, Any]] = []
    status = 0
    try:
        for workers in args.asr_workers:
            print(f"starting the platform with [asr] workers = {workers} ...", flush=True)
            platform = start_platform(settings_for(workers), prefix=PREFIX)
            try:
                with contextlib.suppress(Exception):
                    head["versions"]["asterisk"] = platform.rx("core show version").split()[1]
                runs.append(measure(platform, args, lines, pcap, work / f"workers-{workers}", workers))
                save(args.output, head, runs)
            finally:
                print("  stopping the platform ...", flush=True)
                try:
                    stop_platform(platform, work / f"artifacts-{workers}")
                except AssertionError as exc:
                    print(f"  {exc}", file=sys.stderr, flush=True)
                    status = 1
    except KeyboardInterrupt:
        print("transcription_load: interrupted", file=sys.stderr)
        return 130
    save(args.output, head, runs)
    print_table(runs)
    for r in runs:
        t = r["turnaround"]
        for failure in t["asr_failed"]:
            print(
                f"asr workers {r['asr_workers']}: transcription of {failure['uniqueid']} failed "
                f"({failure['attempts']} attempts): {failure['error']}"
            )
        if t["transcribed"] + len(t["asr_failed"]) < t["recordings"]:
            print(
                f"asr workers {r['asr_workers']}: not every recording was transcribed in time; logs in {work}"
            )
            status = 1
        if t["asr_failed"]:
            status = 1
    if status == 0:
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
