"""A call leg as an engine wants to hear it: mono int16 at the model's rate, never digital silence."""

from __future__ import annotations

import numpy as np
import soxr

from recording.asr.base import Pcm

# Standard deviation of the noise floor added before recognition, in int16 steps (about -70 dBFS).
NOISE_FLOOR = 10.0


def mono_int16(samples: object) -> Pcm:
    """The samples as a 1-D int16 array; anything else is a caller's bug, said plainly."""
    array = np.asarray(samples)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"ASR input must be mono (one channel), got an array of shape {array.shape}")
    if array.dtype != np.int16:
        raise ValueError(f"ASR input must be int16 samples, got {array.dtype}")
    return array


def resample(samples: Pcm, rate: int, to_rate: int) -> Pcm:
    """Telephone legs are 8 kHz; the models were trained on 16 kHz speech."""
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if rate == to_rate or samples.size == 0:
        return samples
    out: Pcm = soxr.resample(samples, rate, to_rate)
    return out


def with_noise_floor(samples: Pcm) -> Pcm:
    """Add a faint, fixed (seeded) noise floor like a real line's.

    Synthesised prompts and gaps in RTP leave runs of exact zeros; their log energy pulls
    pocketsphinx's cepstral mean and noise estimate far off, and words next to them are misheard
    ("the street" became "three"). Seeded, so one recording always gives one transcript.
    """
    if samples.size == 0:
        return samples
    noise = np.random.default_rng(0).normal(0.0, NOISE_FLOOR, samples.size)
    return np.clip(samples + noise, -32768, 32767).astype(np.int16)


def prepare(samples: object, sample_rate: int, to_rate: int) -> Pcm:
    """Mono int16 at ``to_rate`` with a noise floor: what each engine decodes."""
    return with_noise_floor(resample(mono_int16(samples), sample_rate, to_rate))
