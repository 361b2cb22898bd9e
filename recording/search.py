"""Finding recorded calls: filters on the call row, full text on the transcript, newest first.

Only calls that have a call recording are found (an inner join on ``recordings``, kind ``call``):
this is the search behind the recordings pages, and a call without one has nothing to play or
read. ``recording.service.start_call_recording`` keeps one call recording per call, so a call is
one row. Deleted (retention) and failed recordings are still found: their row is the trace.

Pages are cut by keyset on (``calls.started_at``, ``calls.id``), never OFFSET: the next page
starts where the last row shown left off, so page 40 of a year of calls costs what page 1 does,
and rows added meanwhile do not shift the pages. SQLite's ``ix_calls_started_at`` holds the rowid
(= ``calls.id``), so it gives that order without a sort.

Words are a phrase query on ``transcripts.search_text`` (every CJK character a token, Latin
lower-cased, see ``recording.vocabulary``): FTS5 ``MATCH`` on SQLite, ``phraseto_tsquery`` on
PostgreSQL. The user's text never becomes query syntax: on SQLite it is one FTS5 string with its
quotes doubled, on PostgreSQL phraseto_tsquery reads plain text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnClause, UnaryExpression
from sqlalchemy.sql.operators import custom_op

from hotline.keyset import Cursor
from recording.models import KeyPhraseHit, Recording, RecordingKind, Transcript
from recording.vocabulary import search_query_terms
from telephony.models import Call

MAX_LIMIT = 200
# A number typed with this many digits or more is a whole number (an 11-digit mobile, or an area
# code and a landline) and is matched exactly, through ix_calls_caller_started; fewer digits are
# "the last digits", matched at the end of the caller's number (a scan: no index serves a suffix).
FULL_NUMBER_DIGITS = 11
NUMBER = re.compile(r"^\+?[0-9]{3,20}\*?$")
SNIPPET_CHARS = 80
SNIPPET_BEFORE = 24

_FTS = table("transcripts_fts", column("rowid"))


# ----- what is asked ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NumberQuery:
    """What a typed caller number means: ``exact`` (a whole number), ``prefix`` (typed with a
    trailing ``*``: "0755*") or ``suffix`` (the last digits: "5678")."""

    how: str
    digits: str

    @classmethod
    def parse(cls, text: str) -> NumberQuery:
        typed = text.strip().replace(" ", "").replace("-", "")
        if not NUMBER.match(typed):
            raise ValueError("a number is 3 to 20 digits (a leading + and a trailing * allowed)")
        if typed.endswith("*"):
            return cls("prefix", typed[:-1])
        if typed.startswith("+") or len(typed) >= FULL_NUMBER_DIGITS:
            return cls("exact", typed)
        return cls("suffix", typed)

    def condition(self, dialect: str) -> ColumnElement[bool]:
        number = Call.caller_number
        if self.how == "exact":
            return number == self.digits
        if self.how == "suffix":
            return number.endswith(self.digits, autoescape=True)
        if dialect == "sqlite":
            # SQLite's LIKE ignores case, so it never uses an index; a range does (binary collation).
            following = self.digits[:-1] + chr(ord(self.digits[-1]) + 1)
            return and_(number >= self.digits, number < following)
        # PostgreSQL uses the index for LIKE 'x%' under the C collation, and stays correct under
        # any other (where a range's upper bound would not be safe: punctuation sorts oddly).
        return number.startswith(self.digits, autoescape=True)


# ----- what is found ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhraseSeen:
    phrase: str
    category: str
    urgent: bool


@dataclass(frozen=True)
class Snippet:
    """A line of the transcript: the first one that holds the words, else the first one.
    ``match`` is [start, end) of the words in ``text``, or None."""

    speaker: str
    text: str
    match: tuple[int, int] | None


@dataclass(frozen=True)
class SearchRow:
    call_id: int
    uniqueid: str
    started_at: datetime
    ended_at: datetime | None
    caller_number: str  # in full: masking is the caller's business (who may see what)
    called_number: str
    agent: str
    queue: str
    duration_seconds: int | None
    disposition: str
    recording_id: int
    recording_status: str
    recording_ms: int | None
    asr_status: str
    key_phrases: tuple[PhraseSeen, ...] = ()
    snippet: Snippet | None = None


@dataclass(frozen=True)
class SearchPage:
    rows: list[SearchRow]
    has_more: bool
    next_cursor: Cursor | None = field(default=None)


# ----- the search ---------------------------------------------------------------------------------
def search_calls(
    session: Session,
    *,
    visible: ColumnElement[bool],
    number: str | None = None,
    agent: str | Sequence[str] | None = None,
    queue: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_seconds: int | None = None,
    max_seconds: int | None = None,
    disposition: str | None = None,
    words: str | None = None,
    cursor: Cursor | None = None,
    limit: int = 50,
) -> SearchPage:
    """Recorded calls that pass every filter given, newest first, ``limit`` at a time.

    ``visible`` is who may see which calls (``agents_ui.calls_api.visible_to``); ``agent`` is one
    seat name or the several a person answers under; ``since`` is inclusive, ``until`` exclusive;
    ``number``: see NumberQuery (ValueError if it is not a number). Words that hold no searchable
    token (only punctuation) find nothing.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit is 1 to {MAX_LIMIT}")
    dialect = session.get_bind().dialect.name
    terms: list[str] = []
    dense = False
    if words is not None:
        terms = search_query_terms(words)
        if not terms:
            return SearchPage([], has_more=False)
        dense = _said_often(session, dialect, terms)
    query = (
        select(
            Call.id.label("call_id"),
            Call.uniqueid,
            Call.started_at,
            Call.ended_at,
            Call.caller_number,
            Call.called_number,
            Call.agent,
            Call.queue,
            Call.duration_seconds,
            Call.disposition,
            Recording.id.label("recording_id"),
            Recording.status.label("recording_status"),
            Recording.duration_ms.label("recording_ms"),
            Recording.asr_status,
        )
        .select_from(Call)
        .join(Recording, _recording_of_call(dialect, calls_first=not terms or dense))
        .where(_scope(dialect, visible))
    )
    if number is not None:
        query = query.where(NumberQuery.parse(number).condition(dialect))
    if agent is not None:
        names = [agent] if isinstance(agent, str) else sorted(set(agent))
        query = query.where(Call.agent.in_(names))
    if queue is not None:
        query = query.where(Call.queue == queue)
    if disposition is not None:
        query = query.where(Call.disposition == disposition)
    if since is not None:
        query = query.where(Call.started_at >= since)
    if until is not None:
        query = query.where(Call.started_at < until)
    if min_seconds is not None:
        query = query.where(Call.duration_seconds >= min_seconds)
    if max_seconds is not None:
        query = query.where(Call.duration_seconds <= max_seconds)
    if terms and dense:
        query = query.where(_said_in_transcript(dialect, terms))
    elif terms:
        query = query.where(_recordings_saying(session, dialect, terms))
    if cursor is not None:
        # "<= started_at" alone is what an index range scan can use; the OR settles ties.
        query = query.where(
            Call.started_at <= cursor.at,
            or_(Call.started_at < cursor.at, Call.id < cursor.row_id),
        )
    query = query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit + 1)

    found = session.execute(query).all()
    has_more = len(found) > limit
    found = found[:limit]
    recording_ids = [row.recording_id for row in found]
    phrases = _key_phrases(session, recording_ids)
    lines = _snippets(session, recording_ids, terms)
    rows = [
        SearchRow(
            **row._asdict(),
            key_phrases=phrases.get(row.recording_id, ()),
            snippet=lines.get(row.recording_id),
        )
        for row in found
    ]
    last = rows[-1] if rows else None
    next_cursor = Cursor(last.started_at, last.call_id) if has_more and last else None
    return SearchPage(rows, has_more=has_more, next_cursor=next_cursor)


def fts5_phrase(terms: Sequence[str]) -> str:
    """One FTS5 phrase string for the terms: inside double quotes nothing is syntax (AND, NEAR,
    *, ^, column filters) and a double quote is written twice."""
    return '"' + " ".join(term.replace('"', '""') for term in terms) + '"'


# ----- how the rows are reached -------------------------------------------------------------------
# Newest first over a year of calls, one of two ways:
#   calls first    walk calls newest first (ix_calls_started_at, or the index of a filter) and
#                  keep those that pass: cheap when passing rows are common, since a page is
#                  filled after a few hundred rows;
#   matches first  take every transcript that holds the words, sort those calls by time: cheap
#                  when the words are rare, and the only sane way then (a calls-first walk would
#                  read the whole year to fill a page with rare words).
# Searches without words go calls first. For words, the transcripts holding them are counted up
# to DENSE in the full-text index (no text is parsed); reaching it means calls first. At DENSE
# matches the two ways cost about the same on a year of calls (some sqrt(page x calls) row
# visits); benchmarks/recording_search.py measures both sides of it.
DENSE = 4000


def _said_often(session: Session, dialect: str, terms: Sequence[str]) -> bool:
    """Whether at least DENSE transcripts hold the words (on PostgreSQL: all of them, anywhere,
    which the GIN index answers without reading any transcript's text)."""
    if dialect == "sqlite":
        holding = select(literal(1)).select_from(_FTS).where(_fts_match(terms))
    else:
        holding = (
            select(literal(1))
            .select_from(Transcript)
            .where(_vector().op("@@")(func.plainto_tsquery(_SIMPLE, " ".join(terms))))
        )
    counted = session.scalar(select(func.count()).select_from(holding.limit(DENSE).subquery()))
    return (counted or 0) >= DENSE


def _recording_of_call(dialect: str, *, calls_first: bool) -> ColumnElement[bool]:
    """The join condition from a call to its call recording.

    Calls first on SQLite: without ANALYZE statistics SQLite guesses that a recording matches
    ten calls and prefers to read every recording and sort them all. A unary + on calls.uniqueid
    (SQLite's documented way to keep a term from using an index) leaves it only the way from
    calls to recordings."""
    own = Recording.call_uniqueid == Call.uniqueid
    if dialect == "sqlite" and calls_first:
        own = Recording.call_uniqueid == _no_index(Call.uniqueid)
    return and_(own, Recording.kind == RecordingKind.CALL)


def _scope(dialect: str, visible: ColumnElement[bool]) -> ColumnElement[bool]:
    """Who may see which calls: a team's calls or one agent's are a share of a year, never a few.

    SQLite without statistics takes ``agent IN (the team)`` for a handful of rows and reads every
    call of the team to sort them; said to hold half the time, it walks the calls newest first
    and keeps the team's (a page after some hundred rows). The user's own filters still use
    their indexes: one agent's calls come from ix_calls_agent_started, already in time order."""
    if dialect == "sqlite":
        return func.likelihood(visible, literal_column("0.5"))
    return visible


def _no_index(column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    return UnaryExpression(column.expression, operator=custom_op("+"), type_=column.type)


def _said_in_transcript(dialect: str, terms: Sequence[str]) -> ColumnElement[bool]:
    """Calls first: the row's transcript holds the phrase, asked row by row as the calls go by.

    A correlated EXISTS that neither database turns into a join: the outer walk stays in time
    order and stops with the page full."""
    if dialect == "sqlite":
        # The set of matching rowids is built once (the subquery is not correlated). The unary +
        # keeps it a membership test: as an index constraint SQLite would try every matching
        # rowid against each call's transcript.
        matching = select(_FTS.c.rowid).where(_fts_match(terms))
        in_fts = _no_index(Transcript.id).in_(matching)
        return exists(select(literal(1)).where(Transcript.recording_id == Recording.id, in_fts))
    # search_text is the tokens separated by single spaces (vocabulary.search_text), so a text that
    # holds the phrase holds "t1 t2 ..." as it stands: a cheap LIKE that lets only those rows pay
    # for to_tsvector (it parses the whole text), which then settles word boundaries. OFFSET 0
    # keeps PostgreSQL from pulling the EXISTS up into a join, planned from its (poor) guess of
    # how many transcripts match, and then often sorting every match.
    spelled = Transcript.search_text.contains(" ".join(terms), autoescape=True)
    phrase = _vector().op("@@")(func.phraseto_tsquery(_SIMPLE, " ".join(terms)))
    said = select(literal(1)).where(Transcript.recording_id == Recording.id, spelled, phrase).offset(0)
    return exists(said)


def _recordings_saying(session: Session, dialect: str, terms: Sequence[str]) -> ColumnElement[bool]:
    """Matches first: the row's recording is one whose transcript holds the phrase."""
    if dialect == "sqlite":
        # Without statistics SQLite starts from this list (a subquery it takes for a few rows).
        matching = select(_FTS.c.rowid).where(_fts_match(terms))
        return Recording.id.in_(select(Transcript.recording_id).where(Transcript.id.in_(matching)))
    # PostgreSQL plans a subquery here from its guess of how many transcripts match, and a guess
    # of many sends it walking the calls in time order, parsing transcripts as it goes, through
    # the whole year when the words are rare (seconds). Fewer than DENSE transcripts hold every
    # word, so the matching recordings are fetched first and given as a list of known length.
    phrase = _vector().op("@@")(func.phraseto_tsquery(_SIMPLE, " ".join(terms)))
    ids = session.scalars(select(Transcript.recording_id).where(phrase)).all()
    return Recording.id.in_(ids)


def _fts_match(terms: Sequence[str]) -> ColumnElement[bool]:
    return literal_column("transcripts_fts").op("MATCH")(bindparam("fts_phrase", fts5_phrase(terms)))


# 'simple' written out, not bound: the expression must be the GIN index's own
# (to_tsvector('simple', search_text)) for PostgreSQL to use it.
_SIMPLE: ColumnClause[str] = literal_column("'simple'")


def _vector() -> ColumnElement[Any]:
    return func.to_tsvector(_SIMPLE, Transcript.search_text)


def _key_phrases(session: Session, recording_ids: list[int]) -> dict[int, tuple[PhraseSeen, ...]]:
    """Each recording's distinct phrases, urgent ones first, then as first heard."""
    if not recording_ids:
        return {}
    hits = session.execute(
        select(KeyPhraseHit.recording_id, KeyPhraseHit.phrase, KeyPhraseHit.category, KeyPhraseHit.urgent)
        .where(KeyPhraseHit.recording_id.in_(recording_ids))
        .order_by(KeyPhraseHit.recording_id, KeyPhraseHit.urgent.desc(), KeyPhraseHit.start_ms)
    ).all()
    found: dict[int, dict[str, PhraseSeen]] = {}
    for recording_id, phrase, category, urgent in hits:
        found.setdefault(recording_id, {}).setdefault(phrase, PhraseSeen(phrase, category, bool(urgent)))
    return {rid: tuple(seen.values()) for rid, seen in found.items()}


def _snippets(session: Session, recording_ids: list[int], terms: Sequence[str]) -> dict[int, Snippet]:
    if not recording_ids:
        return {}
    texts = session.execute(
        select(Transcript.recording_id, Transcript.text).where(Transcript.recording_id.in_(recording_ids))
    ).all()
    found = {}
    for recording_id, text in texts:
        line = snippet(text, terms)
        if line is not None:
            found[recording_id] = line
    return found


# ----- snippets -----------------------------------------------------------------------------------
_SPEAKER = re.compile(r"^(caller|agent): ?")


def snippet(text: str, terms: Sequence[str], width: int = SNIPPET_CHARS) -> Snippet | None:
    """The transcript line (``speaker: words``, as the pipeline stores it) that holds the terms,
    cut to about ``width`` characters around them; the first line when no term is given or found.

    The terms are search tokens (CJK characters one by one, Latin lower-cased), so they are looked
    for with anything but letters and digits allowed between them: "路 灯" finds "路灯", "street
    light" finds "Street-light"."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    pattern = re.compile(r"\W*".join(re.escape(t) for t in terms), re.IGNORECASE) if terms else None
    chosen, span = lines[0], None
    if pattern is not None:
        for line in lines:
            hit = pattern.search(_SPEAKER.sub("", line))
            if hit is not None:
                chosen, span = line, hit.span()
                break
    head = _SPEAKER.match(chosen)
    speaker = head.group(1) if head else ""
    words = chosen[head.end() :] if head else chosen
    return _cut(speaker, words, span, width)


def _cut(speaker: str, words: str, span: tuple[int, int] | None, width: int) -> Snippet:
    if len(words) <= width:
        return Snippet(speaker, words, span)
    start = 0 if span is None else max(0, span[0] - SNIPPET_BEFORE)
    end = min(len(words), start + width)
    start = max(0, min(start, end - width))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(words) else ""
    cut = prefix + words[start:end] + suffix
    if span is None:
        return Snippet(speaker, cut, None)
    shift = len(prefix) - start
    return Snippet(speaker, cut, (span[0] + shift, min(span[1], end) + shift))
