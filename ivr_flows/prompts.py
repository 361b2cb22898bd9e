"""What the caller hears: prompts by name and language, and the files Asterisk plays.

Every prompt has a text in ``ivr_flows/prompts/<language>.toml``. ``PromptLibrary.generate``
speaks each text with espeak-ng and converts it with sox into the three forms Asterisk plays
without transcoding: 8 kHz mono 16-bit PCM WAV (slin), raw mu-law and raw A-law. A site's own
recording, ``ivr.prompts_dir/<language>/<name>.wav``, wins over the generated file.

Asterisk is given a path without extension and picks the format that matches the call's codec.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from asterisk_conf.layout import InstanceLayout
from hotline.settings import Settings
from ivr_flows.schema import PROMPT_NAME

# espeak-ng voice and speed (words per minute) per site language. Its Mandarin is slow at the
# default speed, and a greeting should be over in a few seconds.
VOICES: Final = {"zh-CN": ("cmn", 190), "en": ("en", 170)}
TEXTS_DIR: Final = Path(__file__).with_name("prompts")
# Part of every stored hash: change it when the way files are made changes, and every prompt
# is made again on the next run.
RECIPE: Final = "espeak-ng | sox 8k mono s16 pad 0.2 gain -3 | ul al v1"
MOH_NAME: Final = "hotline-calm"
# Asterisk reads only plain 16-bit PCM WAV (not WAVE_FORMAT_EXTENSIBLE), hence -t wavpcm.
_WAV_8K: Final = ("-t", "wavpcm", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer")
_RAW: Final = (("ulaw", "ul"), ("alaw", "al"))
# A slow C-major pentatonic phrase, all below 1 kHz so G.711 carries it cleanly; 0 is a rest.
_MOH_NOTES: Final = (
    523.25, 659.25, 783.99, 659.25, 587.33, 523.25, 440.00, 0,
    440.00, 523.25, 587.33, 659.25, 587.33, 523.25, 392.00, 0,
)  # fmt: skip
_MOH_NOTE_SECONDS: Final = 0.9


class PromptError(Exception):
    """A prompt could not be made; the message says which tool failed and why."""


@functools.cache
def prompt_texts(language: str) -> Mapping[str, str]:
    """The shipped texts of one language, by prompt name."""
    if language not in VOICES:
        raise ValueError(f"no prompts for language {language!r}; known: {', '.join(VOICES)}")
    data = tomllib.loads((TEXTS_DIR / f"{language}.toml").read_text(encoding="utf-8"))
    for name, text in data.items():
        if not PROMPT_NAME.fullmatch(name) or not isinstance(text, str) or not text.strip():
            raise PromptError(f"{language}.toml: {name!r} must be a prompt name with a non-empty text")
    return MappingProxyType(data)


@dataclass(frozen=True)
class GenerationReport:
    made: tuple[str, ...]  # "zh-CN/welcome", "moh/hotline-calm", ...
    unchanged: tuple[str, ...]


class PromptLibrary:
    """Where each prompt's file is, and how the generated ones are made."""

    def __init__(self, settings: Settings, layout: InstanceLayout) -> None:
        self._generated = layout.prompts
        self._moh = layout.moh
        recorded = settings.ivr.prompts_dir
        # Path("") reads back as "."; an unset prompts_dir must not mean the working directory.
        self._recorded = recorded.resolve() if str(recorded) not in ("", ".") else None

    def path(self, name: str, language: str) -> str:
        """Absolute path of a prompt without extension; a site recording wins over generated."""
        self._check(name, language)
        if self._recorded is not None:
            recorded = self._recorded / language / name
            if (self._recorded / language / f"{name}.wav").is_file():
                return str(recorded)
        return str(self._generated / language / name)

    def exists(self, name: str, language: str) -> bool:
        """Whether a flow may use this prompt: it has a text, or the site recorded it."""
        self._check(name, language)
        if name in prompt_texts(language):
            return True
        return self._recorded is not None and (self._recorded / language / f"{name}.wav").is_file()

    @property
    def moh_file(self) -> Path:
        return self._moh / f"{MOH_NAME}.wav"

    def generate(
        self, progress: Callable[[str], None] | None = None, *, languages: Iterable[str] = tuple(VOICES)
    ) -> GenerationReport:
        """Make every prompt whose text changed since the last run, and the music on hold."""
        report = progress or (lambda _message: None)
        made: list[str] = []
        unchanged: list[str] = []
        for language in languages:
            for name, text in prompt_texts(language).items():
                label = f"{language}/{name}"
                if self._make_prompt(language, name, text):
                    made.append(label)
                    report(f"{label}: made")
                else:
                    unchanged.append(label)
                    report(f"{label}: unchanged")
        label = f"moh/{MOH_NAME}"
        if self._make_moh():
            made.append(label)
            report(f"{label}: made")
        else:
            unchanged.append(label)
            report(f"{label}: unchanged")
        return GenerationReport(tuple(made), tuple(unchanged))

    def _check(self, name: str, language: str) -> None:
        if language not in VOICES:
            raise ValueError(f"no prompts for language {language!r}")
        if not PROMPT_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a prompt name")

    def _make_prompt(self, language: str, name: str, text: str) -> bool:
        voice, speed = VOICES[language]
        spoken = " ".join(text.split())  # one line: espeak-ng treats line breaks as pauses
        command = ["espeak-ng", "-v", voice, "-s", str(speed), "--stdin", "-w"]
        return _make_if_changed(
            self._generated / language,
            name,
            _digest(voice, str(speed), spoken),
            lambda work: _run([*command, str(work)], spoken),
            effects=("pad", "0.2", "0.2", "gain", "-n", "-3"),
        )

    def _make_moh(self) -> bool:
        def synthesise(work: Path) -> None:
            notes = []
            for index, frequency in enumerate(_MOH_NOTES):
                note = work.with_name(f"note{index:02d}.wav")
                tone = ["synth", str(_MOH_NOTE_SECONDS), "sine", str(frequency)]
                # Soft attack and long release, at a low level: a calm sound, not a ringing tone.
                shape = ["fade", "q", "0.15", str(_MOH_NOTE_SECONDS), "0.5", "vol", "0.2"]
                _run(["sox", "-n", *_WAV_8K, str(note), *tone, *(shape if frequency else ["vol", "0"])])
                notes.append(str(note))
            _run(["sox", *notes, *_WAV_8K, str(work)])

        # Asterisk plays every file in a music-on-hold folder, so the hash is kept beside it.
        stamp = self._moh.with_name(f"{self._moh.name}.sha256")
        digest = _digest("moh", repr(_MOH_NOTES))
        return _make_if_changed(self._moh, MOH_NAME, digest, synthesise, effects=(), stamp=stamp)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join((RECIPE, *parts)).encode("utf-8")).hexdigest()


def _make_if_changed(
    target: Path,
    name: str,
    digest: str,
    source: Callable[[Path], None],
    *,
    effects: tuple[str, ...],
    stamp: Path | None = None,
) -> bool:
    """Make target/name.{wav,ulaw,alaw} from ``source`` unless the stored hash says they are current.

    Files are made in a scratch folder and moved into place, the hash last: a run that dies
    half-way leaves a stale hash, and the next run makes the prompt again.
    """
    stamp = stamp or target / f"{name}.sha256"
    outputs = [target / f"{name}.wav", *(target / f"{name}.{ext}" for ext, _ in _RAW)]
    current = stamp.is_file() and stamp.read_text(encoding="ascii").strip() == digest
    if current and all(path.is_file() and path.stat().st_size > 0 for path in outputs):
        return False
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".making-") as scratch:
        work = Path(scratch)
        raw = work / "source.wav"
        source(raw)
        wav = work / f"{name}.wav"
        _run(["sox", str(raw), *_WAV_8K, str(wav), *effects])
        for ext, sox_type in _RAW:
            _run(["sox", str(wav), "-t", sox_type, str(work / f"{name}.{ext}")])
        for path in outputs:
            os.replace(work / path.name, path)
        (work / "stamp").write_text(digest + "\n", encoding="ascii")
        os.replace(work / "stamp", stamp)
    return True


def _run(command: list[str], text: str | None = None) -> None:
    try:
        subprocess.run(
            command,
            input=text.encode("utf-8") if text is not None else None,
            capture_output=True,
            check=True,
            timeout=120,
        )
    except FileNotFoundError:
        raise PromptError(f"{command[0]} is not installed (apt-get install espeak-ng sox)") from None
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip()[-400:]
        raise PromptError(f"{command[0]} failed ({exc.returncode}): {detail}") from None
    except subprocess.TimeoutExpired:
        raise PromptError(f"{command[0]} took longer than 120 s") from None
