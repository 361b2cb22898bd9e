"""Speech recognition engines behind one small interface; only this package imports them."""

from __future__ import annotations

from hotline.settings import AsrSettings
from recording.asr.base import AsrConfigError, AsrEngine, Pcm, Segment, Word

__all__ = ["AsrConfigError", "AsrEngine", "Pcm", "Segment", "Word", "make_engine"]


def make_engine(asr: AsrSettings) -> AsrEngine:
    """The engine the settings name, loaded and ready; slow (a model is read), so build it once
    per worker process. A setting that cannot work raises AsrConfigError naming it."""
    # Imported here: each library loads a large native module, and a worker needs only one.
    if asr.engine == "vosk":
        from recording.asr.vosk_engine import VoskEngine

        return VoskEngine(asr.vosk_model)
    from recording.asr.pocketsphinx_engine import PocketsphinxEngine

    return PocketsphinxEngine(asr.pocketsphinx_grammar, asr.vocabulary)
