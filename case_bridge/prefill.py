"""What the case form can fill in from the call: the category and urgency the key phrases point
to, and a place named in the transcript. Pure: phrases, text and categories in, a suggestion out.

A suggestion, never a decision: the agent sees why each field was filled and changes it freely.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# A Chinese street address: a name ending in 路/街/道/巷/胡同/大道, maybe a house number.
_ADDRESS_ZH = re.compile(r"([\u4e00-\u9fff]{1,10}(?:大道|胡同|路|街|巷|道))\s*(\d{1,5}\s*号)?")
# An English one: "12 Main Road", "main road" (the ASR prints lower case).
_ADDRESS_EN = re.compile(
    r"\b((?:\d{1,5}\s+)?[A-Za-z]+(?:\s+[A-Za-z]+)?\s+(?:road|street|avenue|lane))\b", re.I
)
_NOT_A_PLACE = frozenset({"the", "a", "this", "that", "my", "our", "on", "in", "at"})


@dataclass(frozen=True)
class PhraseHeard:
    phrase: str
    category: str  # the key phrase's category (asr.vocabulary), e.g. street_light
    urgent: bool


@dataclass(frozen=True)
class CategoryWords:
    code: str
    words: frozenset[str]  # the category's keywords, lower-cased


@dataclass
class Suggestion:
    category_code: str = ""
    urgent: bool = False
    address: str = ""
    title: str = ""
    because: list[str] = field(default_factory=list)  # the phrases that led to it


def category_words(code: str, keywords: str) -> CategoryWords:
    return CategoryWords(code, frozenset(word.lower() for word in keywords.split() if word))


def find_address(text: str) -> str:
    found = _ADDRESS_ZH.search(text)
    if found:
        return "".join(part for part in found.groups() if part).replace(" ", "")
    for match in _ADDRESS_EN.finditer(text):
        words = match.group(1).split()
        while words and words[0].lower() in _NOT_A_PLACE:
            words = words[1:]
        if len(words) >= 2:
            return " ".join(words)
    return ""


def suggest(heard: Sequence[PhraseHeard], transcript: str, categories: Sequence[CategoryWords]) -> Suggestion:
    """The category most phrases point to (a leaf naming the phrase category in its keywords;
    the first listed wins a tie), urgent if any urgent phrase was heard, and the first place."""
    votes: Counter[str] = Counter()
    order = {category.code: at for at, category in enumerate(categories)}
    for hit in heard:
        for category in categories:
            if hit.category.lower() in category.words or hit.phrase.lower() in category.words:
                votes[category.code] += 1
                break
    suggestion = Suggestion(address=find_address(transcript))
    if votes:
        best = max(votes.items(), key=lambda item: (item[1], -order[item[0]]))[0]
        suggestion.category_code = best
    suggestion.urgent = any(hit.urgent for hit in heard)
    seen: list[str] = []
    for hit in heard:
        if hit.phrase not in seen:
            seen.append(hit.phrase)
    suggestion.because = seen
    suggestion.title = "、".join(seen[:3])
    return suggestion
