"""Finding cases: the case list's search, duplicates on intake, and similar cases closed before.

The list (``search_cases``) is newest first, cut by keyset on (``created_at``, ``id``), never
OFFSET: page 40 of a year costs what page 1 does, and cases filed meanwhile do not shift pages.

How a page is reached (a year is about a million cases; a page is 50). Each filter an index can
lead with is a *way in*: a status, a department or a category (walked through its
``(column, created_at)`` index, already newest first), a department with a status or a category
(counted through their pair's index), the caller (a number's cases, or those whose number ends
in the digits typed, through an index of the last four), the case number, the date range
(ix_cases_created_at). Each way is counted through its index up to CAP (a count stopped early
costs a millisecond), and the page is read through the narrowest: in time order where its index
gives that order, else all of its few cases, sorted. Every other filter is checked on the rows
met. A filter of several values is walked a value at a time, each walk in time order and
stopped at a page, and the walks merged (no index walks ``status IN (…)`` in time order); a
value another filter rules out (a department's cases of a category it never gets) is dropped
first, counted through the pair's index.

Words are phrases: each space-separated part of what the user typed is one phrase (CJK
characters one token each, see ``hotline.text_tokens``), and a case must hold every phrase. When
a narrower filter leads, the words are checked on each row met (a position test on search_text,
whose tokens are separated by single spaces). Otherwise the newest week is walked that way
first (common words fill a page there); past it, the full-text index takes over: SQLite starts
from the cases holding the words when they are fewer than the way's, or else checks each row
against the set of them; PostgreSQL ANDs the GIN bitmap of the words' tokens with the other
filters' bitmaps. The user's text never becomes query syntax: on SQLite each phrase is an FTS5
string with its double quotes doubled, on PostgreSQL plainto_tsquery reads plain text.

PostgreSQL is held to the chosen way (see _fenced): its planner prices a walk through a
(column, created_at) index by scattered page reads and would rather walk ix_cases_created_at,
reading most of a year for a department with few matching cases. SQLite is held to it by the
unary + on every other column (see _no_index).

Duplicates and similar cases rank candidates by BM25 over the text's character pairs
(``similarity_terms``), computed here over at most a few hundred candidates rather than by
FTS5's ``bm25()`` or ts_rank: bm25() counts each phrase's documents over the whole index on
every query (0.2 to 1.4 s over a year of cases, measured), and ts_rank parses every row it
ranks. The candidates come from the full-text index (every case holding one of the text's rare
pairs, and the newest holding one of its common ones), the document frequencies from the
newest thousand cases.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnClause, UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.sql.util import ClauseAdapter

from case_bridge.lifecycle import CaseStatus
from case_bridge.models import Case, Category, Department
from case_bridge.working_days import WorkingCalendar
from hotline.db import utcnow
from hotline.keyset import Cursor
from hotline.text_tokens import similarity_terms, tokens

MAX_LIMIT = 200
# How far each way in is counted before the narrowest is chosen: past this, a filter is "common"
# and a walk through it fills a page after some hundred rows anyway.
CAP = 4000
# Several filters past CAP are counted again this far, to walk the narrowest of them.
WIDE_CAP = 50_000
# Values of one filter walked apart and merged; more (a wide category tree) are read as one IN.
MAX_WALKS = 24
# A typed number with this many digits or more (or a leading +) is a whole number, matched
# exactly; fewer digits (at least TAIL_DIGITS) are the number's last digits (尾号).
FULL_NUMBER_DIGITS = 11
TAIL_DIGITS = 4
CALLER_PATTERN = re.compile(r"^\+?[0-9]{4,20}$")
WITH_DEPARTMENT = tuple(s.value for s in CaseStatus if s.with_department)
OPEN = tuple(s.value for s in CaseStatus if s.is_open)
FINISHED = (CaseStatus.CLOSED.value, CaseStatus.EVALUATED.value)

_FTS = table("cases_fts", column("rowid"))
# 'simple' written out, not bound: the expression must be the GIN index's own
# (to_tsvector('simple', search_text)) for PostgreSQL to use it.
_SIMPLE: ColumnClause[str] = literal_column("'simple'")


class FilterError(ValueError):
    """A filter that cannot be searched for; ``field`` names it (an unknown code, a bad number)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


# ----- what is asked ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseFilters:
    """What the case list is narrowed by; every filter given must hold.

    ``created_from`` and ``created_to`` are dates in the site's zone, both included.
    ``departments_visible`` is who may see what: None for every case (the hotline's staff), else
    the departments whose cases a department's staff see (never a case without a department).
    """

    words: str | None = None
    number: str | None = None
    caller: str | None = None
    statuses: tuple[str, ...] = ()
    department: str | None = None
    category: str | None = None
    source: str | None = None
    urgency: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    overdue_only: bool = False
    supervised_only: bool = False
    departments_visible: frozenset[int] | None = None


@dataclass(frozen=True)
class CasePage:
    cases: list[Case]
    has_more: bool
    next_cursor: Cursor | None = None


def phrases_of(words: str) -> list[list[str]]:
    """The user's words as phrases of index tokens: one per space-separated part that holds any."""
    return [found for part in words.split() if (found := tokens(part))]


def fts5_phrase(terms: Sequence[str]) -> str:
    """One FTS5 phrase string: inside double quotes nothing is syntax (AND, NEAR, *, ^, column
    filters), and a double quote is written twice."""
    return '"' + " ".join(term.replace('"', '""') for term in terms) + '"'


# ----- the pieces of a query ----------------------------------------------------------------------
def _no_index(expression: Any) -> ColumnElement[Any]:
    """SQLite's documented way to keep a term from using an index: a unary + before it. Every
    filter but the way in is written so, or SQLite (without ANALYZE statistics) guesses that an
    equality on any indexed column finds ten rows, and may start from it."""
    target = expression.expression if isinstance(expression, InstrumentedAttribute) else expression
    return UnaryExpression(target, operator=custom_op("+"), type_=target.type)


def _column(attribute: InstrumentedAttribute[Any], dialect: str, *, way_in: bool = False) -> Any:
    return attribute if way_in or dialect != "sqlite" else _no_index(attribute)


def _caller_tail(dialect: str) -> ColumnElement[str]:
    """The caller number's last four characters, written as the migration's expression index
    ``ix_cases_caller_tail`` has it (constants inline: a bound parameter would not match it)."""
    if dialect == "sqlite":
        return func.substr(Case.caller_number, literal_column("-4"))
    return func.right(Case.caller_number, literal_column("4"))


def _holds_spelled(spaced: str, dialect: str) -> ColumnElement[bool]:
    """Whether the case's search_text, with a space added at both ends, holds ``spaced`` (tokens
    separated by single spaces, a space at both ends): exactly where the full-text index would
    find that phrase, since search_text is the tokens separated by single spaces. About a
    microsecond a row.

    A position test (instr, strpos), not LIKE: nothing in the text is a wildcard, and PostgreSQL
    estimates a LIKE '%…%' to hold almost nowhere, and then plans a walk as if it had to read
    every case."""
    padded = literal(" ").concat(Case.search_text).concat(" ")
    position = func.instr(padded, spaced) if dialect == "sqlite" else func.strpos(padded, spaced)
    return position > 0


def _padded_holds(phrases: Sequence[Sequence[str]], dialect: str) -> ColumnElement[bool]:
    """Every phrase, checked on the row itself (see _holds_spelled)."""
    return and_(*(_holds_spelled(f" {' '.join(phrase)} ", dialect) for phrase in phrases))


def _fts_rowids(phrases: Sequence[Sequence[str]]) -> Select[Any]:
    """SQLite: the rowids of the cases holding every phrase, from the FTS5 table."""
    text = " ".join(fts5_phrase(phrase) for phrase in phrases)
    return select(_FTS.c.rowid).where(literal_column("cases_fts").op("MATCH")(bindparam("fts_words", text)))


def _gin_holds(phrases: Sequence[Sequence[str]]) -> ColumnElement[bool]:
    """PostgreSQL: every token of the phrases, anywhere in the text, as the GIN index's own
    expression. Answered from the index alone (no positions, so no row's text is parsed); the
    phrases themselves are then settled by ``_padded_holds``."""
    every = " ".join(token for phrase in phrases for token in phrase)
    return func.to_tsvector(_SIMPLE, Case.search_text).op("@@")(func.plainto_tsquery(_SIMPLE, every))


@dataclass(frozen=True)
class _Check:
    """A filter checked on each row met, never a way in: ``column <test> value``."""

    column: InstrumentedAttribute[Any]
    test: str  # "is", "before", "true" or "ends"
    value: Any = None

    def condition(self, dialect: str) -> ColumnElement[bool]:
        target = _column(self.column, dialect)
        if self.test == "before":
            return target < self.value  # type: ignore[no-any-return]
        if self.test == "true":
            return target.is_(True)  # type: ignore[no-any-return]
        if self.test == "ends":
            return target.endswith(self.value, autoescape=True)  # type: ignore[no-any-return]
        return target == self.value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Values:
    """``column IN values``: a filter, and one that an index can lead with."""

    name: str
    column: Any
    values: tuple[Any, ...]
    # Walked newest first through a (column, created_at) index; else its matches are sorted.
    ordered: bool = True
    extra: _Check | None = None  # checked on every row it yields (a number's last digits)

    def condition(self, dialect: str, *, way_in: bool) -> ColumnElement[bool]:
        target = self.column if way_in or dialect != "sqlite" else _no_index(self.column)
        found = target == self.values[0] if len(self.values) == 1 else target.in_(self.values)
        return found if self.extra is None else and_(found, self.extra.condition(dialect))

    def as_range(self) -> ColumnElement[bool]:
        """PostgreSQL, one value, as a walk's lead: ``column BETWEEN v AND v``. The same rows as
        ``=``, but an equality to a constant drops the column from PostgreSQL's idea of the order
        (it is the same on every row) and leaves it free to walk ix_cases_created_at instead;
        with a range the order (column, created_at) is one only this filter's index gives."""
        found = self.column.between(self.values[0], self.values[0])
        return found if self.extra is None else and_(found, self.extra.condition("postgresql"))

    def only(self, value: Any) -> _Values:
        return _Values(self.name, self.column, (value,), self.ordered, self.extra)


@dataclass(frozen=True)
class _Way:
    """A way in: the filters an index leads with (one, or a pair with a two-column index)."""

    filters: tuple[_Values, ...]

    @property
    def ordered(self) -> bool:
        """Walked newest first: one filter, on a (column, created_at) index, of values few
        enough to be walked one by one."""
        return len(self.filters) == 1 and self.filters[0].ordered and len(self.filters[0].values) <= MAX_WALKS

    @property
    def name(self) -> str:
        return "+".join(f.name for f in self.filters)


# Pairs of filters with an index of their own: a department's cases of a status or category are
# counted without walking all of the department's.
_PAIRS = (("department", "status"), ("department", "category"))
_SPECIFIC_FIRST = ("number", "caller", "category", "department", "status")


@dataclass
class _Query:
    """The filters of one search, resolved (codes to ids, dates to UTC instants)."""

    dialect: str
    filters: list[_Values] = field(default_factory=list)
    checks: list[_Check] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    phrases: list[list[str]] = field(default_factory=list)
    nothing: bool = False  # a filter no case can pass (an empty intersection)

    def ways(self) -> list[_Way]:
        """Every way in, the more specific first: pairs, a number, a caller, a category, a
        department, statuses (a status holds the most cases)."""
        by_name = {f.name: f for f in self.filters}
        ways = [_Way((by_name[a], by_name[b])) for a, b in _PAIRS if a in by_name and b in by_name]
        ways += [_Way((by_name[name],)) for name in _SPECIFIC_FIRST if name in by_name]
        return ways


def _category_ids(session: Session, code: str) -> tuple[int, ...]:
    """The category and every category below it (the tree is small: read whole)."""
    rows = session.execute(select(Category.id, Category.parent_id, Category.code)).all()
    start = next((row.id for row in rows if row.code == code), None)
    if start is None:
        raise FilterError("category", f"no category {code}")
    children: dict[int | None, list[int]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row.id)
    found: set[int] = set()
    waiting = [start]
    while waiting:
        node = waiting.pop()
        if node not in found:
            found.add(node)
            waiting.extend(children.get(node, ()))
    return tuple(sorted(found))


def _department_ids(session: Session, filters: CaseFilters) -> tuple[int, ...] | None:
    """The departments the list is limited to (the filter, within what the user may see); None
    for no limit."""
    wanted: set[int] | None = None
    if filters.department is not None:
        department = session.scalar(select(Department.id).where(Department.code == filters.department))
        if department is None:
            raise FilterError("department", f"no department {filters.department}")
        wanted = {department}
    if filters.departments_visible is not None:
        visible = set(filters.departments_visible)
        wanted = visible if wanted is None else wanted & visible
    return tuple(sorted(wanted)) if wanted is not None else None


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def parse_caller(text: str) -> tuple[str, str]:
    """("exact", number) or ("tail", last digits) for a typed caller number; FilterError else."""
    typed = text.strip().replace(" ", "").replace("-", "")
    if not CALLER_PATTERN.match(typed):
        raise FilterError("caller", f"{TAIL_DIGITS} to 20 digits (a leading + allowed)")
    if typed.startswith("+") or len(typed) >= FULL_NUMBER_DIGITS:
        return "exact", typed
    return "tail", typed


def _resolve(session: Session, filters: CaseFilters, *, dialect: str, zone: tzinfo, now: datetime) -> _Query:
    query = _Query(dialect)
    if filters.number is not None:
        # Unique: one case or none, whatever else is asked of it; always the narrowest way in.
        query.filters.append(_Values("number", Case.number, (filters.number.strip(),), ordered=False))
    statuses = set(filters.statuses) if filters.statuses else None
    if filters.overdue_only:
        # Overdue: the department's clock is running and its deadline has passed.
        statuses = set(WITH_DEPARTMENT) if statuses is None else statuses & set(WITH_DEPARTMENT)
        query.checks.append(_Check(Case.due_at, "before", now))
    if statuses is not None:
        query.nothing |= not statuses
        query.filters.append(_Values("status", Case.status, tuple(sorted(statuses))))
    departments = _department_ids(session, filters)
    if departments is not None:
        query.nothing |= not departments
        query.filters.append(_Values("department", Case.department_id, departments))
    if filters.category is not None:
        query.filters.append(_Values("category", Case.category_id, _category_ids(session, filters.category)))
    if filters.caller is not None:
        how, digits = parse_caller(filters.caller)
        if how == "exact":
            query.filters.append(_Values("caller", Case.caller_number, (digits,), ordered=False))
        else:
            ends = _Check(Case.caller_number, "ends", digits)
            tail = _Values("caller", _caller_tail(dialect), (digits[-TAIL_DIGITS:],), extra=ends)
            query.filters.append(tail)
    if filters.source is not None:
        query.checks.append(_Check(Case.source, "is", filters.source))
    if filters.urgency is not None:
        query.checks.append(_Check(Case.urgency, "is", filters.urgency))
    if filters.supervised_only:
        query.checks.append(_Check(Case.supervised, "true"))
    if filters.created_from is not None:
        query.since = _local_midnight(filters.created_from, zone)
    if filters.created_to is not None:
        query.until = _local_midnight(filters.created_to + timedelta(days=1), zone)
    if query.since is not None and query.until is not None and query.since >= query.until:
        query.nothing = True
    if filters.words is not None:
        query.phrases = phrases_of(filters.words)
        query.nothing |= not query.phrases  # only punctuation: nothing to look for
    return query


# ----- the search ---------------------------------------------------------------------------------
# The first stretch of a walk that may be long (common filters, common words): a week of cases
# checked row by row. Common words fill a page there; if they do not, they are rare enough to be
# worth the full-text index for the rest.
RECENT = timedelta(days=7)
# Cases holding the words that are still cheaper to take all and sort than to walk past: reading
# a case by its id and sorting costs a few microseconds, walking a common filter may meet 300,000.
WORDS_CAP = 20_000


def search_cases(
    session: Session,
    filters: CaseFilters,
    *,
    after: Cursor | None = None,
    limit: int = 50,
    zone: tzinfo = UTC,
    now: datetime | None = None,
) -> CasePage:
    """Cases that pass every filter, newest first, ``limit`` at a time (see the module's text).

    Raises FilterError for a filter naming nothing known (a category or department code) or a
    caller number that is not one."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit is 1 to {MAX_LIMIT}")
    dialect = session.get_bind().dialect.name
    now = now or utcnow()
    _custom_plans(session, dialect)
    query = _resolve(session, filters, dialect=dialect, zone=zone, now=now)
    if query.nothing:
        return CasePage([], has_more=False)
    ids = _page_ids(session, query, after, limit + 1, now)
    has_more = len(ids) > limit
    ids = ids[:limit]
    loaded = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(ids)))} if ids else {}
    cases = [loaded[case_id] for case_id in ids if case_id in loaded]
    last = cases[-1] if cases else None
    cursor = Cursor(last.created_at, last.id) if has_more and last is not None else None
    return CasePage(cases, has_more=has_more, next_cursor=cursor)


def _custom_plans(session: Session, dialect: str) -> None:
    """PostgreSQL: plan each query for its values. psycopg prepares a statement it has run five
    times on a connection, and PostgreSQL may then plan it once for any values: a walk through
    a department's cases chosen for the average department reads the whole year for one that
    has none (220 ms where the right plan takes 0.3). For this transaction only."""
    if dialect == "postgresql":
        session.execute(sql_text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # A walk's estimated cost can pass jit_above_cost, and compiling it then costs 50-80 ms
        # of a page that takes 5.
        session.execute(sql_text("SET LOCAL jit = off"))


@dataclass(frozen=True)
class _Span:
    """A stretch of time a walk covers: [since, until), and the cursor's row to start below."""

    since: datetime | None
    until: datetime | None
    after: Cursor | None


def _page_ids(session: Session, query: _Query, after: Cursor | None, wanted: int, now: datetime) -> list[int]:
    span = _Span(query.since, query.until, after)
    chosen = _choose_way(session, query, span)
    if chosen is None:
        return []  # a filter (or pair) that no case passes: nothing else to look at
    way, count = chosen
    branches = _branches(session, query, way)
    if branches == []:
        return []  # every value of the way is ruled out by another filter
    if not query.phrases or count < CAP:
        return _read(session, _select(query, way, span, wanted, words="row", branches=branches))
    # Words, and a walk that may be long: the newest stretch first, words checked row by row.
    newest = min(t for t in (now, query.until, after.at if after else None) if t is not None)
    edge = newest - RECENT
    if query.since is not None and edge <= query.since:
        return _read(session, _select(query, way, span, wanted, words="row", branches=branches))
    newest_week = _Span(edge, query.until, after)
    recent = _read(session, _select(query, way, newest_week, wanted, words="row", branches=branches))
    if len(recent) >= wanted:
        return recent
    older = _Span(query.since, edge, after)
    if query.dialect == "sqlite" and _words_first_cheaper(session, query, way):
        rest = _read(session, _select(query, None, older, wanted, words="ids"))
    else:
        rest = _read(session, _select(query, way, older, wanted, words="index", branches=branches))
    return (recent + rest)[:wanted]


def _branches(session: Session, query: _Query, way: _Way | None) -> list[_Way] | None:
    """The walks a way of several values splits into, one value each; None when it does not split.

    A value that another filter rules out would still be walked to the end (the department's
    cases of a category it never gets: a year of that category). Where a pair index covers the
    value and another filter, the pair is counted: no case drops the value, fewer than CAP make
    it a pair read through that index and sorted."""
    if way is None or not way.ordered or len(way.filters[0].values) == 1:
        return None
    one = way.filters[0]
    partners = [f for f in query.filters if (one.name, f.name) in _PAIRS or (f.name, one.name) in _PAIRS]
    branches = []
    for value in one.values:
        single = one.only(value)
        best: tuple[int, _Way] = (CAP, _Way((single,)))
        for partner in partners:
            pair = _Way((single, partner))
            count = _count(session, query, pair, CAP)
            if count < best[0]:
                best = (count, pair)
        if best[0] > 0:
            branches.append(best[1])
    return branches


def _read(session: Session, query: Select[int, datetime]) -> list[int]:
    """The ids of the rows, newest first (sorted here too: a page is small, and the order is
    then the page's whatever plan produced it)."""
    rows = sorted(session.execute(query).all(), key=lambda row: (row[1], row[0]), reverse=True)
    return [row[0] for row in rows]


def _choose_way(session: Session, query: _Query, span: _Span) -> tuple[_Way | None, int] | None:
    """The narrowest way in and its count (capped); (None, n) for a walk of every case in the
    date range (ix_cases_created_at); None when some filter holds no case at all.

    Counts stop at CAP; when several ways reach it they are counted again up to WIDE_CAP, and
    ties go to the first in ``_Query.ways``' order (the more specific filters first)."""
    ways = query.ways()
    if not ways:
        return None, CAP
    if len(ways) == 1 and ways[0].ordered and not query.phrases and span.since is None and span.until is None:
        return ways[0], 0  # nothing to choose between
    counts: dict[str, int] = {}
    for each in ways:
        counts[each.name] = _count(session, query, each, CAP)
        if counts[each.name] == 0:
            return None
    if span.since is not None or span.until is not None:
        counts["time"] = _count(session, query, None, CAP, span)
    usable: list[tuple[str, _Way | None]] = [(w.name, w) for w in ways if w.ordered or counts[w.name] < CAP]
    if "time" in counts or not usable:
        usable.append(("time", None))  # no usable way: the created_at walk
        counts.setdefault("time", CAP)
    at_cap = [name for name, _ in usable if counts[name] >= CAP]
    if len(at_cap) == len(usable) > 1:
        for name, candidate in usable:
            counts[name] = _count(session, query, candidate, WIDE_CAP, span if candidate is None else None)
    name, chosen = min(usable, key=lambda item: counts[item[0]])
    return chosen, counts[name]


def _count(session: Session, query: _Query, way: _Way | None, cap: int, span: _Span | None = None) -> int:
    """Cases passing ``way``'s filters (or in ``span``'s dates), counted through its index up to
    ``cap``."""
    if way is not None:
        conditions = [f.condition(query.dialect, way_in=True) for f in way.filters]
    else:
        assert span is not None
        conditions = _time(query, _Span(span.since, span.until, None), indexed=True)
    rows = select(literal(1)).select_from(Case).where(*conditions).limit(cap)
    return int(session.scalar(select(func.count()).select_from(rows.subquery())) or 0)


def _words_first_cheaper(session: Session, query: _Query, way: _Way | None) -> bool:
    """SQLite: whether to start from the cases holding the words (reading each, then sorting)
    rather than walk the way in, checking each case against the set of them: yes when at most
    WORDS_CAP hold the words and the way holds no fewer (a walk's step is an index entry, a
    start from the words a row read by its id: the smaller set leads). Counted in the FTS5 table
    and the way's index, both stopping at the cap. PostgreSQL is not asked: its GIN index
    cannot stop early, and the words' bitmap is what _select_one gives it anyway."""
    found = _fts_rowids(query.phrases).limit(WORDS_CAP + 1).subquery()
    held = int(session.scalar(select(func.count()).select_from(found)) or 0)
    if held > WORDS_CAP:
        return False
    return way is None or _count(session, query, way, held) >= held


def _time(query: _Query, span: _Span, *, indexed: bool) -> list[ColumnElement[bool]]:
    """The span on created_at: part of the index range when the walk is in created_at order
    (through a (column, created_at) index or ix_cases_created_at), else written with + (SQLite)."""
    created = _column(Case.created_at, query.dialect, way_in=indexed)
    conditions = []
    if span.since is not None:
        conditions.append(created >= span.since)
    if span.until is not None:
        conditions.append(created < span.until)
    if span.after is not None:
        # "<= created_at" alone is what an index range scan can use; the OR settles ties.
        conditions.append(created <= span.after.at)
        conditions.append(or_(created < span.after.at, Case.id < span.after.row_id))
    return conditions


def _select(
    query: _Query,
    way: _Way | None,
    span: _Span,
    wanted: int,
    *,
    words: str,
    branches: list[_Way] | None = None,
) -> Select[int, datetime]:
    """The page's ids and times: newest first through ``way`` (through each of ``branches``,
    merged, when it is one filter of several values), or through ix_cases_created_at when there
    is no way in; every other filter checked on the rows met.

    ``words``: "row" checks the phrases on each row met, "index" through the full-text index
    (SQLite: the set of its matching rowids, built once; PostgreSQL: the GIN expression, which
    its planner may also start from), "ids" starts from the cases holding them (SQLite)."""
    # PostgreSQL looks words up through the GIN index as a set (see _select_one): nothing to merge.
    gin = words == "index" and query.dialect == "postgresql"
    if way is not None and branches is not None and not gin:
        walks = [
            _select_one(query, branch, way.filters[0], span, wanted, words).subquery() for branch in branches
        ]
        merged = union_all(*(select(walk.c.id, walk.c.created_at) for walk in walks)).subquery()
        return (
            select(merged.c.id, merged.c.created_at)
            .order_by(merged.c.created_at.desc(), merged.c.id.desc())
            .limit(wanted)
        )
    return _select_one(query, way, None, span, wanted, words)


def _select_one(
    query: _Query,
    way: _Way | None,
    replaces: _Values | None,
    span: _Span,
    wanted: int,
    words: str,
) -> Select[int, datetime]:
    """One walk (see _select). ``replaces``: the filter of several values whose one value ``way``
    walks."""
    dialect = query.dialect
    leading = {id(f) for f in way.filters} if way is not None else set()
    if replaces is not None:
        leading.add(id(replaces))
    # Common words that a narrower filter's walk did not meet in its newest week (PostgreSQL):
    # the cases holding every token (GIN) and those of the way in, as two bitmaps PostgreSQL
    # can AND, then sorted. A walk would check the way's every case (a department's year) one
    # by one, and PostgreSQL, which takes the two filters for independent, expects a page soon.
    gin = words == "index" and dialect == "postgresql"
    ordered = way is not None and way.ordered and not gin
    # One filter of one value, walked in time order: PostgreSQL is given it as a range (as_range).
    key = way.filters[0] if ordered and way is not None and len(way.filters[0].values) == 1 else None
    leads: list[ColumnElement[bool]] = []  # what the way in reads (its index's range)
    checks: list[ColumnElement[bool]] = []  # what is checked on each row it yields
    if gin:
        # Every filter beside the words' bitmap: PostgreSQL ANDs the bitmaps it finds cheapest
        # (a department's category, through their pair's index, and the words).
        leading = {id(f) for f in query.filters}
        leads += [f.condition(dialect, way_in=True) for f in query.filters]
    elif key is not None:
        leads.append(key.condition(dialect, way_in=True) if dialect == "sqlite" else key.as_range())
    elif way is not None:
        leads += [f.condition(dialect, way_in=True) for f in way.filters]
    checks += [f.condition(dialect, way_in=False) for f in query.filters if id(f) not in leading]
    checks += [check.condition(dialect) for check in query.checks]
    in_time_order = (way is None and words != "ids" and not gin) or ordered
    (leads if in_time_order or gin else checks).extend(_time(query, span, indexed=in_time_order))
    if query.phrases and words == "ids":
        leads.append(Case.id.in_(_fts_rowids(query.phrases)))
    elif query.phrases and words == "index" and dialect == "sqlite":
        checks.append(_no_index(Case.id).in_(_fts_rowids(query.phrases)))
    elif query.phrases and gin:
        leads.append(_gin_holds(query.phrases))
        checks.append(_padded_holds(query.phrases, dialect))
    elif query.phrases:
        checks.append(_padded_holds(query.phrases, dialect))
    if dialect == "sqlite":
        # The unary + on every other column leaves SQLite only the way in (see _no_index). A way
        # that is not in time order is sorted: ordering by +created_at says so, or SQLite would
        # rather walk an index in time order than sort (and walk a department's year to find
        # its few cases of a status, where their pair's index holds just those).
        created = Case.created_at if in_time_order else _no_index(Case.created_at)
        return (
            select(Case.id, Case.created_at)
            .where(*leads, *checks)
            .order_by(created.desc(), Case.id.desc())
            .limit(wanted)
        )
    return _fenced(leads, checks, in_time_order=in_time_order, key=key.column if key else None, wanted=wanted)


def _fenced(
    leads: Sequence[ColumnElement[bool]],
    checks: Sequence[ColumnElement[bool]],
    *,
    in_time_order: bool,
    key: Any,
    wanted: int,
    inner_limit: int | None = None,
) -> Select[int, datetime]:
    """PostgreSQL: the way in as a subquery of its own (OFFSET 0 keeps it one: PostgreSQL neither
    merges it nor pushes the checks into it), the checks outside it.

    Left to itself, PostgreSQL prices a walk through a (column, created_at) index by its reads
    of scattered table pages, finds ix_cases_created_at cheaper (the table is in time order),
    and then reads most of the year for a department with few matching cases (330 ms, where its
    own index takes a few); given a list of ids, it may walk the year checking each row against
    it. Fenced, it reads the way in as asked, in its order when that is the page's: ordered by
    ``key`` (the walked filter's column, one value) and time, the subquery's order carries to
    the outer query, which neither sorts nor reads past the page."""
    order: list[ColumnElement[Any]] = [Case.created_at.desc(), Case.id.desc()]
    columns: list[ColumnElement[Any]] = list(Case.__table__.columns)
    if key is not None:
        columns.append(key.label("way_key"))
        order.insert(0, key.desc())
    inner = select(*columns).where(*leads)
    if in_time_order:
        inner = inner.order_by(*order)
    # OFFSET 0 (or a bound on the rows walked) keeps the subquery one.
    walked = (inner.offset(0) if inner_limit is None else inner.limit(inner_limit)).subquery("walked")
    adapt = ClauseAdapter(walked).traverse
    outer = select(walked.c.id, walked.c.created_at).where(*(adapt(check) for check in checks))
    if not in_time_order:
        return outer.order_by(walked.c.created_at.desc(), walked.c.id.desc()).limit(wanted)
    # No ORDER BY outside: with one, PostgreSQL plans the subquery for reading all of it (a
    # department's year, sorted); without, it passes the LIMIT down and walks only as far as the
    # page needs. The rows still come in the subquery's order: a filter over an ordered scan.
    return outer.limit(wanted)


# ----- similar texts: duplicates on intake, and the knowledge of closed cases ---------------------
# How many of the newest cases tell how common each character pair is (its document frequency):
# a pair found in none of them is rare, and worth more in the ranking, like BM25's idf.
SAMPLE = 1000
# How many of the text's rare pairs, and of its least common other pairs, fetch the candidates;
# the candidates are then ranked on all of the text's pairs.
LEADING_TERMS = 6
CANDIDATES = 300
# A pair in more of the sample than this is common: its cases are met soon walking newest first
# (checking the text); a rarer one's cases are all taken from the full-text index.
COMMON_IN_SAMPLE = 0.002
# A token in at most this share of the sample is uncommon enough to look a pair up by.
UNCOMMON_TOKEN = 0.05
# The newest cases walked for the common pairs, at most.
WALK_ROWS = 10_000
MAX_DUPLICATES = 10
# BM25's usual constants: how fast repeated terms stop counting, how much length weighs.
BM25_K1 = 1.2
BM25_B = 0.75
# The share of the text's weight (idf) a case must hold to count as "similar text".
SIMILAR_ENOUGH = 0.3

Term = tuple[str, ...]


@dataclass(frozen=True)
class Duplicate:
    """A case the new one may repeat: why (``same_caller``, ``same_place``, ``similar_text``),
    and how much of the new text's weight it holds (0 to 1)."""

    case: Case
    reasons: tuple[str, ...]
    similarity: float


@dataclass(frozen=True)
class Resolution:
    """A closed case like the text: how it was answered is on the case (``reply_text``, the
    department); ``hours`` and ``working_days`` from dispatch to closing."""

    case: Case
    similarity: float
    same_category: bool
    hours: float | None
    working_days: int | None


def _spaced(term: Term) -> str:
    """A term as search_text holds it, with the spaces around it that make it whole tokens."""
    return f" {' '.join(term)} "


def _sample_frequencies(session: Session, terms: Sequence[Term]) -> tuple[dict[Term, int], int]:
    """In how many of the SAMPLE newest cases each term is (and each of its tokens alone, as a
    term of one), and how many cases were looked at."""
    texts = session.scalars(select(Case.search_text).order_by(Case.created_at.desc()).limit(SAMPLE)).all()
    padded = [f" {text} " for text in texts]
    every = {*terms, *((token,) for term in terms for token in term)}
    spaced = {term: _spaced(term) for term in every}
    return {term: sum(1 for text in padded if spaced[term] in text) for term in every}, len(padded)


def _idf(frequency: int, sample: int) -> float:
    """BM25's idf, from the sample: never below a small positive weight, so a term every case
    holds still counts a little."""
    return max(0.05, math.log(1 + (sample - frequency + 0.5) / (frequency + 0.5)))


def _rank(
    texts: dict[int, str], terms: Sequence[Term], weights: dict[Term, float]
) -> dict[int, tuple[float, float]]:
    """(BM25 score, share of the terms' weight held) of each case's text."""
    if not texts:
        return {}
    lengths = {case_id: text.count(" ") + 1 for case_id, text in texts.items()}
    average = sum(lengths.values()) / len(lengths)
    total = sum(weights[term] for term in terms) or 1.0
    ranked = {}
    spaced = {term: _spaced(term) for term in terms}
    for case_id, held_text in texts.items():
        padded = f" {held_text} "
        score = held = 0.0
        for term in terms:
            times = padded.count(spaced[term])
            if times:
                norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[case_id] / average)
                score += weights[term] * times * (BM25_K1 + 1) / (times + norm)
                held += weights[term]
        ranked[case_id] = (score, held / total)
    return ranked


def _leading(terms: Sequence[Term], frequencies: dict[Term, int], count: int) -> list[Term]:
    """The ``count`` least common terms (the text's own order breaks ties)."""
    order = {term: index for index, term in enumerate(terms)}
    return sorted(terms, key=lambda term: (frequencies[term], order[term]))[:count]


def _holding_any(
    session: Session,
    terms: Sequence[Term],
    *,
    common: bool,
    lead: _Values | None = None,
    since: datetime | None = None,
    checks: Sequence[ColumnElement[bool]] = (),
) -> dict[int, str]:
    """Up to CANDIDATES cases, newest first, holding any of ``terms``, of ``lead``'s values
    (a category), filed ``since``, passing ``checks``: {id: search_text}."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        ids = _holding_any_fts(session, terms, lead=lead, since=since, checks=checks)
    else:
        ids = _holding_any_gin(session, terms, common=common, lead=lead, since=since, checks=checks)
    rows = session.execute(select(Case.id, Case.search_text).where(Case.id.in_(ids))).all()
    texts = {row.id: row.search_text for row in rows}
    return {case_id: texts[case_id] for case_id in ids if case_id in texts}


def _holding_any_fts(
    session: Session,
    terms: Sequence[Term],
    *,
    lead: _Values | None,
    since: datetime | None,
    checks: Sequence[ColumnElement[bool]],
) -> list[int]:
    either = " OR ".join(fts5_phrase(term) for term in terms)
    matching = select(_FTS.c.rowid).where(
        literal_column("cases_fts").op("MATCH")(bindparam("fts_any", either))
    )
    conditions = [*checks, *([lead.condition("sqlite", way_in=False)] if lead is not None else [])]
    if since is not None:
        # The window's lowest id bounds the FTS5 scan (ids follow filing, near enough: the
        # bound is the lowest id filed since, so nothing in the window is left out).
        lowest = session.scalar(select(func.min(Case.id)).where(Case.created_at >= since))
        matching = matching.where(_FTS.c.rowid >= (lowest if lowest is not None else 2**31))
        conditions.append(_no_index(Case.created_at) >= since)
    # The FTS5 table hands its rowids newest first and stops at the limit; the rest is checked
    # on those rows only.
    newest = matching.order_by(_FTS.c.rowid.desc()).limit(CANDIDATES * 10)
    found = select(Case.id).where(Case.id.in_(newest), *conditions).order_by(Case.id.desc()).limit(CANDIDATES)
    return list(session.scalars(found))


def _holding_any_gin(
    session: Session,
    terms: Sequence[Term],
    *,
    common: bool,
    lead: _Values | None,
    since: datetime | None,
    checks: Sequence[ColumnElement[bool]],
) -> list[int]:
    """PostgreSQL never parses a row's text here: to_tsvector costs tens of microseconds a case,
    and its planner prices it as nearly free (walking a month of cases, parsing each, took a
    second). Common pairs are found walking newest first with a position test; rare ones
    through their GIN bitmaps alone, everything else checked after."""
    spelled = or_(*(_holds_spelled(_spaced(term), "postgresql") for term in terms))
    single = lead is not None and len(lead.values) == 1
    rest = list(checks)
    if common:
        # Through the lead's index when it is one value (see _fenced), at most WALK_ROWS cases.
        leads = [lead.as_range()] if lead is not None and single else []
        if lead is not None and not single:
            rest.append(lead.condition("postgresql", way_in=True))
        if since is not None:
            leads.append(Case.created_at >= since)
        key = lead.column if lead is not None and single else None
        walk = _fenced(
            leads, [*rest, spelled], in_time_order=True, key=key, wanted=CANDIDATES, inner_limit=WALK_ROWS
        )
        return _read(session, walk)
    anywhere: ColumnElement[Any] | None = None
    for term in terms:
        one = func.plainto_tsquery(_SIMPLE, " ".join(term))
        anywhere = one if anywhere is None else anywhere.op("||")(one)
    if lead is not None:
        rest.append(lead.condition("postgresql", way_in=True))
    if since is not None:
        rest.append(Case.created_at >= since)
    gin = func.to_tsvector(_SIMPLE, Case.search_text).op("@@")(anywhere)
    return _read(session, _fenced([gin], [*rest, spelled], in_time_order=False, key=None, wanted=CANDIDATES))


def _similar_texts(
    session: Session,
    text: str,
    *,
    lead: _Values | None = None,
    since: datetime | None = None,
    checks: Sequence[ColumnElement[bool]] = (),
    sampled: tuple[dict[Term, int], int] | None = None,
) -> dict[int, tuple[float, float]]:
    """Candidates like ``text`` (see _holding_any), ranked: {id: (BM25 score, share held)}.

    Two sets of candidates: every case holding one of the text's rare pairs (an address, an
    unusual word: few cases, read through the full-text index), and the newest cases holding
    one of its least common other pairs (common words: their cases are met soon)."""
    terms = similarity_terms(text)
    if not terms:
        return {}
    frequencies, sample = sampled or _sample_frequencies(session, terms)
    weights = {term: _idf(frequencies[term], sample) for term in terms}
    by_rarity = _leading(terms, frequencies, len(terms))
    # Rare: few cases hold the pair, and one of its tokens is uncommon too (the index reads a
    # token's whole list: a pair of common characters that rarely meet, such as the 道 老 of
    # 楼道老人, is slow to look up and says little).
    rare = [
        t
        for t in by_rarity
        if frequencies[t] <= COMMON_IN_SAMPLE * sample
        and min(frequencies[(token,)] for token in t) <= UNCOMMON_TOKEN * sample
    ][:LEADING_TERMS]
    common = [t for t in by_rarity if t not in rare][:LEADING_TERMS]
    texts: dict[int, str] = {}
    for group, is_common in ((rare, False), (common, True)):
        if group:
            texts.update(
                _holding_any(session, group, common=is_common, lead=lead, since=since, checks=checks)
            )
    return _rank(texts, terms, weights)


def _window_start(now: datetime, window_days: int) -> datetime:
    return now - timedelta(days=window_days)


def _pool(now: datetime, window_days: int) -> ColumnElement[bool]:
    """Cases a new one may repeat: open ones, and those closed within the window (merged ones
    already repeat another)."""
    recently = _window_start(now, window_days)
    return or_(Case.status.in_(OPEN), and_(Case.status.in_(FINISHED), Case.closed_at >= recently))


def duplicate_candidates(
    session: Session,
    *,
    caller_number: str = "",
    street: str = "",
    grid_cell: str = "",
    address: str = "",
    text: str = "",
    exclude_number: str = "",
    now: datetime | None = None,
    window_days: int = 30,
) -> list[Duplicate]:
    """Open (and recently closed) cases the new one may repeat, best first, at most 10: from the
    same caller, at the same place (street and grid cell, or the address), or of similar text
    (within the last ``window_days``)."""
    now = now or utcnow()
    _custom_plans(session, session.get_bind().dialect.name)
    pool = _pool(now, window_days)
    reasons: dict[int, set[str]] = {}
    likeness: dict[int, float] = {}

    def found(case_ids: Iterable[int], reason: str) -> None:
        for case_id in case_ids:
            reasons.setdefault(case_id, set()).add(reason)

    caller_number = caller_number.strip()
    if caller_number:
        found(_newest_of(session, Case.caller_number == caller_number, pool), "same_caller")
    if street.strip() and grid_cell.strip():
        street_is = _column(Case.street, session.get_bind().dialect.name) == street.strip()
        found(_newest_of(session, and_(Case.grid_cell == grid_cell.strip(), street_is), pool), "same_place")
    since = _window_start(now, window_days)
    place = tokens(address)
    if place:
        found(_holding_any(session, [tuple(place)], common=False, since=since, checks=[pool]), "same_place")
    if text.strip():
        ranked = _similar_texts(session, text, since=since, checks=[pool])
        for case_id, (_score, held) in ranked.items():
            if held >= SIMILAR_ENOUGH:
                reasons.setdefault(case_id, set()).add("similar_text")
            if case_id in reasons:
                likeness[case_id] = held
    if not reasons:
        return []
    # Ranked on a few columns; only the cases shown are loaded whole.
    facts = session.execute(
        select(Case.id, Case.number, Case.status, Case.created_at).where(Case.id.in_(list(reasons)))
    ).all()
    kept = [row for row in facts if row.number != exclude_number]
    kept.sort(
        key=lambda row: (
            len(reasons[row.id]),
            CaseStatus(row.status).is_open,
            likeness.get(row.id, 0.0),
            row.created_at,
            row.id,
        ),
        reverse=True,
    )
    shown = _load_in_order(session, [row.id for row in kept[:MAX_DUPLICATES]])
    order = ("same_caller", "same_place", "similar_text")
    return [
        Duplicate(
            case=case,
            reasons=tuple(r for r in order if r in reasons[case.id]),
            similarity=round(likeness.get(case.id, 0.0), 3),
        )
        for case in shown
    ]


def _load_in_order(session: Session, ids: Sequence[int]) -> list[Case]:
    loaded = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(list(ids))))} if ids else {}
    return [loaded[case_id] for case_id in ids if case_id in loaded]


def _newest_of(session: Session, lead: ColumnElement[bool], pool: ColumnElement[bool]) -> list[int]:
    """The pool's cases among the newest CANDIDATES that pass ``lead`` (a caller's, a grid cell's:
    read through their index, highest ids first; SQLite's index holds them in that order)."""
    newest = select(Case.id).where(lead).order_by(Case.id.desc()).limit(CANDIDATES)
    return list(session.scalars(select(Case.id).where(Case.id.in_(newest), pool)))


def similar_closed(
    session: Session,
    *,
    text: str,
    category_code: str | None = None,
    limit: int = 5,
    zone: tzinfo = UTC,
    calendar: WorkingCalendar | None = None,
) -> list[Resolution]:
    """Closed (and evaluated) cases like ``text``, cases of the same category (or below it)
    first, then by how alike: what was answered, by which department, in how long."""
    if not 1 <= limit <= 50:
        raise ValueError("limit is 1 to 50")
    _custom_plans(session, session.get_bind().dialect.name)
    category_ids: tuple[int, ...] = ()
    if category_code:
        category_ids = _category_ids(session, category_code)
    finished = [Case.status.in_(FINISHED)]
    terms = similarity_terms(text)
    if not terms:
        return []
    sampled = _sample_frequencies(session, terms)
    ranked = _similar_texts(session, text, checks=finished, sampled=sampled)
    if category_ids:
        # The category's own closed cases, looked for apart: among all the closed cases of a
        # common text they may not be the newest.
        category = _Values("category", Case.category_id, category_ids)
        ranked.update(_similar_texts(session, text, lead=category, checks=finished, sampled=sampled))
    ranked = {case_id: value for case_id, value in ranked.items() if value[0] > 0}
    if not ranked:
        return []
    facts = session.execute(
        select(Case.id, Case.category_id, Case.created_at).where(Case.id.in_(list(ranked)))
    ).all()
    best = sorted(
        facts,
        key=lambda row: (row.category_id in category_ids, ranked[row.id][0], row.created_at, row.id),
        reverse=True,
    )
    return [
        Resolution(
            case=case,
            similarity=round(ranked[case.id][1], 3),
            same_category=case.category_id in category_ids,
            hours=_hours(case),
            working_days=_working_days(case, zone, calendar),
        )
        for case in _load_in_order(session, [row.id for row in best[:limit]])
    ]


def _hours(case: Case) -> float | None:
    if case.dispatched_at is None or case.closed_at is None:
        return None
    return round((case.closed_at - case.dispatched_at).total_seconds() / 3600, 1)


def _working_days(case: Case, zone: tzinfo, calendar: WorkingCalendar | None) -> int | None:
    if calendar is None or case.dispatched_at is None or case.closed_at is None:
        return None
    start = case.dispatched_at.astimezone(zone).date()
    end = case.closed_at.astimezone(zone).date()
    return int(calendar.working_days_between(start, end))
