"""ASR speed and key phrases on telephone speech: the real-time factor of each engine.

    .venv/bin/python -m benchmarks.asr_rtf [--repeat 3]

The speech: ten English complaints (espeak-ng ``-v en``) for pocketsphinx and ten Mandarin ones
(``-v cmn``) for vosk, each resampled to 8 kHz by sox and sent through G.711 mu-law and back, with
a second of digital silence before and half a second after, as a recorded call leg holds them
(tests/unit/phone_speech.py). Nine of each hold one key phrase of the default vocabulary; the
last holds none.

Each engine is built once, as an ASR worker does (its load time is reported apart), then
transcribes every utterance ``--repeat`` times. RTF = processing time / audio time, summed over
the utterances; the fastest repeat counts. Wall clock and CPU time (process_time) both, since
other work may share the machine. Engines:
  pocketsphinx-vocabulary   the default: en-us model, hotline vocabulary language model
  pocketsphinx-general      en-us model, the shipped general language model
  vosk                      the folder in HOTLINE__ASR__VOSK_MODEL (e.g. vosk-model-cn-0.22);
                            skipped, saying so, when unset or not a model
Also per engine: the utterances whose key phrase ``recording.vocabulary.spot`` found, the hits
that were not said, and what was heard. Results go to benchmarks/results/asr_rtf.json and stdout.
No aim is set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.ivr_load import machine
from hotline.settings import AsrSettings
from recording.asr import AsrConfigError, AsrEngine, make_engine
from recording.vocabulary import spot
from tests.unit.phone_speech import RATE, phone_speech

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
VOSK_ENV = "HOTLINE__ASR__VOSK_MODEL"

# (what is said, the category its key phrase prefills, or None)
ENGLISH = (
    ("The street light on main road is broken", "street_light"),
    ("There is a water outage in our building", "water_outage"),
    ("I smell a gas leak", "gas_leak"),
    ("We have had no water since this morning", "water_outage"),
    ("There was a power cut last night and the lift stopped", "power_outage"),
    ("The noise from the construction site keeps us awake", "noise"),
    ("Nobody has collected the rubbish for a week", "rubbish"),
    ("A manhole cover is missing on Jiefang Road", "manhole_cover"),
    ("There is a fire in the kitchen of the restaurant downstairs", "fire"),
    ("I would like to ask about the bus timetable", None),
)
MANDARIN = (
    ("我们小区门口的路灯坏了", "street_light"),
    ("我们楼从早上开始停水了", "water_outage"),
    ("楼道里有很重的煤气味", "gas_leak"),
    ("昨天晚上小区停电了", "power_outage"),
    ("楼下工地噪音太大了", "noise"),
    ("垃圾好几天没有人收", "rubbish"),
    ("路口的井盖丢了很危险", "manhole_cover"),
    ("老板欠薪三个月了", "unpaid_wages"),
    ("隔壁厨房着火了", "fire"),
    ("我想查一下我的工单", None),
)


@dataclass
class Utterance:
    text: str
    category: str | None
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


def speak(sentences: tuple[tuple[str, str | None], ...], voice: str, work: Path) -> list[Utterance]:
    return [
        Utterance(text, category, phone_speech(text, work / f"{voice}-{i}", voice=voice))
        for i, (text, category) in enumerate(sentences)
    ]


def measure(name: str, build: Any, utterances: list[Utterance], repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    engine: AsrEngine = build()
    load_seconds = time.perf_counter() - started
    audio = sum(u.seconds for u in utterances)
    vocabulary = AsrSettings().vocabulary
    best_wall = best_cpu = float("inf")
    heard: list[dict[str, Any]] = []
    for round_ in range(repeat):
        wall = cpu = 0.0
        for utterance in utterances:
            w0, c0 = time.perf_counter(), time.process_time()
            segments = engine.transcribe(utterance.samples, RATE)
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            if round_ == 0:
                hits = spot({"caller": segments}, vocabulary)
                heard.append(
                    {
                        "said": utterance.text,
                        "heard": " | ".join(s.text for s in segments),
                        "expected": utterance.category,
                        "spotted": sorted({h.category for h in hits}),
                    }
                )
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    with_phrase = [h for h in heard if h["expected"]]
    return {
        "engine": name,
        "model": engine.model,
        "load_seconds": round(load_seconds, 2),
        "utterances": len(utterances),
        "audio_seconds": round(audio, 2),
        "rtf_wall": round(best_wall / audio, 3),
        "rtf_cpu": round(best_cpu / audio, 3),
        "key_phrases_spotted": sum(h["expected"] in h["spotted"] for h in with_phrase),
        "key_phrases_said": len(with_phrase),
        "hits_not_said": sum(len([c for c in h["spotted"] if c != h["expected"]]) for h in heard),
        "transcripts": heard,
    }


def vosk_model() -> str | None:
    """The model folder to benchmark vosk with, or None after saying why vosk is skipped."""
    folder = os.environ.get(VOSK_ENV, "").strip()
    if not folder or not Path(folder).is_dir():
        where = f"{VOSK_ENV}={folder!r} is not a folder" if folder else f"{VOSK_ENV} is not set"
        print(
            f"vosk skipped: {where}. vosk needs a model folder: download one such as "
            f"vosk-model-cn-0.22 (https://alphacephei.com/vosk/models), unpack it and set {VOSK_ENV} "
            "to its folder.",
            flush=True,
        )
        return None
    return folder


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["engine"]) for r in rows)
    print(f"{'':{width}}  {'load s':>6} {'audio s':>7} {'RTF wall':>8} {'RTF cpu':>7}  key phrases")
    for r in rows:
        print(
            f"{r['engine']:{width}}  {r['load_seconds']:>6.2f} {r['audio_seconds']:>7.1f} "
            f"{r['rtf_wall']:>8.3f} {r['rtf_cpu']:>7.3f}  "
            f"{r['key_phrases_spotted']}/{r['key_phrases_said']}, {r['hits_not_said']} not said"
        )


def espeak_version() -> str:
    shown = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=False)
    return shown.stdout.split(" Data at:")[0].strip()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="times each engine hears each utterance")
    parser.add_argument("--output", type=Path, default=RESULTS / "asr_rtf.json")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat at least 1")
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hotline-bench-asr-") as tmp:
        english = speak(ENGLISH, "en", Path(tmp))
        for grammar in ("vocabulary", "general"):
            settings = AsrSettings(engine="pocketsphinx", pocketsphinx_grammar=grammar)
            print(f"pocketsphinx-{grammar} ...", flush=True)
            rows.append(
                measure(f"pocketsphinx-{grammar}", lambda s=settings: make_engine(s), english, args.repeat)
            )
        folder = vosk_model()
        if folder is not None:
            settings = AsrSettings(engine="vosk", vosk_model=Path(folder))
            print("vosk ...", flush=True)
            try:
                mandarin = speak(MANDARIN, "cmn", Path(tmp))
                rows.append(measure("vosk", lambda: make_engine(settings), mandarin, args.repeat))
            except AsrConfigError as exc:
                print(f"vosk skipped: {exc}", file=sys.stderr)
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            "pocketsphinx": version("pocketsphinx"),
            "vosk": version("vosk"),
            "espeak-ng": espeak_version(),
        },
        "parameters": {
            "repeat": args.repeat,
            "audio": "espeak-ng -s 150, sox to 8 kHz, G.711 mu-law and back, 1 s silence before, 0.5 s after",
            "vosk_model": os.environ.get(VOSK_ENV) or None,
        },
        "engines": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
