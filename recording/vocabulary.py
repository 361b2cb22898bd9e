"""The hotline's key phrases found in transcripts, and transcript text made searchable.

Both rest on one way of cutting text into tokens, so that what is spotted, indexed and searched
agrees whatever the engine printed:
- every CJK character is a token of its own. vosk-model-cn prints "路 灯 坏 了" or "路灯 坏了"
  depending on its word list, and neither SQLite FTS5 (unicode61) nor PostgreSQL
  (to_tsvector('simple')) can cut Chinese into words; one character per token lets both
  phrase-search it without a segmenter, and "路灯" matches however the engine spaced it;
- other letters and digits form words, lower-cased after NFKC (full-width "ＡＢＣ１" is "abc1");
- anything else (spaces, punctuation, apostrophes, underscores) only separates, as it does for
  both databases' tokenisers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from hotline.settings import KeyPhraseSettings
from recording.asr.base import Segment

# Han (with extensions and compatibility ideographs), kana and bopomofo: written without spaces.
_CJK = (
    "\u3040-\u30ff\u3100-\u312f\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003134f"
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


@dataclass(frozen=True)
class Hit:
    """A key phrase heard once: who said it and when (seconds from the start of the leg)."""

    phrase: str
    category: str
    urgent: bool
    speaker: str
    start: float


def tokens(text: str) -> list[str]:
    """The text's tokens: CJK characters one by one, other words lower-cased."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def search_text(text: str) -> str:
    """What the full-text index holds for a transcript: its tokens separated by single spaces."""
    return " ".join(tokens(text))


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
