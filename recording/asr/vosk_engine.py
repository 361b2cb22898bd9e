"""vosk (Kaldi) with a model folder the administrator downloads, e.g. vosk-model-cn-0.22 for Mandarin.

Nothing here ever lets vosk fetch a model: ``vosk.Model()`` without a path downloads from the
internet, and a failed load is a bare ``Exception``. Both become an AsrConfigError that names the
setting to fix, so the job fails with it and an alert tells the administrator.
"""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import vosk

from recording.asr.audio_input import prepare
from recording.asr.base import AsrConfigError, Pcm, Segment, Word

DEFAULT_RATE = 16000  # every current Vosk model but the old 8 kHz telephone ones
CHUNK_SECONDS = 0.2  # fed to Kaldi at a time: a result is read out at each pause it finds
HOW_TO_FIX = (
    "Download one such as vosk-model-cn-0.22 (https://alphacephei.com/vosk/models), unpack it and "
    "set asr.vosk_model (or HOTLINE__ASR__VOSK_MODEL) to its folder"
)


def model_folder(setting: Path | str) -> Path:
    """The setting's folder if it looks like a Vosk model; an AsrConfigError saying why not."""
    text = str(setting).strip()
    if text in ("", "."):  # Path("") reads back as "."
        raise AsrConfigError(f"asr.vosk_model is not set: vosk needs a model folder. {HOW_TO_FIX}")
    path = Path(text).expanduser()
    if not path.exists():
        raise AsrConfigError(f"asr.vosk_model: no Vosk model at {path} (nothing there). {HOW_TO_FIX}")
    if not path.is_dir():
        raise AsrConfigError(
            f"asr.vosk_model: {path} is a file; a Vosk model is a folder (am/, conf/, graph/). {HOW_TO_FIX}"
        )
    # Current models keep the acoustic model in am/, the oldest ones at the top.
    if not (path / "am" / "final.mdl").is_file() and not (path / "final.mdl").is_file():
        raise AsrConfigError(
            f"asr.vosk_model: no Vosk model at {path} (a folder with am/final.mdl, conf/, graph/). "
            f"{HOW_TO_FIX}"
        )
    return path


def model_rate(path: Path) -> int:
    """The rate the model's features were computed at (conf/mfcc.conf), which Kaldi needs."""
    try:
        conf = (path / "conf" / "mfcc.conf").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return DEFAULT_RATE
    found = re.search(r"^\s*--sample-frequency\s*=\s*(\d+)", conf, re.MULTILINE)
    return int(found.group(1)) if found else DEFAULT_RATE


class VoskEngine:
    name = "vosk"

    def __init__(self, setting: Path | str) -> None:
        path = model_folder(setting)
        vosk.SetLogLevel(-1)  # Kaldi's INFO lines would flood the worker's log
        try:
            self._model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception, whatever went wrong
            raise AsrConfigError(
                f"asr.vosk_model: vosk could not load the model at {path} ({exc}; is it complete "
                f"and unpacked?). {HOW_TO_FIX}"
            ) from exc
        self._rate = model_rate(path)
        self.model = f"{path.name} (vosk {version('vosk')}, {path})"

    def transcribe(self, samples: Pcm, sample_rate: int) -> list[Segment]:
        pcm = prepare(samples, sample_rate, self._rate)
        if pcm.size == 0:
            return []
        recogniser = vosk.KaldiRecognizer(self._model, float(self._rate))
        recogniser.SetWords(True)
        data = pcm.tobytes()
        step = int(self._rate * CHUNK_SECONDS) * 2  # bytes: int16 samples
        results = []
        for at in range(0, len(data), step):
            if recogniser.AcceptWaveform(data[at : at + step]):
                results.append(recogniser.Result())
        results.append(recogniser.FinalResult())
        found = (segment_of(json.loads(r)) for r in results)
        return [segment for segment in found if segment is not None]


def segment_of(result: dict[str, Any]) -> Segment | None:
    """One Kaldi result (``{"result": [{"word", "start", "end", "conf"}...], "text"}``) as a
    segment; vosk-model-cn gives Chinese words separated by spaces, kept as they are."""
    words = tuple(
        Word(
            text=str(item["word"]),
            start=round(float(item["start"]), 3),
            end=round(float(item["end"]), 3),
            confidence=round(float(item["conf"]), 3) if "conf" in item else None,
        )
        for item in result.get("result") or ()
        if not _is_marker(str(item.get("word", "")))
    )
    if not words:
        return None
    return Segment(start=words[0].start, end=words[-1].end, text=" ".join(w.text for w in words), words=words)


def _is_marker(word: str) -> bool:
    """Nothing said, or the models' unknown-word marks ([unk], <UNK>)."""
    return not word.strip() or word.startswith(("[", "<"))
