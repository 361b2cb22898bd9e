"""Suggestions for the case form from what was said on the call."""

from __future__ import annotations

import pytest

from case_bridge.prefill import PhraseHeard, category_words, find_address, suggest

CATEGORIES = [
    category_words("street_light", "street_light 路灯 灯不亮 street light"),
    category_words("gas_leak", "gas_leak 燃气 煤气 漏气"),
    category_words("rubbish", "rubbish 垃圾 清运"),
]


def test_given_street_light_phrases_when_suggested_then_the_category_title_and_place_follow() -> None:
    heard = [PhraseHeard("street light", "street_light", False), PhraseHeard("路灯", "street_light", False)]
    got = suggest(heard, "The street light on main road is broken", CATEGORIES)
    assert (got.category_code, got.urgent, got.address) == ("street_light", False, "main road")
    assert got.because == ["street light", "路灯"]
    assert got.title == "street light、路灯"


def test_given_an_urgent_phrase_among_others_when_suggested_then_urgent_and_the_majority_category() -> None:
    heard = [
        PhraseHeard("煤气", "gas_leak", True),
        PhraseHeard("燃气泄漏", "gas_leak", True),
        PhraseHeard("垃圾", "rubbish", False),
    ]
    got = suggest(heard, "人民路12号楼道里有煤气味", CATEGORIES)
    assert (got.category_code, got.urgent, got.address) == ("gas_leak", True, "人民路12号")


def test_given_nothing_recognised_when_suggested_then_nothing_is_invented() -> None:
    got = suggest([], "hello, I would like to ask something", CATEGORIES)
    assert (got.category_code, got.urgent, got.address, got.title) == ("", False, "", "")


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("东华街道建设路88号门口", "东华街道建设路88号"),
        ("on the Main Street near the school", "Main Street"),
        ("12 Park Lane has no water", "12 Park Lane"),
        ("nothing here", ""),
    ],
)
def test_given_a_transcript_when_a_place_is_looked_for_then_the_first_is_found(text: str, place: str) -> None:
    assert find_address(text) == place
