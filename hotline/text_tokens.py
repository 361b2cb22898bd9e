"""One way of cutting text into search tokens, shared by transcripts and cases.

- every CJK character is a token of its own. vosk-model-cn prints "路 灯 坏 了" or "路灯 坏了"
  depending on its word list, and neither SQLite FTS5 (unicode61) nor PostgreSQL
  (to_tsvector('simple')) can cut Chinese into words; one character per token lets both
  phrase-search it without a segmenter, and "路灯" matches however it was spaced;
- other letters and digits form words, lower-cased after NFKC (full-width "ＡＢＣ１" is "abc1");
- anything else (spaces, punctuation, apostrophes, underscores) only separates, as it does for
  both databases' tokenisers.
"""

from __future__ import annotations

import re
import unicodedata

# Han (with extensions and compatibility ideographs), kana and bopomofo: written without spaces.
_CJK = (
    "\u3040-\u30ff\u3100-\u312f\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003134f"
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_ONE_CJK = re.compile(rf"^[{_CJK}]$")


def tokens(text: str) -> list[str]:
    """The text's tokens: CJK characters one by one, other words lower-cased."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def search_text(text: str) -> str:
    """What a full-text index holds: the text's tokens separated by single spaces."""
    return " ".join(tokens(text))


def is_cjk(token: str) -> bool:
    return bool(_ONE_CJK.match(token))


def similarity_terms(text: str, limit: int = 24) -> list[tuple[str, ...]]:
    """Short phrases that say what a text is about, for "find similar": CJK characters in pairs
    (one character alone matches nearly everything), other words alone; first seen first."""
    words = tokens(text)
    terms: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for at, word in enumerate(words):
        if is_cjk(word):
            if at + 1 >= len(words) or not is_cjk(words[at + 1]):
                continue
            term: tuple[str, ...] = (word, words[at + 1])
        elif len(word) >= 3:
            term = (word,)
        else:
            continue
        if term not in seen:
            seen.add(term)
            terms.append(term)
        if len(terms) >= limit:
            break
    return terms
