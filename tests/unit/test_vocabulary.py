"""Key phrases spotted in transcripts, and transcript text as the full-text index holds it."""

from __future__ import annotations

import sqlite3

import pytest

from hotline.settings import DEFAULT_VOCABULARY, KeyPhraseSettings
from recording.asr import Segment, Word
from recording.vocabulary import Hit, search_query_terms, search_text, spot


def segment(text: str, start: float = 0.0, step: float = 0.5) -> Segment:
    """A segment whose words (split on spaces) follow each other every ``step`` seconds."""
    words = tuple(
        Word(w, round(start + i * step, 3), round(start + (i + 1) * step, 3), None)
        for i, w in enumerate(text.split())
    )
    return Segment(start, start + step * len(words), text, words)


def phrase(text: str, category: str = "street_light", urgent: bool = False) -> KeyPhraseSettings:
    return KeyPhraseSettings(phrase=text, category=category, urgent=urgent)


# ----- spotting: English -------------------------------------------------------------------------
def test_given_an_english_phrase_then_one_hit_at_the_word_where_it_starts():
    hits = spot(
        {"caller": [segment("the street light on main road is broken", start=3.0)]}, DEFAULT_VOCABULARY
    )
    assert hits == [Hit("street light", "street_light", False, "caller", 3.5)]


def test_given_other_case_and_spacing_then_the_phrase_is_still_found():
    said = Segment(2.0, 4.0, "The  STREET\tLight is out", ())
    assert [h.start for h in spot({"agent": [said]}, [phrase("Street   light")])] == [2.0]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("there is a fire", True),
        ("Fire! Fire!", True),
        ("the firewall is down", False),
        ("we lit a campfire", False),
        ("fires everywhere", False),
    ],
)
def test_given_a_word_then_only_whole_words_match(text, found):
    hits = spot({"caller": [segment(text)]}, [phrase("fire", "fire", urgent=True)])
    assert bool(hits) is found


def test_given_a_phrase_said_twice_by_each_speaker_then_a_hit_per_occurrence():
    hits = spot(
        {
            "caller": [segment("fire fire", start=1.0), segment("still a fire", start=9.0)],
            "agent": [segment("a fire where", start=5.0)],
        },
        [phrase("fire", "fire", urgent=True)],
    )
    assert [(h.speaker, h.start) for h in hits] == [
        ("caller", 1.0),
        ("caller", 1.5),
        ("agent", 5.5),
        ("caller", 10.0),
    ]
    assert all(h.urgent and h.category == "fire" for h in hits)


def test_given_a_phrase_split_by_a_pause_then_it_is_not_a_hit():
    hits = spot(
        {"caller": [segment("the street"), segment("light is on", start=3.0)]}, [phrase("street light")]
    )
    assert hits == []


def test_given_a_segment_without_word_times_then_the_hit_takes_the_segment_start():
    hits = spot({"caller": [Segment(7.25, 9.0, "no water since monday", ())]}, DEFAULT_VOCABULARY)
    assert [(h.phrase, h.category, h.start) for h in hits] == [("no water", "water_outage", 7.25)]


# ----- spotting: Chinese -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("words", "at"),
    [
        (["我们", "小区", "的", "路灯", "坏了"], 10.6),  # vosk-model-cn with 路灯 in its word list
        (["我", "们", "小", "区", "的", "路", "灯", "坏", "了"], 11.0),  # character by character
        (["我们小区的路灯坏了"], 10.0),  # no spaces at all: the one word's start
    ],
    ids=["words", "characters", "unspaced"],
)
def test_given_chinese_however_spaced_then_the_phrase_is_found_at_its_word(words, at):
    timed = tuple(
        Word(w, round(10.0 + i * 0.2, 3), round(10.2 + i * 0.2, 3), 0.9) for i, w in enumerate(words)
    )
    hits = spot({"caller": [Segment(10.0, 12.0, " ".join(words), timed)]}, DEFAULT_VOCABULARY)
    assert [(h.phrase, h.category, h.start) for h in hits] == [("路灯", "street_light", at)]


def test_given_an_urgent_chinese_phrase_then_the_hit_is_urgent():
    hits = spot({"caller": [segment("楼 道 里 有 煤 气 味", start=4.0)]}, DEFAULT_VOCABULARY)
    assert [(h.phrase, h.category, h.urgent, h.start) for h in hits] == [("煤气", "gas_leak", True, 6.0)]


def test_given_chinese_phrases_then_characters_apart_do_not_match():
    # 路 and 灯 both said, not together: "路边的灯不亮" is no 路灯.
    assert spot({"caller": [segment("路边 的 灯 不 亮")]}, DEFAULT_VOCABULARY) == []


def test_given_both_languages_then_hits_come_in_time_order():
    hits = spot(
        {"caller": [segment("停水 了", start=8.0)], "agent": [segment("a power cut", start=2.0)]},
        DEFAULT_VOCABULARY,
    )
    assert [(h.speaker, h.category) for h in hits] == [("agent", "power_outage"), ("caller", "water_outage")]


# ----- the full-text form --------------------------------------------------------------------------
def test_given_mixed_text_then_cjk_characters_apart_and_latin_lower_cased():
    text = "您好，12345热线。The Street-light on ＭＡＩＮ Road didn't work"
    assert search_text(text) == "您 好 12345 热 线 the street light on main road didn t work"


def test_given_a_users_search_words_then_the_same_tokens_and_no_syntax():
    assert search_query_terms("路灯 坏了") == ["路", "灯", "坏", "了"]
    assert search_query_terms('"Street" OR light*') == ["street", "or", "light"]
    assert search_query_terms("search_text:street") == ["search", "text", "street"]
    assert search_query_terms("  ，。!") == []


def test_given_the_search_text_then_sqlite_fts5_phrase_search_finds_chinese_and_english():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61')")
    bodies = {1: "我们小区门口的路灯坏了", 2: "路边的灯不亮", 3: "The street light is broken"}
    for rowid, body in bodies.items():
        db.execute("INSERT INTO t (rowid, body) VALUES (?, ?)", (rowid, search_text(body)))

    def found(words: str) -> list[int]:
        query = '"' + " ".join(search_query_terms(words)) + '"'
        return [r[0] for r in db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid", (query,))]

    assert found("路灯") == [1]
    assert found("灯") == [1, 2]
    assert found("Street LIGHT") == [3]
    assert found("light street") == []
