"""What every speech recogniser gives the platform: timed segments of words, or a config error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Pcm = NDArray[np.int16]


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds from the start of the leg's audio."""

    text: str
    start: float
    end: float
    confidence: float | None = None


@dataclass(frozen=True)
class Segment:
    """One stretch of speech between pauses, as the engine heard it."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


class AsrConfigError(Exception):
    """The settings cannot give a working engine (no model, wrong folder): retrying will not help,
    an administrator must fix the named setting."""


class AsrEngine(Protocol):
    """A loaded recogniser. Loading a model takes seconds, so a worker builds one and reuses it for
    every recording it transcribes; ``transcribe`` keeps no state between calls."""

    name: str  # "pocketsphinx" or "vosk", stored with each transcript
    model: str  # the model and vocabulary used, in words, stored with each transcript

    def transcribe(self, samples: Pcm, sample_rate: int) -> list[Segment]:
        """Mono int16 samples at any rate to segments in time order; silence gives []."""
        ...
