"""The hotline's key phrases found in transcripts, and transcript text made searchable.

Both rest on one way of cutting text into tokens (``hotline.text_tokens``: CJK characters one by
one, other words lower-cased), so what is spotted, indexed and searched agrees whatever the
engine printed ("路灯" matches "路 灯" and "路灯" alike).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from hotline.settings import KeyPhraseSettings
from hotline.text_tokens import search_text, tokens
from recording.asr.base import Segment

__all__ = ["Hit", "search_query_terms", "search_text", "spot", "tokens"]


@dataclass(frozen=True)
class Hit:
    """A key phrase heard once: who said it and when (seconds from the start of the leg)."""

    phrase: str
    category: str
    urgent: bool
    speaker: str
    start: float


def search_query_terms(query: str) -> list[str]:
    """A user's search words as index tokens (query syntax such as OR, * or quotes is just text)."""
    return tokens(query)


def spot(
    segments_by_speaker: Mapping[str, Sequence[Segment]], phrases: Sequence[KeyPhraseSettings]
) -> list[Hit]:
    """Every occurrence of every phrase, per speaker, in time order. Whole words only ("fire" is
    not in "firewall"); a phrase does not run across two segments (a pause lies between them)."""
    wanted = [(setting, tokens(setting.phrase)) for setting in phrases]
    hits = []
    for speaker, segments in segments_by_speaker.items():
        for segment in segments:
            said = list(_timed_tokens(segment))
            words = [token for token, _ in said]
            for setting, phrase in wanted:
                for at in _occurrences(words, phrase):
                    hits.append(
                        Hit(
                            phrase=setting.phrase,
                            category=setting.category,
                            urgent=setting.urgent,
                            speaker=speaker,
                            start=said[at][1],
                        )
                    )
    hits.sort(key=lambda hit: (hit.start, hit.speaker))
    return hits


def _timed_tokens(segment: Segment) -> Iterator[tuple[str, float]]:
    """The segment's tokens, each with the start of the word it came from (of the segment when
    the engine gave no word times)."""
    if not segment.words:
        for token in tokens(segment.text):
            yield token, segment.start
        return
    for word in segment.words:
        for token in tokens(word.text):
            yield token, word.start


def _occurrences(words: Sequence[str], phrase: Sequence[str]) -> Iterator[int]:
    """Start index of each non-overlapping occurrence of ``phrase`` in ``words``."""
    size = len(phrase)
    if size == 0:
        return
    at = 0
    while at + size <= len(words):
        if list(words[at : at + size]) == list(phrase):
            yield at
            at += size
        else:
            at += 1
