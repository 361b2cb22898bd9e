"""recording.search: recorded calls by number, agent, queue, time, duration, outcome and words.

Run on a migrated SQLite database here (FTS5); tests/integration/test_recording_search_postgres.py
runs these same tests on PostgreSQL (tsvector + GIN) by giving ``search_db`` another database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from hotline.db import Database
from hotline.keyset import Cursor
from recording import search
from recording.models import (
    KeyPhraseHit,
    Recording,
    RecordingKind,
    RecordingStatus,
    Transcript,
    TranscriptSegment,
)
from recording.search import NumberQuery, SearchPage, fts5_phrase, search_calls, snippet
from recording.vocabulary import search_text
from telephony.models import Call, Disposition

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


@pytest.fixture
def search_db(db: Database) -> Database:
    return db


@dataclass
class Said:
    speaker: str
    text: str
    start_ms: int = 0


def add_recorded_call(
    session: Session,
    uniqueid: str,
    started_at: datetime,
    *,
    caller: str = "13812345678",
    agent: str = "agent.a",
    queue: str = "main",
    seconds: int = 60,
    disposition: str = Disposition.ANSWERED,
    said: Sequence[Said] = (),
    status: str = RecordingStatus.COMPLETE,
    phrases: Sequence[tuple[str, str, bool, int]] = (),
    kind: str = RecordingKind.CALL,
) -> Recording:
    """A finished call with its recording, and a transcript when something was said."""
    session.add(
        Call(
            uniqueid=uniqueid,
            linkedid=uniqueid,
            channel=f"PJSIP/carrier-{uniqueid}",
            caller_number=caller,
            called_number="12345",
            trunk="carrier",
            started_at=started_at,
            ended_at=started_at + timedelta(seconds=seconds),
            duration_seconds=seconds,
            disposition=disposition,
            queue=queue,
            agent=agent,
        )
    )
    recording = Recording(
        kind=kind,
        call_uniqueid=uniqueid,
        path=f"/var/recordings/{uniqueid}",
        format="wav",
        created_at=started_at,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=seconds),
        duration_ms=seconds * 1000,
        status=status,
    )
    session.add(recording)
    session.flush()
    if said:
        transcript = Transcript(
            recording_id=recording.id,
            call_uniqueid=uniqueid,
            engine="test",
            text="\n".join(f"{s.speaker}: {s.text}" for s in said),
            search_text=search_text(" ".join(s.text for s in said)),
            created_at=started_at + timedelta(seconds=seconds + 5),
        )
        session.add(transcript)
        session.flush()
        for s in said:
            session.add(
                TranscriptSegment(
                    transcript_id=transcript.id,
                    speaker=s.speaker,
                    start_ms=s.start_ms,
                    end_ms=s.start_ms + 1000,
                    text=s.text,
                    words=json.dumps([]),
                )
            )
    for phrase, category, urgent, start_ms in phrases:
        session.add(
            KeyPhraseHit(
                recording_id=recording.id,
                call_uniqueid=uniqueid,
                phrase=phrase,
                category=category,
                urgent=urgent,
                speaker="caller",
                start_ms=start_ms,
            )
        )
    return recording


def find(db: Database, visible: ColumnElement[bool] | None = None, **filters: Any) -> SearchPage:
    with db.unit_of_work() as session:
        return search_calls(session, visible=true() if visible is None else visible, **filters)


def ids(page: SearchPage) -> list[str]:
    return [row.uniqueid for row in page.rows]


def every_page(db: Database, limit: int, **filters: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = find(db, cursor=cursor, limit=limit, **filters)
        pages.append(ids(page))
        if not page.has_more:
            assert page.next_cursor is None
            return pages
        assert page.next_cursor is not None
        cursor = page.next_cursor


# ----- which calls, in which order ---------------------------------------------------------------


def test_given_calls_with_and_without_recordings_when_searched_then_only_recorded_calls_newest_first(
    search_db,
):
    with search_db.unit_of_work() as session:
        add_recorded_call(session, "1.1", T0)
        add_recorded_call(session, "1.2", T0 + timedelta(minutes=5))
        add_recorded_call(session, "1.3", T0 + timedelta(minutes=2), status=RecordingStatus.DELETED)
        add_recorded_call(session, "1.4", T0 + timedelta(minutes=3), kind=RecordingKind.VOICEMAIL)
        session.add(
            Call(uniqueid="1.5", linkedid="1.5", channel="PJSIP/x", started_at=T0 + timedelta(minutes=9))
        )

    page = find(search_db)

    # The unrecorded call (1.5) and the voicemail (1.4) are not call recordings; a deleted one is
    # still found: its row is the trace that it existed.
    assert ids(page) == ["1.2", "1.3", "1.1"]
    assert [r.recording_status for r in page.rows] == ["complete", "deleted", "complete"]
    assert page.has_more is False and page.next_cursor is None


def test_given_many_calls_some_at_the_same_instant_when_paged_then_every_call_comes_once_in_order(search_db):
    with search_db.unit_of_work() as session:
        for n in range(8):
            # Three pairs share their start time: the call id settles the order between them.
            add_recorded_call(session, f"2.{n}", T0 + timedelta(minutes=n // 2 * 3 if n < 6 else n))

    pages = every_page(search_db, limit=3)

    assert [len(p) for p in pages] == [3, 3, 2]
    flat = [uid for p in pages for uid in p]
    assert flat == ids(find(search_db, limit=200))
    assert sorted(flat) == sorted(f"2.{n}" for n in range(8))


def test_given_a_page_handed_out_when_newer_calls_arrive_then_the_next_page_neither_repeats_nor_skips(
    search_db,
):
    with search_db.unit_of_work() as session:
        for n in range(4):
            add_recorded_call(session, f"3.{n}", T0 + timedelta(minutes=n))
    first = find(search_db, limit=2)
    with search_db.unit_of_work() as session:
        add_recorded_call(session, "3.new", T0 + timedelta(hours=1))

    second = find(search_db, limit=2, cursor=first.next_cursor)

    assert ids(first) == ["3.3", "3.2"]
    assert ids(second) == ["3.1", "3.0"]


def test_given_a_visibility_rule_when_searched_then_other_agents_calls_are_never_found(search_db):
    with search_db.unit_of_work() as session:
        add_recorded_call(session, "4.1", T0, agent="agent.a")
        add_recorded_call(session, "4.2", T0, agent="agent.b")

    page = find(search_db, visible=Call.agent.in_(["agent.a"]))

    assert ids(page) == ["4.1"]


# ----- filters on the call ------------------------------------------------------------------------


@pytest.fixture
def numbers(search_db: Database) -> Database:
    with search_db.unit_of_work() as session:
        add_recorded_call(session, "5.1", T0, caller="13812345678")
        add_recorded_call(session, "5.2", T0 + timedelta(minutes=1), caller="13912345678")
        add_recorded_call(session, "5.3", T0 + timedelta(minutes=2), caller="075588765678")
        add_recorded_call(session, "5.4", T0 + timedelta(minutes=3), caller="13800001111")
        add_recorded_call(session, "5.5", T0 + timedelta(minutes=4), caller="5%78")  # LIKE syntax as data
    return search_db


def test_given_a_whole_number_when_searched_then_only_that_caller(numbers):
    assert ids(find(numbers, number="13812345678")) == ["5.1"]
    assert ids(find(numbers, number="138 1234 5678")) == ["5.1"]


def test_given_the_last_digits_when_searched_then_every_caller_whose_number_ends_so(numbers):
    assert ids(find(numbers, number="5678")) == ["5.3", "5.2", "5.1"]
    assert ids(find(numbers, number="1111")) == ["5.4"]


def test_given_the_first_digits_and_a_star_when_searched_then_every_caller_whose_number_starts_so(numbers):
    assert ids(find(numbers, number="138*")) == ["5.4", "5.1"]
    assert ids(find(numbers, number="0755*")) == ["5.3"]


@pytest.mark.parametrize("typed", ["12", "5%78", "13_", "abc1234", "", "*1234", "1" * 21])
def test_given_something_not_a_number_when_searched_then_it_is_refused_not_turned_into_a_pattern(
    numbers, typed
):
    with pytest.raises(ValueError, match="digits"):
        find(numbers, number=typed)


def test_given_number_kinds_when_parsed_then_whole_first_and_last_digits_are_told_apart():
    assert NumberQuery.parse("13812345678") == NumberQuery("exact", "13812345678")
    assert NumberQuery.parse("+8613812345678") == NumberQuery("exact", "+8613812345678")
    assert NumberQuery.parse("5678") == NumberQuery("suffix", "5678")
    assert NumberQuery.parse("0755*") == NumberQuery("prefix", "0755")


def test_given_agent_queue_outcome_and_duration_filters_when_searched_then_each_narrows(search_db):
    with search_db.unit_of_work() as session:
        add_recorded_call(session, "6.1", T0, agent="alice", queue="main", seconds=30)
        add_recorded_call(
            session, "6.2", T0 + timedelta(minutes=1), agent="1001", queue="second", seconds=300
        )
        add_recorded_call(
            session,
            "6.3",
            T0 + timedelta(minutes=2),
            agent="bob",
            seconds=90,
            disposition=Disposition.ABNORMAL,
        )

    assert ids(find(search_db, agent="alice")) == ["6.1"]
    assert ids(find(search_db, agent=["alice", "1001", "PJSIP/seat1001"])) == ["6.2", "6.1"]
    assert ids(find(search_db, queue="second")) == ["6.2"]
    assert ids(find(search_db, disposition="abnormal")) == ["6.3"]
    assert ids(find(search_db, min_seconds=90)) == ["6.3", "6.2"]
    assert ids(find(search_db, max_seconds=90)) == ["6.3", "6.1"]
    assert ids(find(search_db, min_seconds=60, max_seconds=120)) == ["6.3"]


def test_given_a_time_range_when_searched_then_since_is_inclusive_and_until_exclusive(search_db):
    with search_db.unit_of_work() as session:
        for n in range(4):
            add_recorded_call(session, f"7.{n}", T0 + timedelta(days=n))

    found = find(search_db, since=T0 + timedelta(days=1), until=T0 + timedelta(days=3))

    assert ids(found) == ["7.2", "7.1"]


# ----- words --------------------------------------------------------------------------------------


@pytest.fixture(params=["matches_first", "calls_first"])
def spoken(search_db: Database, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Database:
    """Calls with transcripts, searched both ways the search can go: from the transcripts holding
    the words (few of them), or along the calls in time order (many): see search.DENSE."""
    monkeypatch.setattr(search, "DENSE", 1 if request.param == "calls_first" else 10**9)
    with search_db.unit_of_work() as session:
        add_recorded_call(
            session,
            "8.1",
            T0,
            said=[
                Said("agent", "您好，12345热线", 0),
                Said("caller", "我们小区门口的路灯坏了，晚上很黑", 2000),
            ],
            phrases=[("路灯", "street_light", False, 2500)],
        )
        add_recorded_call(session, "8.2", T0 + timedelta(minutes=1), said=[Said("caller", "路边的灯不亮")])
        add_recorded_call(
            session,
            "8.3",
            T0 + timedelta(minutes=2),
            said=[
                Said("agent", "Hotline, how can I help?", 0),
                Said("caller", "The Street light on Main Road is broken", 1500),
            ],
            phrases=[("street light", "street_light", False, 1800), ("fire", "fire", True, 9000)],
        )
        add_recorded_call(
            session,
            "8.4",
            T0 + timedelta(minutes=3),
            said=[Said("caller", "There is no light in the street")],
        )
        add_recorded_call(session, "8.5", T0 + timedelta(minutes=4))  # not transcribed (yet)
    return search_db


def test_given_chinese_words_when_searched_then_the_characters_must_come_together(spoken):
    # "路灯" is in 8.1; 8.2 has 路 and 灯 apart ("路边的灯"): a phrase, not a bag of characters.
    assert ids(find(spoken, words="路灯")) == ["8.1"]
    assert ids(find(spoken, words="路灯坏了")) == ["8.1"]
    assert ids(find(spoken, words="灯")) == ["8.2", "8.1"]


def test_given_english_words_when_searched_then_as_a_phrase_whatever_the_case(spoken):
    assert ids(find(spoken, words="street light")) == ["8.3"]
    assert ids(find(spoken, words="STREET")) == ["8.4", "8.3"]
    assert ids(find(spoken, words="light street")) == []


@pytest.mark.parametrize(
    "typed",
    [
        '"',
        '""',
        "street OR light",
        "street NOT light",
        "street AND",
        "NEAR(street light)",
        "street*",
        "^street",
        "search_text:street",
        "transcripts_fts:street",
        "street'; DROP TABLE calls; --",
        "(street",
        "{street light}",
        "+street -light",
        "\\",
        "%_",
        "路灯 OR 停水",
    ],
)
def test_given_query_syntax_in_the_words_when_searched_then_it_is_only_text(spoken, typed):
    page = find(spoken, words=typed)  # never an FTS or SQL error

    # Nothing here is a phrase any transcript holds but "street*" / "^street" style ones, which
    # find the word itself (their punctuation is no token); never everything.
    assert set(ids(page)) <= {"8.3", "8.4"}
    assert ids(find(spoken)) == ["8.5", "8.4", "8.3", "8.2", "8.1"]  # the table is still there


def test_given_words_that_hold_no_token_when_searched_then_nothing_rather_than_everything(spoken):
    assert ids(find(spoken, words="，。！？")) == []
    assert ids(find(spoken, words="...")) == []


def test_given_words_and_a_time_range_when_searched_then_both_apply(spoken):
    assert ids(find(spoken, words="light", since=T0 + timedelta(minutes=3))) == ["8.4"]
    assert ids(find(spoken, words="light", until=T0 + timedelta(minutes=3))) == ["8.3"]


def test_given_words_when_found_then_each_row_has_its_line_marked_and_its_key_phrases(spoken):
    [row] = find(spoken, words="路灯").rows
    assert row.snippet is not None
    assert row.snippet.speaker == "caller"
    start, end = row.snippet.match or (0, 0)
    assert row.snippet.text[start:end] == "路灯"
    assert [p.phrase for p in row.key_phrases] == ["路灯"]

    [row] = find(spoken, words="street light").rows
    assert row.snippet is not None
    start, end = row.snippet.match or (0, 0)
    assert row.snippet.text[start:end] == "Street light"
    # Urgent phrases come first, whenever they were heard.
    assert [(p.phrase, p.urgent) for p in row.key_phrases] == [("fire", True), ("street light", False)]


def test_given_words_when_paged_then_the_cursor_keeps_the_words(spoken):
    assert every_page(spoken, limit=1, words="light") == [["8.4"], ["8.3"]]


def test_given_no_words_when_found_then_the_snippet_is_the_first_line(spoken):
    rows = {row.uniqueid: row for row in find(spoken).rows}
    assert rows["8.1"].snippet is not None
    assert rows["8.1"].snippet.speaker == "agent" and rows["8.1"].snippet.match is None
    assert rows["8.5"].snippet is None


# ----- pieces -------------------------------------------------------------------------------------


def test_given_a_cursor_when_encoded_then_it_decodes_to_the_same_instant_and_call():
    cursor = Cursor(datetime(2025, 3, 3, 1, 2, 3, 456789, tzinfo=UTC), 42)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["", "abc", "1-0", "1-2147483648", "1.5-3", "-1-2", "12", "1-2-3"])
def test_given_a_cursor_nobody_handed_out_when_decoded_then_it_is_refused(text):
    with pytest.raises(ValueError, match="cursor"):
        Cursor.decode(text)


def test_given_terms_with_quotes_when_made_a_phrase_then_the_quotes_are_doubled():
    assert fts5_phrase(["a", 'b"c']) == '"a b""c"'


def test_given_a_long_line_when_cut_then_the_match_stays_inside_and_is_marked():
    line = "caller: " + "前" * 100 + "路灯坏了" + "后" * 100
    cut = snippet(line, ["路", "灯"], width=40)
    assert cut is not None and cut.match is not None
    assert cut.text.startswith("…") and cut.text.endswith("…")
    assert cut.text[cut.match[0] : cut.match[1]] == "路灯"
    assert len(cut.text) == 42


def test_given_no_text_when_cut_then_there_is_no_snippet():
    assert snippet("", ["a"]) is None
    assert snippet("\n \n", []) is None
