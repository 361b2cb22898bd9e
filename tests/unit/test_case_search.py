"""case_bridge.search: the case list's search, duplicates on intake, similar closed cases.

Run on a migrated SQLite database here (FTS5); tests/integration/test_case_search_postgres.py
runs these same tests on PostgreSQL (GIN) by giving ``search_db`` another database.

The search reads a page through whichever filter is narrowest, in phases that depend on how many
cases each filter holds; ``tiny`` shrinks those thresholds so that a handful of cases takes the
paths a year of them would, and every search is checked against the filters applied by hand.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from case_bridge import catalogue, search
from case_bridge.deadlines import calendar_of
from case_bridge.lifecycle import CaseStatus
from case_bridge.models import Case, Category, Department
from case_bridge.search import (
    CaseFilters,
    FilterError,
    duplicate_candidates,
    search_cases,
    similar_closed,
)
from hotline.case_settings import CaseSettings
from hotline.db import Database
from hotline.keyset import Cursor
from hotline.text_tokens import search_text, tokens

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 18, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai


@pytest.fixture
def search_db(db: Database) -> Database:
    return db


@pytest.fixture
def seeded(search_db: Database) -> Database:
    with search_db.unit_of_work() as session:
        catalogue.seed_defaults(session)
    return search_db


@pytest.fixture(params=["as shipped", "tiny"])
def thresholds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The search as shipped, and with its thresholds so small that a few cases count as many:
    every way in is "common", walks split and merge, the newest-week phase gives way to the
    full-text index."""
    if request.param == "tiny":
        monkeypatch.setattr(search, "CAP", 2)
        monkeypatch.setattr(search, "WIDE_CAP", 3)
        monkeypatch.setattr(search, "WORDS_CAP", 2)
        monkeypatch.setattr(search, "MAX_WALKS", 3)
        monkeypatch.setattr(search, "RECENT", timedelta(days=1))
    return str(request.param)


# ----- making cases -------------------------------------------------------------------------------
@dataclass
class Made:
    """What a test case holds, to filter by hand."""

    id: int
    number: str
    status: str
    category: str | None
    department: str | None
    source: str
    urgency: str
    caller: str
    created_at: datetime
    due_at: datetime | None
    supervised: bool
    text: str


def ids_of(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    departments = {d.code: d.id for d in session.scalars(select(Department))}
    categories = {c.code: c.id for c in session.scalars(select(Category))}
    return departments, categories


def add_case(
    session: Session,
    number: str,
    created_at: datetime,
    *,
    content: str = "人民路12号路灯不亮",
    title: str = "",
    status: str = CaseStatus.DISPATCHED,
    category: str | None = "street_light",
    department: str | None = "city_management",
    source: str = "phone",
    urgency: str = "normal",
    caller: str = "13812345678",
    street: str = "人民路街道",
    grid_cell: str = "E0102",
    address: str = "",
    due_at: datetime | None = None,
    supervised: bool = False,
    dispatched_at: datetime | None = None,
    closed_at: datetime | None = None,
    reply_text: str = "",
) -> Case:
    """A case row as the service leaves it (search_text made the same way), written directly so
    that a test sets any status, time and flag it needs."""
    departments, categories = ids_of(session)
    title = title or content[:40]
    case = Case(
        number=number,
        source=source,
        status=str(status),
        category_id=categories[category] if category else None,
        department_id=departments[department] if department else None,
        urgency=urgency,
        title=title,
        content=content,
        caller_number=caller,
        street=street,
        grid_cell=grid_cell,
        address=address,
        created_at=created_at,
        updated_at=created_at,
        dispatched_at=dispatched_at,
        due_at=due_at,
        supervised=supervised,
        closed_at=closed_at,
        reply_text=reply_text,
        search_text=search_text(" ".join((title, content, address, street))),
    )
    session.add(case)
    session.flush()
    return case


def find(db: Database, filters: CaseFilters, **options: Any) -> search.CasePage:
    with db.unit_of_work() as session:
        return search_cases(session, filters, zone=ZONE, now=NOW, **options)


def numbers(page: search.CasePage) -> list[str]:
    return [case.number for case in page.cases]


def every_page(db: Database, filters: CaseFilters, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = find(db, filters, after=cursor, limit=limit)
        pages.append(numbers(page))
        if not page.has_more:
            assert page.next_cursor is None
            return pages
        assert page.next_cursor is not None
        cursor = Cursor.decode(page.next_cursor.encode())  # as a client hands it back


# ----- the list: order and pages ------------------------------------------------------------------
def test_given_cases_some_filed_at_the_same_instant_when_paged_then_each_comes_once_newest_first(
    seeded, thresholds
):
    with seeded.unit_of_work() as session:
        for n in range(9):
            # Pairs share their filing instant: the id settles the order between them.
            add_case(session, f"C{n}", NOW - timedelta(hours=10 - n // 2))

    pages = every_page(seeded, CaseFilters(), limit=2)

    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert [n for p in pages for n in p] == ["C8", "C7", "C6", "C5", "C4", "C3", "C2", "C1", "C0"]


def test_given_a_page_handed_out_when_a_case_is_filed_then_the_next_page_neither_repeats_nor_skips(seeded):
    with seeded.unit_of_work() as session:
        for n in range(4):
            add_case(session, f"D{n}", NOW - timedelta(hours=5 - n))
    first = find(seeded, CaseFilters(), limit=2)
    with seeded.unit_of_work() as session:
        add_case(session, "D-new", NOW)

    second = find(seeded, CaseFilters(), limit=2, after=first.next_cursor)

    assert numbers(first) == ["D3", "D2"]
    assert numbers(second) == ["D1", "D0"]


# ----- every filter, against the same filters applied by hand ------------------------------------
TOPICS = [
    ("street_light", "city_management", "路灯不亮", ["人民路", "解放路"]),
    ("rubbish", "east_district", "垃圾没有清运 rubbish", ["幸福小区", "解放路"]),
    ("noise", "environment", "夜间施工噪音扰民", ["人民路", "建设路"]),
    ("water_outage", "water", "小区停水 no water", ["幸福小区"]),
    ("gas_leak", "gas", "楼道燃气泄漏", ["建设路"]),
    ("enquiry", None, "社保怎么办理", ["人民路"]),
]
STATUSES = [
    "intake",
    "filed",
    "dispatched",
    "signed",
    "handling",
    "replied",
    "returned",
    "closed",
    "evaluated",
]
CALLERS = ["13812345678", "13912345678", "02012345678", "13800005678", "+8613812340000"]


@pytest.fixture
def many(seeded: Database) -> list[Made]:
    """Sixty cases over forty days, of every topic, status, caller and flag."""
    rng = random.Random(12345)
    made = []
    with seeded.unit_of_work() as session:
        for n in range(60):
            category, department, words, places = TOPICS[n % len(TOPICS)]
            status = STATUSES[rng.randrange(len(STATUSES))]
            if department is None and status in ("dispatched", "signed", "handling", "replied", "returned"):
                status = "filed"
            created = NOW - timedelta(hours=n * 16 + rng.randrange(3))
            due = created + timedelta(days=rng.choice([1, 3, 30])) if department else None
            content = f"{rng.choice(places)}{n}号{words}"
            case = add_case(
                session,
                f"M{n:03d}",
                created,
                content=content,
                status=status,
                category=category,
                department=department if status not in ("intake",) else None,
                source=rng.choice(["phone", "phone", "web", "open311"]),
                urgency="urgent" if n % 7 == 0 else "normal",
                caller=CALLERS[n % len(CALLERS)],
                due_at=due,
                supervised=n % 5 == 0,
            )
            made.append(
                Made(
                    case.id, case.number, status, category,
                    department if status != "intake" else None,
                    case.source, case.urgency, case.caller_number, created, due, case.supervised,
                    case.search_text,
                )
            )  # fmt: skip
    return made


def by_hand(made: Sequence[Made], filters: CaseFilters, descendants: dict[str, set[str]]) -> list[str]:
    """The filters applied one by one, in Python: what the search must find."""
    found = []
    for case in made:
        if filters.words is not None:
            phrases = [tokens(part) for part in filters.words.split() if tokens(part)]
            if not phrases or any(f" {' '.join(p)} " not in f" {case.text} " for p in phrases):
                continue
        if filters.number is not None and case.number != filters.number:
            continue
        if filters.caller is not None:
            typed = filters.caller
            exact = typed.startswith("+") or len(typed) >= 11
            if (case.caller != typed) if exact else not case.caller.endswith(typed):
                continue
        if filters.statuses and case.status not in filters.statuses:
            continue
        if filters.overdue_only and not (
            case.status in ("dispatched", "signed", "handling") and case.due_at and case.due_at < NOW
        ):
            continue
        if filters.department is not None and case.department != filters.department:
            continue
        if filters.category is not None and case.category not in descendants[filters.category]:
            continue
        if filters.source is not None and case.source != filters.source:
            continue
        if filters.urgency is not None and case.urgency != filters.urgency:
            continue
        if filters.supervised_only and not case.supervised:
            continue
        local = case.created_at.astimezone(ZONE).date()
        if filters.created_from is not None and local < filters.created_from:
            continue
        if filters.created_to is not None and local > filters.created_to:
            continue
        found.append(case)
    found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
    return [c.number for c in found]


DAY = NOW.astimezone(ZONE).date()
ASKED = [
    CaseFilters(),
    CaseFilters(words="路灯"),
    CaseFilters(words="路 灯"),
    CaseFilters(words="人民路 路灯"),
    CaseFilters(words="RUBBISH"),
    CaseFilters(words="no water"),
    CaseFilters(words="灯路"),
    CaseFilters(words="人民"),
    CaseFilters(statuses=("handling",)),
    CaseFilters(statuses=("dispatched", "signed", "handling")),
    CaseFilters(statuses=("closed", "evaluated"), words="噪音"),
    CaseFilters(department="city_management"),
    CaseFilters(department="gas", statuses=("closed",)),
    CaseFilters(department="water", category="street_light"),
    CaseFilters(category="city_event"),
    CaseFilters(category="city_event", statuses=("filed", "returned", "handling")),
    CaseFilters(category="public_facilities", department="city_management", words="路灯"),
    CaseFilters(caller="13812345678"),
    CaseFilters(caller="5678"),
    CaseFilters(caller="005678"),
    CaseFilters(caller="+8613812340000"),
    CaseFilters(source="web"),
    CaseFilters(source="open311", statuses=("closed",)),
    CaseFilters(urgency="urgent"),
    CaseFilters(overdue_only=True),
    CaseFilters(overdue_only=True, department="city_management"),
    CaseFilters(overdue_only=True, statuses=("closed",)),
    CaseFilters(supervised_only=True),
    CaseFilters(supervised_only=True, words="人民路"),
    CaseFilters(created_from=DAY - timedelta(days=10), created_to=DAY - timedelta(days=3)),
    CaseFilters(created_from=DAY - timedelta(days=20), words="幸福小区"),
    CaseFilters(created_to=DAY - timedelta(days=30), statuses=("evaluated", "closed", "replied")),
    CaseFilters(number="M007"),
    CaseFilters(number="M007", urgency="urgent"),
    CaseFilters(
        words="人民路",
        statuses=("dispatched", "handling", "closed"),
        department="city_management",
        category="street_light",
        source="phone",
        urgency="normal",
        created_from=DAY - timedelta(days=35),
        created_to=DAY,
    ),
]


@pytest.mark.parametrize("filters", ASKED, ids=[str(n) for n in range(len(ASKED))])
def test_given_many_cases_when_searched_then_exactly_the_cases_the_filters_pass_newest_first(
    seeded, many, thresholds, filters
):
    with seeded.unit_of_work() as session:
        tree = {c.code: c for c in session.scalars(select(Category))}
    descendants = {code: _below(code, tree) for code in tree}

    pages = every_page(seeded, filters, limit=4)

    assert [n for p in pages for n in p] == by_hand(many, filters, descendants)


def _below(code: str, tree: dict[str, Category]) -> set[str]:
    by_id = {c.id: c for c in tree.values()}
    found = {code}
    changed = True
    while changed:
        changed = False
        for category in tree.values():
            parent = by_id.get(category.parent_id) if category.parent_id else None
            if parent is not None and parent.code in found and category.code not in found:
                found.add(category.code)
                changed = True
    return found


def test_given_a_department_user_when_searched_then_only_their_departments_cases_whatever_they_ask(
    seeded, many, thresholds
):
    with seeded.unit_of_work() as session:
        departments, _ = ids_of(session)
    mine = frozenset({departments["city_management"], departments["gas"]})

    everything = [n for p in every_page(seeded, CaseFilters(departments_visible=mine), limit=5) for n in p]
    asked_other = find(seeded, CaseFilters(departments_visible=mine, department="water"))
    asked_own = find(seeded, CaseFilters(departments_visible=mine, department="gas"), limit=100)

    expected = [m.number for m in sorted(many, key=lambda m: (m.created_at, m.id), reverse=True)
                if m.department in ("city_management", "gas")]  # fmt: skip
    assert everything == expected and everything
    assert numbers(asked_other) == []
    assert numbers(asked_own) == [
        m for m in expected if m in {x.number for x in many if x.department == "gas"}
    ]
    # Nobody's department: a case still with the dispatcher is not theirs.
    assert numbers(find(seeded, CaseFilters(departments_visible=frozenset()))) == []


def test_given_dates_when_searched_then_both_ends_count_whole_local_days(seeded):
    with seeded.unit_of_work() as session:
        # 2026-09-16 23:59 and 2026-09-17 00:00 in Shanghai (15:59 and 16:00 UTC on the 16th).
        add_case(session, "late", datetime(2026, 9, 16, 15, 59, tzinfo=UTC))
        add_case(session, "midnight", datetime(2026, 9, 16, 16, 0, tzinfo=UTC))
        add_case(session, "next", datetime(2026, 9, 17, 16, 0, tzinfo=UTC))

    only_17th = find(seeded, CaseFilters(created_from=date(2026, 9, 17), created_to=date(2026, 9, 17)))
    to_16th = find(seeded, CaseFilters(created_to=date(2026, 9, 16)))
    backwards = find(seeded, CaseFilters(created_from=date(2026, 9, 18), created_to=date(2026, 9, 17)))

    assert numbers(only_17th) == ["midnight"]
    assert numbers(to_16th) == ["late"]
    assert numbers(backwards) == []


@pytest.mark.parametrize(
    "typed", ['"路灯', "路灯 OR 垃圾", "路*", "NEAR(路 灯)", "content:路灯", "^路灯", "路灯'; --"]
)
def test_given_query_syntax_in_the_words_when_searched_then_it_is_only_text(seeded, typed):
    with seeded.unit_of_work() as session:
        add_case(session, "X1", NOW - timedelta(hours=1), content="人民路路灯不亮")

    page = find(seeded, CaseFilters(words=typed))

    # No error, whatever the database's query language would make of it.
    assert isinstance(page.cases, list)


def test_given_words_with_no_token_when_searched_then_nothing_rather_than_everything(seeded):
    with seeded.unit_of_work() as session:
        add_case(session, "P1", NOW - timedelta(hours=1))

    assert numbers(find(seeded, CaseFilters(words="，。！ ?"))) == []


def test_given_codes_nobody_has_when_searched_then_the_filter_is_named(seeded):
    with pytest.raises(FilterError) as unknown_category:
        find(seeded, CaseFilters(category="no_such"))
    with pytest.raises(FilterError) as unknown_department:
        find(seeded, CaseFilters(department="no_such"))
    with pytest.raises(FilterError) as three_digits:
        find(seeded, CaseFilters(caller="678"))

    assert (unknown_category.value.field, unknown_department.value.field) == ("category", "department")
    assert three_digits.value.field == "caller"


def test_given_a_cursor_when_encoded_then_it_decodes_to_the_same_instant_and_case():
    cursor = Cursor(datetime(2026, 9, 18, 2, 0, 0, 123456, tzinfo=UTC), 42)

    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["", "abc", "1-", "-1", "1-0", "1-99999999999", "1-2147483648"])
def test_given_a_cursor_nobody_handed_out_when_decoded_then_it_is_refused(text):
    with pytest.raises(ValueError):
        Cursor.decode(text)


def test_given_terms_with_quotes_when_made_a_phrase_then_the_quotes_are_doubled():
    assert search.fts5_phrase(['a"b', "c"]) == '"a""b c"'


# ----- duplicates on intake -----------------------------------------------------------------------
# (number, hours before NOW, what it says, caller, street, grid cell, and anything else)
POOL: list[tuple[str, float, str, str, str, str, dict[str, Any]]] = [
    ("same-caller", 5, "小区门口积水", "13900001111", "建设街道", "W0201", {"category": "local_event"}),
    ("same-grid", 4, "楼下井盖丢了", "13700000001", "人民路街道", "E0102", {"category": "manhole_cover"}),
    ("same-address", 3, "门前有小广告", "13700000002", "东华街道", "E0900",
     {"address": "人民路12号", "category": "advertising"}),
    ("similar-text", 2, "解放路路灯不亮已经三天了，晚上很黑", "13700000003", "解放街道", "E0500", {}),
    ("caller-and-text", 6, "人民路12号路灯不亮，晚上很黑", "13900001111", "解放街道", "E0500", {}),
    ("closed-recently", 480, "路灯不亮 晚上很黑", "13700000004", "南山街道", "W0700",
     {"status": "closed", "closed_at": NOW - timedelta(days=10)}),
    ("closed-long-ago", 2160, "路灯不亮 晚上很黑", "13900001111", "人民路街道", "E0102",
     {"status": "closed", "closed_at": NOW - timedelta(days=80)}),
    ("merged", 1, "人民路12号路灯不亮", "13900001111", "人民路街道", "E0102", {"status": "merged"}),
    ("unrelated", 1, "公司拖欠工资三个月", "13700000005", "西城街道", "W1500",
     {"category": "unpaid_wages", "department": "human_resources"}),
    ("this-one", 0, "人民路12号路灯不亮，晚上很黑", "13900001111", "人民路街道", "E0102",
     {"address": "人民路12号"}),
]  # fmt: skip


def add_pool(session: Session) -> None:
    """An open case from the caller, one at the same place, one of similar text, and the cases
    that must not be offered: long closed, merged, unrelated."""
    for number, hours, content, caller, street, grid_cell, more in POOL:
        add_case(
            session, number, NOW - timedelta(hours=hours), content=content, caller=caller,
            street=street, grid_cell=grid_cell, **more,
        )  # fmt: skip


def duplicates(db: Database, **asked: Any) -> list[search.Duplicate]:
    with db.unit_of_work() as session:
        return duplicate_candidates(session, now=NOW, window_days=30, **asked)


def test_given_a_new_case_when_duplicates_are_looked_for_then_each_comes_with_why_best_first(
    seeded, thresholds
):
    with seeded.unit_of_work() as session:
        add_pool(session)

    found = duplicates(
        seeded,
        caller_number="13900001111",
        street="人民路街道",
        grid_cell="E0102",
        address="人民路12号",
        text="人民路12号路灯不亮，晚上很黑",
        exclude_number="this-one",
    )
    why = {d.case.number: d.reasons for d in found}

    assert why["caller-and-text"] == ("same_caller", "same_place", "similar_text")
    assert why["same-caller"] == ("same_caller",)
    assert why["same-grid"] == ("same_place",)
    assert why["same-address"] == ("same_place",)
    assert why["similar-text"] == ("similar_text",)
    assert why["closed-recently"] == ("similar_text",)
    assert not {"closed-long-ago", "merged", "unrelated", "this-one"} & set(why)
    # Most reasons first; among equals, open before closed, then the more alike.
    assert found[0].case.number == "caller-and-text"
    assert [d.case.number for d in found].index("closed-recently") > [d.case.number for d in found].index(
        "similar-text"
    )
    assert 0 < found[-1].similarity <= 1 or found[-1].reasons != ("similar_text",)


def test_given_many_open_cases_from_one_caller_when_duplicates_are_looked_for_then_ten_at_most(seeded):
    with seeded.unit_of_work() as session:
        for n in range(14):
            add_case(session, f"R{n}", NOW - timedelta(hours=n + 1), caller="13900002222")

    found = duplicates(seeded, caller_number="13900002222")

    assert len(found) == 10
    assert [d.case.number for d in found] == [f"R{n}" for n in range(10)]  # the newest first


def test_given_nothing_to_go_by_when_duplicates_are_looked_for_then_none(seeded):
    with seeded.unit_of_work() as session:
        add_pool(session)

    assert duplicates(seeded) == []
    assert duplicates(seeded, text="，。") == []


# ----- knowledge: similar closed cases ------------------------------------------------------------
def test_given_closed_cases_when_similar_ones_are_asked_then_same_category_first_with_how_and_how_long(
    seeded, thresholds
):
    dispatched = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)  # Tue 1 Sep, 09:00 in Shanghai
    closed: dict[str, Any] = {"dispatched_at": dispatched, "status": "closed"}
    with seeded.unit_of_work() as session:
        add_case(
            session,
            "K1",
            dispatched,
            content="解放路路灯不亮，晚上很黑",
            reply_text="更换灯泡，已亮",
            **{**closed, "status": "evaluated", "closed_at": dispatched + timedelta(days=3, hours=2)},
        )
        add_case(
            session,
            "K2",
            dispatched,
            content="解放路路灯不亮 树枝挡住",
            reply_text="已修剪树枝",
            category="greenery",
            department="greening",
            **{**closed, "closed_at": dispatched + timedelta(hours=5)},
        )
        add_case(session, "K3", dispatched, content="路灯不亮", status="handling", dispatched_at=dispatched)
        add_case(
            session,
            "K4",
            dispatched,
            content="公司拖欠工资",
            category="unpaid_wages",
            department="human_resources",
            **{**closed, "closed_at": dispatched + timedelta(days=9)},
        )

    with seeded.unit_of_work() as session:
        found = similar_closed(
            session,
            text="人民路路灯不亮，晚上很黑",
            category_code="street_light",
            zone=ZONE,
            calendar=calendar_of(CaseSettings()),
        )
        shown = [(r.case.number, r.same_category, r.hours, r.working_days, r.case.reply_text) for r in found]

    assert shown == [
        # Dispatched Tue 1 Sep, closed Fri 4 Sep: 3 working days, 74 hours.
        ("K1", True, 74.0, 3, "更换灯泡，已亮"),
        ("K2", False, 5.0, 0, "已修剪树枝"),
    ]
    assert found[0].similarity > found[1].similarity > 0


def test_given_a_text_with_nothing_to_compare_when_similar_ones_are_asked_then_none(seeded):
    with seeded.unit_of_work() as session:
        add_case(session, "K9", NOW, content="路灯不亮", status="closed", closed_at=NOW)
        assert similar_closed(session, text="!?") == []
        with pytest.raises(FilterError):
            similar_closed(session, text="路灯", category_code="no_such")
