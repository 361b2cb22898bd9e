"""Telephone speech for ASR tests and benchmarks, made at run time: espeak-ng, resampled to 8 kHz
by sox (as the call tests' sipp media is), then through G.711 mu-law and back, as a call leg
recorded by Asterisk holds it. Digital silence around it, as between the words of a real call
leg that passed through RTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from telephony.sipp.pcap import speak_to_wav

RATE = 8000
_BIAS = 0x84  # G.711: added to the magnitude so that every segment starts on a power of two
_CLIP = 32635


def mulaw_encode(samples: NDArray[np.int16]) -> NDArray[np.uint8]:
    """G.711 mu-law, the Sun reference algorithm on 16-bit input."""
    linear = samples.astype(np.int32)
    sign = np.where(linear < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(linear), _CLIP) + _BIAS
    exponent = np.clip(np.frexp(magnitude)[1] - 8, 0, 7)  # frexp's exponent is the bit length
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    codes: NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return codes


def mulaw_decode(codes: NDArray[np.uint8]) -> NDArray[np.int16]:
    code = ~codes.astype(np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + _BIAS) << exponent) - _BIAS
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def phone_speech(
    text: str,
    work: Path,
    *,
    voice: str = "en",
    speed: int = 150,
    silence_before: float = 1.0,
    silence_after: float = 0.5,
) -> NDArray[np.int16]:
    """``text`` spoken by espeak-ng as an 8 kHz int16 call leg (``RATE``)."""
    # The call tests' own synthesis (espeak-ng, then sox to 8 kHz PCM): the same speech they send.
    narrow = speak_to_wav(text, voice, work / "8k.wav", speed=speed)
    samples, rate = sf.read(narrow, dtype="int16")
    assert rate == RATE and samples.ndim == 1
    line = mulaw_decode(mulaw_encode(samples))
    before = np.zeros(round(silence_before * RATE), dtype=np.int16)
    after = np.zeros(round(silence_after * RATE), dtype=np.int16)
    return np.concatenate([before, line, after])
