"""Bytes per recorded hour, and CPU per recorded hour, of each recording archive format.

    .venv/bin/python -m benchmarks.recording_storage [--minutes 10] [--repeat 3] [--seed 12345]

No platform, no Asterisk: the worker's file work alone (recording.audio), on this machine. The input
is a synthetic call made the way MixMonitor would have recorded it, two 8 kHz 16-bit legs:
  caller  a citizen speaking Mandarin (espeak-ng -v cmn), over a noisy PSTN line
  agent   an agent answering in English (espeak-ng -v en-us), from a quieter headset
Each sentence is synthesised once at 22.05 kHz, resampled to 8 kHz (soxr), set to a speaking level
(about -20 dBFS RMS, varied per sentence); the legs then take turns as in a real conversation:
turns of one to three sentences, gaps between turns, now and then a hold while the agent types,
short back-channels ("嗯", "okay") over the other's long turns. Each leg gets its own noise floor
and a G.711 µ-law round trip (what a PSTN call goes through), like the files Asterisk writes.

For each archive format the call is written by recording.audio.write_archive (so with its temp file,
fsync and rename) ``--repeat`` times: the size, extrapolated to one recorded hour, and the median
CPU time (process time) and wall time per recorded hour. Reading costs too: decoding the archive
to PCM (listening to GSM, or ASR from the archive) and the call page's waveform peaks. Beside them:
Asterisk's own PCM files for the same call (mix + two legs), and for Opus stereo a sweep of
libsndfile's compression level with the cross-talk between channels (the caller's leg left, the
agent listening on the right: how much of the caller comes out of the agent's channel), which is
why recording.audio does not use 1.0 for stereo: libopus then folds both channels into one.
Results go to benchmarks/results/recording_storage.json and stdout. No aim is set.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from benchmarks.ivr_load import machine
from recording import audio

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RATE = 8000
HOUR = 3600.0

# A 12345 call: a street light out, a case made. The caller's lines are the citizen's (Mandarin),
# the agent's the hotline's (English). Back-channels are said over the other side's long turns.
CALLER_LINES = (
    "你好，我想反映一个问题。",
    "我们小区门口的路灯已经坏了一个多星期了。",
    "晚上特别黑，老人和小孩出门很不方便。",
    "地址是幸福路一百二十八号，阳光小区东门。",
    "在城东区，靠近地铁站那边。",
    "大概十天了吧，之前也有邻居打过电话，但是一直没有人来修。",
    "我的电话是一三七零零零一二三四。",
    "还有，旁边的垃圾桶也好几天没有人清理了，味道很大。",
    "好的，那大概多久能修好？",
    "五个工作日是吧，那我等你们的消息。",
    "那好，谢谢你。",
    "没有了，再见。",
)
CALLER_BACKCHANNELS = ("嗯", "好的", "对", "是的")
AGENT_LINES = (
    "Hello, this is the twelve three four five citizen service hotline. How can I help you?",
    "I see. Could you tell me the exact address, please?",
    "Which district is that in?",
    "How long has the street light been out?",
    "Thank you. Let me check whether there is already an open case for that location.",
    "There is no open case yet, so I am creating one for you now.",
    "Can I have a phone number where the department can reach you?",
    "Your case number is two zero two six, one one two one, zero zero four seven.",
    "The street lighting department will reply within five working days.",
    "I have also added the rubbish bins to the same case.",
    "Is there anything else I can help you with?",
    "Thank you for calling. Goodbye.",
)
AGENT_BACKCHANNELS = ("Okay.", "Right.", "Mm-hm.", "I see.")


@dataclass(frozen=True)
class Voice:
    name: str
    espeak: str  # espeak-ng voice
    speed: int  # words per minute
    pitch: int  # 0-99
    level_dbfs: float  # speaking level (RMS while speaking)
    noise_dbfs: float  # the line's noise floor under everything


CALLER = Voice("caller", "cmn", 170, 45, -20.0, -55.0)  # a mobile on a street: noise -55 dBFS
AGENT = Voice("agent", "en-us", 165, 55, -18.0, -66.0)  # a headset, browser noise suppression


# ----- the conversation -------------------------------------------------------------------------------
def speak(text: str, voice: Voice) -> np.ndarray:
    """One sentence from espeak-ng at 8 kHz, float, at the voice's speaking level."""
    shown = subprocess.run(
        [
            "espeak-ng",
            "-v",
            voice.espeak,
            "-s",
            str(voice.speed),
            "-p",
            str(voice.pitch),
            "--stdout",
            "--",
            text,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data, rate = sf.read(io.BytesIO(shown.stdout), dtype="float64")
    samples = np.asarray(soxr.resample(data, rate, RATE, quality="HQ"), dtype=np.float64)
    voiced = samples[np.abs(samples) > 0.01]  # espeak's own pauses do not count for the level
    return samples * (10 ** (voice.level_dbfs / 20) / max(1e-9, float(np.sqrt(np.mean(voiced**2)))))


def phrasebook(lines: tuple[str, ...], voice: Voice) -> list[np.ndarray]:
    return [speak(line, voice) for line in lines]


def conversation(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Both legs of a call of at least *seconds*, float at 8 kHz, before the line (noise, G.711)."""
    rng = np.random.default_rng(seed)
    books = {
        "caller": (phrasebook(CALLER_LINES, CALLER), phrasebook(CALLER_BACKCHANNELS, CALLER)),
        "agent": (phrasebook(AGENT_LINES, AGENT), phrasebook(AGENT_BACKCHANNELS, AGENT)),
    }
    total = int(seconds * RATE)
    legs = {"caller": np.zeros(total + 60 * RATE), "agent": np.zeros(total + 60 * RATE)}
    at, turn, holds, turns = int(0.8 * RATE), "agent", 0, 0  # the agent answers first
    while at < total:
        lines, _ = books[turn]
        other = "caller" if turn == "agent" else "agent"
        start = at
        for _ in range(rng.integers(1, 4)):  # one to three sentences
            sentence = lines[rng.integers(len(lines))] * 10 ** (rng.uniform(-3, 3) / 20)
            legs[turn][at : at + len(sentence)] += sentence
            at += len(sentence) + int(rng.uniform(0.25, 0.7) * RATE)
        if at - start > 4 * RATE and rng.random() < 0.5:  # the listener's "mm-hm" over a long turn
            nod = books[other][1][rng.integers(len(books[other][1]))]
            where = int(rng.uniform(start + RATE, at - 2 * RATE))
            legs[other][where : where + len(nod)] += nod
        turns += 1
        at += int(rng.uniform(0.3, 1.5) * RATE)
        if turn == "agent" and rng.random() < 0.1:  # "one moment please": the agent types, nobody talks
            at += int(rng.uniform(5, 15) * RATE)
            holds += 1
        turn = other
    end = max(total, at)
    facts = {"turns": turns, "holds": holds}
    return legs["caller"][:end], legs["agent"][:end], facts


def on_the_line(speech: np.ndarray, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """The leg as Asterisk writes it: speech plus the line's noise, through G.711 µ-law (libsndfile's
    own encoder and decoder), as int16."""
    noisy = speech + rng.standard_normal(len(speech)) * 10 ** (voice.noise_dbfs / 20)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(noisy, -1.0, 1.0), RATE, format="WAV", subtype="ULAW")
    buffer.seek(0)
    pcm, _ = sf.read(buffer, dtype="int16")
    return np.asarray(pcm, dtype=np.int16)


def speech_fraction(speech: np.ndarray) -> float:
    """Share of 20 ms frames in which the leg speaks (before noise), for the record."""
    frames = speech[: len(speech) // 160 * 160].reshape(-1, 160)
    return round(float(np.mean(np.sqrt(np.mean(frames**2, axis=1)) > 10 ** (-40 / 20))), 3)


# ----- measuring ------------------------------------------------------------------------------------
@dataclass
class Timed:
    cpu: list[float]
    wall: list[float]

    def per_hour(self, seconds: float) -> dict[str, float]:
        return {
            "cpu_s_per_hour": round(statistics.median(self.cpu) * HOUR / seconds, 3),
            "wall_s_per_hour": round(statistics.median(self.wall) * HOUR / seconds, 3),
        }


def timed(repeat: int, work: Callable[[], object]) -> Timed:
    result = Timed([], [])
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        work()
        result.cpu.append(time.process_time() - cpu)
        result.wall.append(time.perf_counter() - wall)
    return result


def mb_per_hour(size: int, seconds: float) -> float:
    return round(size * HOUR / seconds / 1e6, 2)


def archive_row(
    label: str, path: Path, seconds: float, encode: Timed, decode: Timed, draw: Timed
) -> dict[str, Any]:
    info = sf.info(str(path))
    size = path.stat().st_size
    return {
        "label": label,
        "file": path.name,
        "container": f"{info.format}/{info.subtype}",
        "channels": info.channels,
        "sample_rate": info.samplerate,
        "bytes": size,
        "mb_per_hour": mb_per_hour(size, seconds),
        "kbit_per_s": round(size * 8 / seconds / 1000, 2),
        "duration_error_ms": round((audio.audio_duration_seconds(path) - seconds) * 1000, 1),
        "encode": encode.per_hour(seconds),
        "decode_to_pcm": decode.per_hour(seconds),
        "peaks": draw.per_hour(seconds),
    }


def measure_archives(
    work: Path, caller: np.ndarray, agent: np.ndarray, seconds: float, repeat: int
) -> list[dict[str, Any]]:
    cases: list[tuple[str, audio.ArchiveFormat, np.ndarray | None]] = [
        ("opus: Ogg Opus stereo, caller | agent", "opus", agent),
        ("opus, one leg alone (a voicemail): mono", "opus", None),
        ("gsm: GSM 6.10 in WAV, mono mix", "gsm", agent),
        ("wav: PCM stereo, caller | agent", "wav", agent),
    ]
    rows = []
    for label, fmt, other in cases:
        rows.append(measure_archive(work, label, fmt, caller, other, seconds, repeat))
        print(f"  {label}: {rows[-1]['mb_per_hour']} MB/hour", flush=True)
    return rows


def measure_archive(
    work: Path,
    label: str,
    fmt: audio.ArchiveFormat,
    caller: np.ndarray,
    agent: np.ndarray | None,
    seconds: float,
    repeat: int,
) -> dict[str, Any]:
    base = work / f"{fmt}-{'mono' if agent is None else 'stereo'}"
    path = audio.archive_path(base, fmt)
    encode = timed(repeat, lambda: audio.write_archive(base, fmt, caller=caller, agent=agent, rate=RATE))
    decode = timed(repeat, lambda: audio.decode_to_pcm_wav(path, work / "listen.wav"))
    draw = timed(repeat, lambda: audio.peaks(path))
    return archive_row(label, path, seconds, encode, decode, draw)


def asterisk_pcm(work: Path, caller: np.ndarray, agent: np.ndarray, seconds: float) -> dict[str, Any]:
    """What MixMonitor leaves for the same call: the mix and both legs, 16-bit mono PCM WAVs."""
    files = {
        "call.wav": audio.mix_to_mono(caller, agent),
        "call-caller.wav": caller,
        "call-agent.wav": agent,
    }
    size = 0
    for name, samples in files.items():
        with wave.open(str(work / name), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(samples.astype("<i2").tobytes())
        size += (work / name).stat().st_size
    return {
        "label": "Asterisk's PCM: mix + caller leg + agent leg (mono WAVs)",
        "files": list(files),
        "bytes": size,
        "mb_per_hour": mb_per_hour(size, seconds),
        "kbit_per_s": round(size * 8 / seconds / 1000, 2),
    }


def cross_talk(path: Path, source: np.ndarray) -> dict[str, float]:
    """How much of the left channel's input (*source*, the caller) comes out of the right channel:
    the gain of its projection onto the decoded right channel, in dB, and their correlation. The
    right channel's own input is the agent's line noise alone (the agent listening), so a right
    channel that is only the agent's scores about -100 dB or lower and a correlation near 0; libopus
    folding stereo into one channel shows as about -6 dB (half of each side) and a correlation near 1."""
    data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    n = min(len(data), len(source))
    right, caller = data[:n, 1], source[:n].astype(np.float64) / 32768
    gain = abs(float(np.dot(right, caller))) / float(np.dot(caller, caller))
    correlation = float(np.dot(right, caller)) / max(
        1e-12, float(np.linalg.norm(right) * np.linalg.norm(caller))
    )
    return {
        "cross_talk_db": round(20 * float(np.log10(max(gain, 1e-6))), 1),
        "correlation": round(correlation, 3),
    }


def opus_stereo_sweep(work: Path, call: Call, seconds: float) -> list[dict[str, Any]]:
    """libsndfile's Opus compression level for stereo: the call's size, and whether the channels stay
    apart. The encoder's target is ((1 - level) * 250 + 6) kbit/s per channel."""
    rows = []
    both = np.column_stack([call.caller, call.agent])
    probe = np.column_stack([call.caller, call.agent_listening])
    for level in (0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0):
        path, probed = work / "sweep-call.opus", work / "sweep-probe.opus"
        sf.write(str(path), both, RATE, format="OGG", subtype="OPUS", compression_level=level)
        sf.write(str(probed), probe, RATE, format="OGG", subtype="OPUS", compression_level=level)
        size = path.stat().st_size
        rows.append(
            {
                "compression_level": level,
                "target_kbit_per_s_per_channel": round((1 - level) * 250 + 6, 1),
                "mb_per_hour": mb_per_hour(size, seconds),
                "kbit_per_s": round(size * 8 / seconds / 1000, 2),
                **cross_talk(probed, call.caller),
                "used_by_write_archive": level == audio.OPUS_STEREO_COMPRESSION,
            }
        )
    return rows


# ----- the run ------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    import importlib.metadata

    found = {name: importlib.metadata.version(name) for name in ("soundfile", "soxr", "numpy")}
    found["libsndfile"] = sf.__libsndfile_version__
    shown = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=30)
    found["espeak-ng"] = shown.stdout.split("text-to-speech:")[-1].split("Data")[0].strip()
    return found


@dataclass(frozen=True)
class Call:
    caller: np.ndarray  # int16, as MixMonitor's r() leg
    agent: np.ndarray  # int16, as its t() leg
    agent_listening: np.ndarray  # the agent's leg with the agent silent: the line's noise alone
    facts: dict[str, Any]


def make_call(minutes: float, seed: int) -> Call:
    caller_speech, agent_speech, facts = conversation(minutes * 60, seed)
    rng = np.random.default_rng(seed + 1)
    facts |= {
        "seconds": round(len(caller_speech) / RATE, 2),
        "caller_speaking_fraction": speech_fraction(caller_speech),
        "agent_speaking_fraction": speech_fraction(agent_speech),
    }
    return Call(
        caller=on_the_line(caller_speech, CALLER, rng),
        agent=on_the_line(agent_speech, AGENT, rng),
        agent_listening=on_the_line(np.zeros_like(agent_speech), AGENT, rng),
        facts=facts,
    )


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    print(f"synthesising a {args.minutes:g}-minute call (espeak-ng) ...", flush=True)
    call = make_call(args.minutes, args.seed)
    seconds = len(call.caller) / RATE
    print(f"  {seconds:.1f} s, {call.facts['turns']} turns, {call.facts['holds']} holds", flush=True)
    print("writing archives ...", flush=True)
    archives = measure_archives(work, call.caller, call.agent, seconds, args.repeat)
    print("opus stereo compression levels ...", flush=True)
    sweep = opus_stereo_sweep(work, call, seconds)
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        # CPU figures are this process's own time; a busy machine still slows them a little.
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "versions": versions(),
        "parameters": {
            "minutes": args.minutes,
            "repeat": args.repeat,
            "seed": args.seed,
            "sample_rate": RATE,
            "caller_voice": CALLER.__dict__,
            "agent_voice": AGENT.__dict__,
            "line": "noise floor per leg, then G.711 µ-law encode/decode (libsndfile)",
            "opus_stereo_compression": audio.OPUS_STEREO_COMPRESSION,
            "opus_mono_compression": audio.OPUS_MONO_COMPRESSION,
        },
        "call": call.facts,
        "archives": archives,
        "asterisk_pcm": asterisk_pcm(work, call.caller, call.agent, seconds),
        "opus_stereo_levels": sweep,
    }


def print_table(report: dict[str, Any]) -> None:
    rows = report["archives"]
    width = max(len(r["label"]) for r in [*rows, report["asterisk_pcm"]])
    heads = f"{'MB':>7} {'kbit/s':>7} {'encode':>8} {'decode':>8} {'peaks':>7}  CPU s"
    print(f"\n{'per recorded hour':{width}}  {heads}")
    for row in rows:
        cpu = [row[k]["cpu_s_per_hour"] for k in ("encode", "decode_to_pcm", "peaks")]
        print(
            f"{row['label']:{width}}  {row['mb_per_hour']:>7.2f} {row['kbit_per_s']:>7.2f} "
            f"{cpu[0]:>8.2f} {cpu[1]:>8.2f} {cpu[2]:>7.2f}"
        )
    pcm = report["asterisk_pcm"]
    print(f"{pcm['label']:{width}}  {pcm['mb_per_hour']:>7.2f} {pcm['kbit_per_s']:>7.2f}")
    print(f"\n{'Opus stereo level':>17} {'target/ch':>10} {'MB/hour':>8} {'cross-talk':>11} {'corr':>6}")
    for row in report["opus_stereo_levels"]:
        mark = "  <- write_archive" if row["used_by_write_archive"] else ""
        print(
            f"{row['compression_level']:>17.2f} {row['target_kbit_per_s_per_channel']:>7.1f} k "
            f"{row['mb_per_hour']:>8.2f} {row['cross_talk_db']:>8.1f} dB {row['correlation']:>6.3f}{mark}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the synthetic call")
    parser.add_argument("--repeat", type=int, default=3, help="times each archive is written (median)")
    parser.add_argument("--seed", type=int, default=12345, help="the conversation's random turns")
    parser.add_argument("--output", type=Path, default=RESULTS / "recording_storage.json")
    args = parser.parse_args()
    if not 1.0 <= args.minutes <= 120.0 or args.repeat < 1:
        parser.error("--minutes between 1 and 120, --repeat at least 1")
    if shutil.which("espeak-ng") is None:
        parser.error("espeak-ng is not installed (apt-get install espeak-ng)")
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-recording-", dir="/tmp"))
    try:
        report = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(report)
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
