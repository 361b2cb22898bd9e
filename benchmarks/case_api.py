"""Case API latency at a fixed request rate over a year of cases: SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.case_api [--db sqlite|postgresql|both] [--cases 1000000]
                                            [--events-per-case 3] [--rate 100] [--seconds 60]

The data: a database made by the migrations (the seeded catalogue), filled in bulk with a year of
a busy city hotline: ``--cases`` cases spread over the year by the hour of day, in the catalogue's
categories as often as a hotline hears them, routed to departments the way ``catalogue.route``
routes them (street and grid cell included), mostly closed or evaluated with a tail of open ones
(the younger the case, the likelier it is still open), Mandarin titles and texts made from a small
vocabulary (so a common topic word is in a tenth of the cases, a rare one in a hundredth or a
ten-thousandth), caller numbers that repeat (a few thousand frequent callers), streets and grid
cells; ``--events-per-case`` timeline rows per case; the day counters behind the case numbers.
SQLite: sqlite3 ``executemany`` in one transaction, its indexes and full-text triggers dropped
first, then the indexes built and the FTS5 index rebuilt from the table (``--sqlite-load``
``triggers`` keeps them, to compare). PostgreSQL: COPY, the indexes dropped first and built after,
then VACUUM ANALYZE (what autovacuum does after a load). The dataset is kept under ``--data-dir``
and used again by the next run when its parameters match (``--fresh`` makes it again).

The load: the web component (``hotline component web``: uvicorn, ``--web-workers`` processes, by
default one per core) on that database, started apart from this process so the driver does not
share its interpreter, and a logged-in
user's session cookie. The driver sends requests open-loop at ``--rate`` per second: request i is
due at start + i / rate and is sent then whatever became of the earlier ones; its latency runs
from that due time to the last byte of the answer, so a server falling behind shows as queueing.
Three kinds, one after the other, each after a warm-up of ``--warmup`` seconds at the same rate:
  healthz  GET /healthz: routing, the session-less dependency, four small queries; the floor
  create   POST /api/cases, each with its own Idempotency-Key: a new case, routed and
           dispatched (the counter, the case, three timeline rows, deadlines)
  search   GET /api/cases: words (common and rare), a status, a department, both, a caller's
           number (whole, or its last four digits), words within a week, and the next page of
           several of these (a keyset cursor fetched before the run)
Reported per kind (and per search), per database: p50/p90/p99/max latency, errors, the driver's
own lateness, CPU of the web process and the database server. The cases made by ``create`` are
deleted afterwards, so the dataset stays what it was. Results: benchmarks/results/case_api.json
and a table on stdout; the exit status is 1 when a kind had errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import select

from agents_ui.accounts import service as accounts
from agents_ui.accounts import sessions
from agents_ui.accounts.models import User
from agents_ui.accounts.permissions import COOKIE
from benchmarks.ivr_load import cpu_seconds, machine, rss_mb
from case_bridge import catalogue
from case_bridge.models import Category, Department
from hotline.db import Database
from hotline.migrate import upgrade
from hotline.text_tokens import search_text
from tests import servers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ZONE = ZoneInfo("Asia/Shanghai")
# Bump when the generated data changes: a kept dataset of another version is made again.
GENERATOR = "1"
START_TIMEOUT = 60.0
USERNAME = "bench.casework"
PASSWORD = "a long benchmark password"  # a throw-away account in a throw-away database
# The production-like PostgreSQL settings the load runs against: durable commits (a case filed is
# on disk when the client hears so), a quarter of a small server's memory as shared buffers.
PG_RUN_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "1GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "8GB",
    "max_connections": "100",
    "timezone": "Asia/Shanghai",
    "max_wal_size": "4GB",
}

# ----- what a hotline hears -----------------------------------------------------------------------
# (category code, weight, the topic's word, what callers say about it): leaves of the seeded
# catalogue (case_bridge/defaults.toml), weighted as a city hotline's year (enquiries, street lights,
# rubbish and noise lead; fires and gas leaks are rare).
TOPICS: tuple[tuple[str, float, str, tuple[str, ...]], ...] = (
    ("street_light", 12, "路灯", ("路灯不亮", "路灯一直闪烁", "路灯白天也亮着", "一排路灯坏了")),
    ("rubbish", 11, "垃圾", ("垃圾没人清运", "垃圾桶满了好几天", "有人乱倒垃圾", "垃圾堆发臭")),
    ("noise", 10, "噪音", ("晚上噪音扰民", "广场舞音响噪音太大", "酒吧噪音吵得睡不着")),
    ("enquiry", 12, "咨询", ("咨询社保怎么办理", "咨询公积金提取政策", "咨询居住证怎么办理")),
    ("consumer_complaint", 9, "投诉", ("投诉商家不给退款", "投诉买到假货", "投诉餐馆食品安全")),
    ("water_outage", 7, "停水", ("小区停水没有通知", "停水一整天了", "水压太低接近停水")),
    ("power_outage", 6, "停电", ("整栋楼停电", "经常停电", "停电以后一直没来电")),
    ("road_traffic", 6, "道路", ("道路坑洼不平", "红绿灯坏了", "道路破损没人修")),
    ("unpaid_wages", 4, "欠薪", ("工地老板欠薪", "公司欠薪三个月", "欠薪讨不回来")),
    ("construction", 4, "施工", ("工地夜间施工", "施工渣土撒漏", "施工围挡占了人行道")),
    ("city_appearance", 2.5, "市容", ("市容脏乱", "道路不洁影响市容")),
    ("greenery", 2.5, "树木", ("树木倒伏挡路", "树木遮挡窗户", "绿化带树木没人修剪")),
    ("buildings_land", 2, "违建", ("楼顶违建", "小区里有人私搭违建")),
    ("local_event", 2, "积水", ("下雨路面积水", "地下通道积水很深")),
    ("advertising", 1.5, "广告", ("到处贴小广告", "广告招牌松动")),
    ("manhole_cover", 1.5, "井盖", ("井盖丢失", "井盖破损有危险")),
    ("appearance_facilities", 1, "公厕", ("公厕没人打扫", "公厕关门")),
    ("other_facilities", 1, "设施", ("健身设施损坏", "公共设施生锈")),
    ("suggestion", 2, "建议", ("建议增加公交线路", "建议设置人行横道")),
    ("gas_leak", 0.8, "煤气", ("闻到煤气味", "煤气管道漏气")),
    ("fire", 0.2, "着火", ("楼道着火冒烟", "垃圾堆着火")),
    ("other", 2, "反映", ("反映其他问题", "反映邻里纠纷")),
)
# Roads and places, the first ones far more often (Zipf): 解放路 is in about 7% of the cases, the
# last ones in about 0.5%.
PLACES = (
    "解放路", "人民路", "中山大道", "建设路", "幸福小区", "阳光花园", "滨江路", "和平街", "科技园",
    "东湖新村", "长江路", "黄河路", "新华街", "文化路", "胜利街", "光明小区", "翠湖苑", "锦绣家园",
    "南京路", "北京路", "青年路", "育才路", "火车站", "汽车站", "第一中学", "人民医院", "体育中心",
    "梧桐巷", "枫林湾", "白鹭洲",
)  # fmt: skip
# (street, district side): the grid cells of a street start with its side's letter, which the
# seeded routing rules read (rubbish and street order in the west go to the west district).
STREETS = (
    ("东华街道", "E"), ("朝阳街道", "E"), ("新城街道", "E"), ("东湖街道", "E"), ("建设街道", "E"),
    ("西林街道", "W"), ("西关街道", "W"), ("长安街道", "W"), ("和平街道", "W"), ("滨江街道", "W"),
    ("南湖街道", "E"), ("北塔街道", "W"), ("高新街道", "E"), ("城南街道", "W"), ("城北街道", "E"),
)  # fmt: skip
DISTRICTS = {"E": "东城区", "W": "西城区"}
SPOTS = ("门口", "路口", "公交站", "菜市场", "东门", "西门", "停车场", "十字路口")
FILLERS = (
    "已经好几天了，一直没有人管。",
    "麻烦你们尽快派人来看一下。",
    "我上次也打过电话，还是没有解决。",
    "晚上出门很不方便，老人孩子都担心。",
    "希望有关部门尽快处理。",
    "附近居民意见很大。",
    "请处理后给我回个电话。",
    "之前反映过一次，到现在还是老样子。",
)
# Words a hotline rarely hears: one case in ten thousand holds each of them.
RARE_WORDS = ("无人机", "直播带货", "共享单车", "电动车充电", "流浪狗", "古树")
RARE_SHARE = 0.0001
REPLIES = (
    "经核实，已安排人员处理完毕。",
    "已联系相关单位现场处理，问题已解决。",
    "已向来电人解释相关政策。",
    "经现场查看，已责令整改。",
)
SOURCES = (("phone", 80), ("voicemail", 3), ("web", 10), ("open311", 5), ("external", 2))
OPEN_STATUSES = (
    ("handling", 35), ("dispatched", 20), ("signed", 15), ("replied", 15), ("filed", 8),
    ("returned", 5), ("intake", 2),
)  # fmt: skip
# The lifecycle's steps to each status: (action, status after it).
PATH = (
    ("file", "filed"),
    ("dispatch", "dispatched"),
    ("sign_for", "signed"),
    ("start_handling", "handling"),
    ("reply", "replied"),
    ("close", "closed"),
    ("evaluate", "evaluated"),
)
SATISFACTION = (("satisfied", 70), ("basically_satisfied", 20), ("unsatisfied", 10))
HOUR_WEIGHTS = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 4, 6, 6.5, 6, 4.5, 5, 6, 6, 5.5, 4.5, 3, 3, 2.5, 2, 1.2, 0.6
)  # fmt: skip
FREQUENT_CALLERS = 2000  # numbers that call again and again (about a hundred cases each)
FREQUENT_SHARE = 0.2


# ----- time as the databases store it -------------------------------------------------------------
_DAY_PREFIX: dict[int, str] = {}
_EPOCH_DATE = date(1970, 1, 1)


def stamp(micros: int) -> str:
    """UTC microseconds since the epoch as SQLAlchemy's SQLite DateTime writes it (always six
    fraction digits, so the strings sort as the instants do); PostgreSQL reads it with "+00"."""
    day, rest = divmod(micros, 86_400_000_000)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = (_EPOCH_DATE + timedelta(days=day)).isoformat() + " "
    seconds, fraction = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:06d}"


def micros_of(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# ----- the year of cases --------------------------------------------------------------------------
CASE_COLUMNS = (
    "id", "number", "source", "status", "category_id", "urgency", "title", "content", "caller_number",
    "caller_name", "caller_email", "address", "street", "grid_cell", "lat", "lon", "department_id",
    "created_at", "updated_at", "created_by", "dispatched_at", "sign_due_at", "signed_at", "due_at",
    "warn_at", "warned_at", "overdue_at", "sign_overdue_at", "escalated_at", "replied_at", "closed_at",
    "reply_text", "satisfaction", "evaluation_note", "supervised", "supervision_reason", "extension_days",
    "extension_reason", "extensions_granted", "returns", "reopens", "merged_into_id", "idempotency_key",
    "external_ref", "search_text", "calendar_guessed",
)  # fmt: skip
EVENT_COLUMNS = (
    "id",
    "case_id",
    "at",
    "actor",
    "party",
    "action",
    "from_status",
    "to_status",
    "note",
    "data",
)
# Which columns hold times (formatted per database) and booleans.
CASE_TIMES = frozenset(
    i for i, name in enumerate(CASE_COLUMNS) if name.endswith("_at") and name != "created_by"
)
CASE_BOOLS = frozenset({CASE_COLUMNS.index("supervised")})


@dataclass(frozen=True)
class Catalogue:
    """What the generator needs of the seeded catalogue: ids, and where routing sends a case."""

    category_ids: dict[str, int]
    limit_days: dict[str, int]
    department_codes: dict[int, str]
    # (category code, street, grid side) -> department id, or None (the dispatcher chooses)
    routes: dict[tuple[str, str, str], int | None]


def read_catalogue(db: Database) -> Catalogue:
    """Seed the shipped catalogue and ask ``catalogue.route`` once per category and place, so the
    generated departments are the ones the platform itself would have chosen."""
    with db.unit_of_work() as session:
        catalogue.seed_defaults(session)
    with db.unit_of_work() as session:
        categories = {c.code: c for c in session.scalars(select(Category))}
        missing = [code for code, *_ in TOPICS if code not in categories]
        if missing:
            raise RuntimeError(f"categories not in the seeded catalogue: {missing}")
        routes: dict[tuple[str, str, str], int | None] = {}
        for code, *_ in TOPICS:
            for street, side in STREETS:
                found = catalogue.route(session, categories[code], street=street, grid_cell=f"{side}0101")
                routes[(code, street, side)] = found.id if found is not None else None
        return Catalogue(
            category_ids={code: c.id for code, c in categories.items()},
            limit_days={code: c.limit_days for code, c in categories.items()},
            department_codes={d.id: d.code for d in session.scalars(select(Department))},
            routes=routes,
        )


@dataclass
class Year:
    """The shape of a generated year, for the searches and new cases to draw from."""

    first_micros: int
    end_micros: int
    numbers: list[str]  # every caller number, frequent callers first
    frequent: int
    days: dict[str, int] = field(default_factory=dict)  # case_number_counters: day -> last


class Words:
    """search_text of the generated texts, made piece by piece: the pieces repeat a lot, and the
    tokens of pieces joined by a space or a punctuation mark are the tokens of each piece
    (checked on a sample before use, see ``check_tokens``)."""

    def __init__(self) -> None:
        self.cache: dict[str, str] = {}

    def of(self, piece: str) -> str:
        found = self.cache.get(piece)
        if found is None:
            found = self.cache[piece] = search_text(piece)
        return found

    def join(self, pieces: Sequence[str]) -> str:
        return " ".join(t for t in (self.of(p) for p in pieces) if t)


@dataclass
class Draws:
    """Weighted choices made fast: cumulative weights, one bisect per draw."""

    rng: random.Random

    def table(self, weights: Sequence[float]) -> Callable[[], int]:
        cumulative = list(accumulate(weights))
        total = cumulative[-1]
        rng = self.rng
        return lambda: bisect(cumulative, rng.random() * total)


def phone_numbers(rng: random.Random, count: int) -> list[str]:
    """Mobiles and landlines (0755 + 8 digits), distinct."""
    numbers: set[str] = set()
    while len(numbers) < count:
        if rng.random() < 0.85:
            numbers.add(f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}")
        else:
            numbers.add(f"0755{rng.randrange(2 * 10**7, 9 * 10**7):08d}")
    return sorted(numbers)


def case_times(rng: random.Random, count: int, end: datetime) -> list[int]:
    """``count`` creation times (UTC microseconds) over the 365 days before ``end`` (a local
    midnight), busiest 8:00-22:00, sorted: ids grow with time, as in production."""
    start = end - timedelta(days=365)
    hours = Draws(rng).table(HOUR_WEIGHTS)
    base = micros_of(start)
    times = []
    for _ in range(count):
        local_seconds = rng.randrange(365) * 86400 + hours() * 3600 + rng.random() * 3600
        times.append(base + int(local_seconds * 1_000_000))
    times.sort()
    return times


def text_of(
    rng: random.Random, topic: tuple[str, float, str, tuple[str, ...]], place: str, spot: str
) -> tuple[str, str, list[str]]:
    """(title, content, the content's pieces) of one case about ``topic`` at ``place``."""
    said = rng.choice(topic[3])
    title = f"{place}{said}"
    pieces = [f"我要反映{place}{spot}附近{said}的问题。", rng.choice(FILLERS)]
    if rng.random() < 0.5:
        pieces.append(rng.choice(FILLERS))
    if rng.random() < RARE_SHARE * len(RARE_WORDS):
        pieces.append(f"还有{rng.choice(RARE_WORDS)}的事情也想反映一下。")
    return title, "".join(pieces), pieces


def check_tokens(seed: int = 7) -> None:
    """The piecewise search_text equals the platform's own (case_bridge.service._search_text)."""
    rng = random.Random(seed)
    words = Words()
    for _ in range(500):
        topic = rng.choice(TOPICS)
        place, spot = rng.choice(PLACES), rng.choice(SPOTS)
        title, content, pieces = text_of(rng, topic, place, spot)
        street = rng.choice(STREETS)[0]
        address = f"{DISTRICTS['E']}{place}{rng.randrange(1, 300)}号"
        whole = search_text(" ".join((title, content, address, street)))
        if words.join([title, *pieces, address, street]) != whole:
            raise RuntimeError(f"piecewise tokens differ from search_text for {content!r}")


def generate(
    catalogue_: Catalogue,
    cases: int,
    events_per_case: int,
    end: datetime,
    *,
    chunk: int = 50_000,
    seed: int = 12345,
) -> tuple[Year, Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]]:
    """The year's shape, and its rows chunk by chunk: (case rows, timeline rows), values as
    Python ints, floats and strings, times as ``stamp`` strings (UTC), booleans as 0/1."""
    check_tokens()
    rng = random.Random(seed)
    times = case_times(rng, cases, end)
    numbers = phone_numbers(rng, max(1000, cases // 4))
    year = Year(times[0], micros_of(end), numbers, FREQUENT_CALLERS)
    return year, _rows(catalogue_, year, times, events_per_case, chunk, rng)


def _rows(
    cat: Catalogue,
    year: Year,
    times: list[int],
    events_per_case: int,
    chunk: int,
    rng: random.Random,
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    draws = Draws(rng)
    topic_of = draws.table([t[1] for t in TOPICS])
    place_of = draws.table([1 / (rank + 1) ** 0.9 for rank in range(len(PLACES))])
    source_of = draws.table([w for _, w in SOURCES])
    open_status_of = draws.table([w for _, w in OPEN_STATUSES])
    satisfaction_of = draws.table([w for _, w in SATISFACTION])
    words = Words()
    numbers, frequent = year.numbers, year.frequent
    hour, day = 3_600_000_000, 86_400_000_000
    case_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    event_id = 0
    for case_id, created in enumerate(times, start=1):
        local_day = (datetime.fromtimestamp(created / 1e6, UTC).astimezone(ZONE)).strftime("%Y%m%d")
        count = year.days[local_day] = year.days.get(local_day, 0) + 1
        topic = TOPICS[topic_of()]
        code = topic[0]
        place, spot = PLACES[place_of()], rng.choice(SPOTS)
        street, side = STREETS[rng.randrange(len(STREETS))]
        title, content, pieces = text_of(rng, topic, place, spot)
        address = f"{DISTRICTS[side]}{place}{rng.randrange(1, 300)}号"
        source = SOURCES[source_of()][0]
        caller = (
            numbers[rng.randrange(frequent)] if rng.random() < FREQUENT_SHARE else rng.choice(numbers)
        ) if source in ("phone", "voicemail") or rng.random() < 0.7 else ""  # fmt: skip
        urgent = code in ("gas_leak", "fire") or rng.random() < 0.02
        department = cat.routes[(code, street, side)]
        # Open or finished: a case a week old is still open about one time in four, one older
        # than two months one time in a hundred. Steps that would come after the year's end have
        # not happened yet: the case is where the last step before it left it.
        age_days = (year.end_micros - created) / day
        still_open = rng.random() < 0.6 * 0.93**age_days + 0.01
        steps = _steps_to_status(rng, still_open, department, open_status_of)
        moments = [created]
        for action, _ in steps:
            quick = action in ("file", "dispatch", "resolve_on_call")
            gap = int(rng.uniform(0.02, 1) * hour) if quick else int(rng.expovariate(1 / (30 * hour)))
            moments.append(moments[-1] + gap)
        while len(moments) > 1 and moments[-1] >= year.end_micros:
            moments.pop()
            steps.pop()
        status = steps[-1][1] if steps else "intake"
        at = dict(zip((s for _, s in steps), moments[1:], strict=True))
        dispatched = at.get("dispatched")
        limit = cat.limit_days.get(code, 5)
        due = dispatched + (int(limit * 1.4 * day) if not urgent else 24 * hour) if dispatched else None
        closed = at.get("closed")
        overdue = due is not None and (closed or year.end_micros) > due and rng.random() < 0.3
        creator = (
            f"agent{rng.randrange(1, 121):03d}" if source in ("phone", "voicemail") else f"system:{source}"
        )
        reply = rng.choice(REPLIES) if "replied" in at or closed else ""
        satisfaction = SATISFACTION[satisfaction_of()][0] if status == "evaluated" else ""
        merged_into = rng.randrange(1, case_id) if status == "merged" and case_id > 1 else None
        grid = f"{side}{rng.randrange(1, 40):02d}{rng.randrange(1, 30):02d}"
        case_rows.append(
            (
                case_id, f"{local_day}{count:05d}", source, status, cat.category_ids[code],
                "urgent" if urgent else "normal", title, content, caller, "", "", address, street, grid,
                None, None, department if dispatched else None, stamp(created), stamp(moments[-1]), creator,
                _maybe(dispatched), _maybe(dispatched + day if dispatched else None),
                _maybe(at.get("signed")), _maybe(due), _maybe(due - day if due else None), None,
                _maybe(due if overdue else None), None, None, _maybe(at.get("replied")), _maybe(closed),
                reply, satisfaction, "", 0, "", 0, "", 0, 0, 0, merged_into, None, "",
                words.join([title, *pieces, address, street]), "",
            )
        )  # fmt: skip
        for k, (action, from_status, to_status, moment) in enumerate(
            _timeline(rng, steps, moments, events_per_case, status)
        ):
            event_id += 1
            actor = "system:timer" if action == "evaluate" else f"agent{(case_id + k) % 120 + 1:03d}"
            data = json.dumps({"department": cat.department_codes[department]}) if (
                action == "dispatch" and department) else "{}"  # fmt: skip
            event_rows.append(
                (event_id, case_id, stamp(moment), actor, "hotline", action, from_status, to_status, "", data)
            )
        if len(case_rows) >= chunk:
            yield case_rows, event_rows
            case_rows, event_rows = [], []
    if case_rows:
        yield case_rows, event_rows


def _maybe(micros: int | None) -> str | None:
    return stamp(micros) if micros is not None else None


def _steps_to_status(
    rng: random.Random, still_open: bool, department: int | None, open_status_of: Callable[[], int]
) -> list[tuple[str, str]]:
    """The lifecycle steps that led the case to its status (none: still at intake)."""
    if department is None:
        # Nobody to dispatch to (an enquiry, a suggestion): answered on the call, or filed and
        # waiting for the dispatcher while open.
        if still_open:
            return [("file", "filed")]
        steps = [("resolve_on_call", "closed")]
        if rng.random() < 0.6:
            steps.append(("evaluate", "evaluated"))
        return steps
    if not still_open:
        if rng.random() < 0.01:
            return [("file", "filed"), ("merge", "merged")]
        last = "evaluated" if rng.random() < 0.65 else "closed"
    else:
        last = OPEN_STATUSES[open_status_of()][0]
        if last == "intake":
            return []
        if last == "returned":
            return [*PATH[:2], ("return", "returned")]
    upto = next(i for i, (_, status) in enumerate(PATH) if status == last)
    return list(PATH[: upto + 1])


def _timeline(
    rng: random.Random, steps: list[tuple[str, str]], moments: list[int], per_case: int, status: str
) -> list[tuple[str, str, str, int]]:
    """``per_case`` timeline rows: the intake, the step into the current status, and as many of
    the steps between as fit (a real closed case has seven or eight rows; the count is what the
    tables' sizes need). A case with fewer steps gets linked repeat calls ("link_call")."""
    rows: list[tuple[str, str, str, int]] = [("intake", "-", "intake", moments[0])]
    statuses = ["intake", *(s for _, s in steps)]
    path = [(action, statuses[i], statuses[i + 1], moments[i + 1]) for i, (action, _) in enumerate(steps)]
    if per_case <= 1 or not path:
        middle: list[tuple[str, str, str, int]] = []
    else:
        between = path[:-1]
        keep = sorted(rng.sample(range(len(between)), min(len(between), per_case - 2)))
        middle = [between[i] for i in keep]
    tail = [path[-1]] if path and per_case > 1 else []
    rows += middle + tail
    while len(rows) < per_case:
        moment = rows[-1][3] + rng.randrange(1, 60_000_000)
        rows.append(("link_call", status, status, moment))
    return rows[:per_case]


# ----- loading ------------------------------------------------------------------------------------
@dataclass
class Clock:
    """Seconds spent making rows (inside the loaders' loops), to tell generating from writing."""

    seconds: float = 0.0

    def timed(
        self, chunks: Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]
    ) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        while True:
            began = time.perf_counter()
            try:
                item = next(chunks)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - began
            yield item


LOADED_TABLES = ("cases", "case_events")


def load_sqlite(
    path: Path, rows: Iterator[tuple[list[Any], list[Any]]], year: Year, how: str
) -> dict[str, float]:
    """Rows into the migrated database in one transaction. ``rebuild``: the two tables' indexes
    and full-text triggers dropped first and made again after, then the FTS5 index rebuilt from
    the table in one pass; ``triggers``: everything kept up row by row."""
    timings: dict[str, float] = {}
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # as the platform runs it
        conn.execute("PRAGMA synchronous=OFF")  # a load that fails is made again, not recovered
        conn.execute("PRAGMA cache_size=-1048576")  # 1 GB of pages while the indexes are built
        names = ", ".join(f"'{t}'" for t in LOADED_TABLES)
        kept = conn.execute(
            f"SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            f"AND tbl_name IN ({names}) AND sql IS NOT NULL ORDER BY type"
        ).fetchall()
        case_marks = ", ".join("?" for _ in CASE_COLUMNS)
        event_marks = ", ".join("?" for _ in EVENT_COLUMNS)
        began = time.perf_counter()
        with conn:
            if how == "rebuild":
                for kind, name, _ in kept:
                    conn.execute(f"DROP {kind.upper()} {name}")
            for case_rows, event_rows in rows:
                conn.executemany(
                    f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES ({case_marks})", case_rows
                )
                conn.executemany(
                    f"INSERT INTO case_events ({', '.join(EVENT_COLUMNS)}) VALUES ({event_marks})", event_rows
                )
            timings["insert_seconds"] = time.perf_counter() - began
            conn.executemany(
                "INSERT INTO case_number_counters (day, last) VALUES (?, ?)", sorted(year.days.items())
            )
            if how == "rebuild":
                began = time.perf_counter()
                for kind, _, sql in kept:
                    if kind == "index":
                        conn.execute(sql)
                timings["index_seconds"] = time.perf_counter() - began
                began = time.perf_counter()
                conn.execute("INSERT INTO cases_fts(cases_fts) VALUES ('rebuild')")
                timings["fts_rebuild_seconds"] = time.perf_counter() - began
                for kind, _, sql in kept:
                    if kind == "trigger":
                        conn.execute(sql)
        began = time.perf_counter()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        timings["checkpoint_seconds"] = time.perf_counter() - began
    finally:
        conn.close()
    return timings


def load_postgres(url: str, rows: Iterator[tuple[list[Any], list[Any]]], year: Year) -> dict[str, float]:
    """COPY into the migrated schema: the two tables' indexes that back no constraint (the GIN one
    too) dropped first and built after; foreign keys not checked row by row (the generator makes
    them right: session_replication_role = replica); then VACUUM ANALYZE."""
    timings: dict[str, float] = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        # The rows' times are UTC without an offset (stamp): read them as such.
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '1GB'")
        kept = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            (list(LOADED_TABLES),),
        ).fetchall()
        for name, _ in kept:
            conn.execute(f"DROP INDEX {name}")
        began = time.perf_counter()
        for case_rows, event_rows in rows:
            for table, columns, chunk in (
                ("cases", CASE_COLUMNS, case_rows),
                ("case_events", EVENT_COLUMNS, event_rows),
            ):
                with (
                    conn.cursor() as cursor,
                    cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for row in chunk:
                        copy.write_row(row)
        timings["insert_seconds"] = time.perf_counter() - began
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO case_number_counters (day, last) VALUES (%s, %s)", sorted(year.days.items())
            )
        began = time.perf_counter()
        for _, definition in kept:
            conn.execute(definition)
        timings["index_seconds"] = time.perf_counter() - began
        for table in LOADED_TABLES:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        began = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_seconds"] = time.perf_counter() - began
    return timings


# ----- a dataset kept between runs ----------------------------------------------------------------
SEED = 12345


def migration_head() -> str:
    from alembic.script import ScriptDirectory

    from hotline.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return str(head)


def dataset_key(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """What a kept dataset must match to be used again."""
    key = {
        "generator": GENERATOR,
        "seed": SEED,
        "cases": args.cases,
        "events_per_case": args.events_per_case,
        "migration": migration_head(),
    }
    if kind == "sqlite":
        key["sqlite_load"] = args.sqlite_load
    return key


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def dataset_holds(db: Database, key: dict[str, Any]) -> bool:
    """The database is the one the key describes: at its migration, with all its cases."""
    try:
        with db.engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            last = conn.exec_driver_sql("SELECT max(id) FROM cases").scalar()
    except Exception:
        return False
    return bool(version == key["migration"] and last == key["cases"])


def make_dataset(url: str, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """Migrate, seed, generate and load; what it took."""
    began = time.perf_counter()
    upgrade(url)
    db = Database(url)
    try:
        cat = read_catalogue(db)
        ensure_user(db)
    finally:
        db.dispose()
    # The year ends at the local midnight that began today: cases filed by the run are the newest.
    end = datetime.combine(datetime.now(ZONE).date(), datetime.min.time(), tzinfo=ZONE)
    clock = Clock()
    year, chunks = generate(cat, args.cases, args.events_per_case, end)
    print(
        f"  {kind}: generating and loading {args.cases} cases, {args.events_per_case} timeline rows each",
        flush=True,
    )
    if kind == "sqlite":
        timings = load_sqlite(
            Path(url.removeprefix("sqlite:///")), clock.timed(chunks), year, args.sqlite_load
        )
    else:
        timings = load_postgres(url, clock.timed(chunks), year)
    made = {
        "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "year_end_local": end.isoformat(),
        "generate_seconds": round(clock.seconds, 1),
        # Rows are made inside the loaders' loops: this is the loaders' own part of it.
        **{k: round(v - (clock.seconds if k == "insert_seconds" else 0), 1) for k, v in timings.items()},
        "total_seconds": round(time.perf_counter() - began, 1),
        "case_number_days": len(year.days),
    }
    print(f"  {kind}: dataset made: {json.dumps(made)}", flush=True)
    return made


def ensure_user(db: Database) -> None:
    """The benchmark's user: hotline staff who file cases and see every case."""
    with db.unit_of_work() as session:
        if session.scalar(select(User.id).where(User.username == USERNAME)) is None:
            accounts.create_user(
                session, username=USERNAME, password=PASSWORD, roles=["agent", "supervisor"],
                display_name="Bench Casework",
            )  # fmt: skip


def open_session(url: str) -> str:
    """A fresh login session for the benchmark's user: the cookie's value."""
    db = Database(url)
    try:
        ensure_user(db)
        with db.unit_of_work() as session:
            user = session.scalars(select(User).where(User.username == USERNAME)).one()
            return sessions.start(session, user=user, source_ip="bench")
    finally:
        db.dispose()


def prepare_sqlite(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The SQLite dataset (kept, or made now): its URL and how it was made."""
    folder = args.data_dir / "sqlite"
    folder.mkdir(parents=True, exist_ok=True)
    path, meta_path = folder / "cases.db", folder / "dataset.json"
    url = f"sqlite:///{path}"
    key = dataset_key(args, "sqlite")
    meta = read_meta(meta_path)
    if not args.fresh and meta is not None and meta.get("key") == key and path.exists():
        db = Database(url)
        try:
            if dataset_holds(db, key):
                print(f"  sqlite: using the kept dataset {path}", flush=True)
                return url, {**meta["made"], "reused": True}
        finally:
            db.dispose()
    meta_path.unlink(missing_ok=True)
    for old in folder.glob("cases.db*"):
        old.unlink()
    made = make_dataset(url, "sqlite", args)
    meta_path.write_text(json.dumps({"key": key, "made": made}, indent=1) + "\n", encoding="utf-8")
    return url, {**made, "reused": False}


def prepare_postgres(args: argparse.Namespace, cluster: Cluster) -> tuple[str, dict[str, Any]]:
    meta_path = cluster.root / "dataset.json"
    key = dataset_key(args, "postgresql")
    meta = read_meta(meta_path)
    url = cluster.url(DATABASE)
    if not args.fresh and meta is not None and meta.get("key") == key:
        db = Database(url)
        try:
            if dataset_holds(db, key):
                print(f"  postgresql: using the kept dataset in {cluster.data}", flush=True)
                return url, {**meta["made"], "reused": True}
        finally:
            db.dispose()
    meta_path.unlink(missing_ok=True)
    with psycopg.connect(cluster.url("postgres").replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    made = make_dataset(url, "postgresql", args)
    meta_path.write_text(json.dumps({"key": key, "made": made}, indent=1) + "\n", encoding="utf-8")
    return url, {**made, "reused": False}


def size_mb(url: str) -> float:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return round(sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6)
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return round(int(row[0]) / 1e6) if row else 0


def remove_new_cases(url: str, cases: int) -> int:
    """Delete what the run filed (ids past the dataset's), so the kept dataset stays as made.
    Foreign keys are not checked row by row (the children go first, explicitly): on PostgreSQL
    each deleted case would otherwise scan the million cases for ``merged_into_id``, which no
    index serves (about 0.3 s a case). SQLite's full-text delete trigger still fires."""
    statements = [
        f"DELETE FROM case_events WHERE case_id > {cases}",
        f"DELETE FROM case_calls WHERE case_id > {cases}",
        f"DELETE FROM outbox WHERE case_id > {cases}",
        f"DELETE FROM cases WHERE id > {cases}",
        # The run's days (after the year's end) lose their counters again.
        "DELETE FROM case_number_counters WHERE day > (SELECT max(substr(number, 1, 8)) FROM cases)",
    ]
    removed = 0
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60)
        try:
            with conn:  # foreign_keys is off on a plain sqlite3 connection
                for statement in statements:
                    count = conn.execute(statement).rowcount
                    removed = count if "FROM cases " in statement else removed
        finally:
            conn.close()
        return removed
    with psycopg.connect(url.replace("+psycopg", "")) as pg:
        pg.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            count = pg.execute(statement).rowcount
            removed = count if "FROM cases " in statement else removed
    return removed


# ----- a PostgreSQL cluster kept between runs -----------------------------------------------------
DATABASE = "case_api_bench"


@dataclass
class Cluster:
    root: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{servers.PG_ACCOUNT}@{servers.HOST}:{self.port}/{database}"


def _as_owner(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: as in tests/servers.py, the cluster is the postgres account's.
    return ["runuser", "-u", servers.PG_ACCOUNT, "--", *argv] if os.geteuid() == 0 else argv


def _pg(argv: list[str], cwd: Path, timeout: float = START_TIMEOUT + 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_owner(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextlib.contextmanager
def cluster(root: Path) -> Iterator[Cluster]:
    """The benchmark's own cluster under ``root``: made once (initdb), started on a free port with
    PG_RUN_SETTINGS for the run, stopped after it. Its data stays for the next run."""
    bindir = servers.postgres_bindir()
    found = Cluster(root)
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam(servers.PG_ACCOUNT)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    version = found.data / "PG_VERSION"
    major = bindir.parent.name
    if version.exists() and version.read_text().strip() != major:
        shutil.rmtree(found.data)  # made by another major version: made again
        (root / "dataset.json").unlink(missing_ok=True)
    if (found.data / "postmaster.pid").exists():
        # An earlier run of this benchmark that did not get to stop it.
        _pg([str(bindir / "pg_ctl"), "-D", str(found.data), "-m", "fast", "-w", "stop"], cwd=root)
    if not version.exists():
        made = _pg(
            [str(bindir / "initdb"), "-D", str(found.data), "-U", servers.PG_ACCOUNT, "--auth=trust",
             "-E", "UTF8", "--locale=C"],
            cwd=root,
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        (root / "dataset.json").unlink(missing_ok=True)
    log = root / "server.log"
    options = {**PG_RUN_SETTINGS, "listen_addresses": servers.HOST, "unix_socket_directories": str(root)}
    started = False
    for _attempt in range(3):  # another process may take the free port before the server binds it
        found.port = servers.free_port()
        flags = " ".join(f"-c {k}={v}" for k, v in {**options, "port": str(found.port)}.items())
        start = _pg(
            [str(bindir / "pg_ctl"), "-D", str(found.data), "-l", str(log), "-w",
             "-t", str(int(START_TIMEOUT)), "-o", flags, "start"],
            cwd=root,
        )  # fmt: skip
        if start.returncode == 0:
            started = True
            break
    if not started:
        raise RuntimeError(f"PostgreSQL did not start:\n{start.stderr}\n{log.read_text()[-3000:]}")
    try:
        yield found
    finally:
        stop = _pg([str(bindir / "pg_ctl"), "-D", str(found.data), "-m", "fast", "-w", "stop"], cwd=root)
        if stop.returncode != 0:
            _pg([str(bindir / "pg_ctl"), "-D", str(found.data), "-m", "immediate", "-w", "stop"], cwd=root)


def postmaster_pid(found: Cluster) -> int:
    return int((found.data / "postmaster.pid").read_text().split("\n", 1)[0])


def children_of(root_pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == root_pid:
                found.append(int(entry.name))
    return found


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children (a postmaster's
    backends, uvicorn's web workers): what the server spent."""
    own, reaped = cpu_seconds(root_pid)
    return own + reaped + sum(sum(cpu_seconds(pid)) for pid in children_of(root_pid))


def tree_rss_mb(root_pid: int) -> float:
    return rss_mb(root_pid) + sum(rss_mb(pid) for pid in children_of(root_pid))


# ----- the web process ----------------------------------------------------------------------------
def write_settings(work: Path, url: str, port: int, workers: int) -> Path:
    path = work / "hotline.toml"
    path.write_text(
        f"""
[site]
state_dir = "{work / "state"}"

[database]
url = "{url}"

[redis]
# Nothing on this path needs Redis (the seat link connects on first use, jobs are not configured).
url = "redis://127.0.0.1:{servers.free_port()}/0"
managed = false

[web]
host = "127.0.0.1"
port = {port}
workers = {workers}
""",
        encoding="utf-8",
    )
    return path


def start_web(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """The web component as the supervisor runs it: ``hotline component web`` (uvicorn; with
    ``web.workers`` above one, its supervisor and that many worker processes)."""
    env = {**os.environ, "HOTLINE_CONFIG": str(config), "HOTLINE_LOG_LEVEL": "WARNING"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from hotline.cli import main; sys.exit(main(['component', 'web']))",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers with it: stop_process ends the whole group
        )


def wait_for_web(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web component exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{base}/healthz", timeout=5.0)  # any status: the process answers
            return
        time.sleep(0.2)
    raise RuntimeError(f"the web component did not answer /healthz in {START_TIMEOUT:.0f} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """The web component and, should it not stop its workers in time, them too (a worker left
    running would keep the port and the database's write lock for the next kind)."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


# ----- the requests -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    label: str  # which kind of request, for the figures
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Sample:
    """What the requests draw from: values the dataset really holds."""

    callers: list[str]
    departments: list[str]
    first_day: date
    last_day: date


def sample_dataset(url: str, rng: random.Random, cases: int) -> Sample:
    db = Database(url)
    try:
        with db.unit_of_work() as session:
            ids = sorted(rng.sample(range(1, cases + 1), min(cases, 4000)))
            found = session.connection().exec_driver_sql(
                f"SELECT caller_number FROM cases WHERE id IN ({', '.join(map(str, ids))}) "
                "AND caller_number != ''"
            )
            callers = [row[0] for row in found]
            # Departments that hold cases (a search of one that holds none would measure nothing).
            departments = [
                row[0]
                for row in session.connection().exec_driver_sql(
                    "SELECT code FROM departments d WHERE EXISTS "
                    "(SELECT 1 FROM cases c WHERE c.department_id = d.id) ORDER BY code"
                )
            ]
            first = session.connection().exec_driver_sql("SELECT min(number) FROM cases").scalar_one()
            last = (
                session.connection()
                .exec_driver_sql(f"SELECT number FROM cases WHERE id = {cases}")
                .scalar_one()
            )
    finally:
        db.dispose()
    day = lambda number: date(int(number[:4]), int(number[4:6]), int(number[6:8]))  # noqa: E731
    return Sample(callers, departments, day(first), day(last))


COMMON_WORDS = ("路灯", "垃圾", "噪音", "咨询", "投诉", "停水")
OPEN = ("intake", "filed", "dispatched", "signed", "handling", "replied", "returned")


def search_kinds(sample: Sample) -> dict[str, tuple[str, Callable[[random.Random], list[tuple[str, str]]]]]:
    """label -> (what it is, the query of one such search with values drawn from rng), as the
    case list (static/cases/list.js) and the department portal (department.js) ask them."""

    def week(rng: random.Random) -> list[tuple[str, str]]:
        start = sample.first_day + timedelta(
            days=rng.randrange((sample.last_day - sample.first_day).days - 6)
        )
        return [("created_from", start.isoformat()), ("created_to", (start + timedelta(days=6)).isoformat())]

    return {
        "newest": ("no filter: the case list as it opens", lambda r: []),
        "open": ("every open status (7 statuses)", lambda r: [("status", s) for s in OPEN]),
        "department": ("one department", lambda r: [("department", r.choice(sample.departments))]),
        "department_in_hand": (
            "one department's signed and handling cases (its portal)",
            lambda r: [
                ("department", r.choice(sample.departments)),
                ("status", "signed"),
                ("status", "handling"),
            ],
        ),
        "overdue": ("overdue cases", lambda r: [("overdue", "true")]),
        "words_common": (
            "a common word (路灯, 垃圾, 噪音, 咨询, 投诉, 停水: 6-12% of cases)",
            lambda r: [("words", r.choice(COMMON_WORDS))],
        ),
        "words_rare": (
            "a rare word (无人机, 流浪狗 …: 0.01% of cases)",
            lambda r: [("words", r.choice(RARE_WORDS))],
        ),
        "words_two": (
            "a place and a topic (解放路 路灯 …)",
            lambda r: [("words", f"{r.choice(PLACES[:12])} {r.choice(COMMON_WORDS)}")],
        ),
        "words_week": (
            "a common word within one week",
            lambda r: [("words", r.choice(COMMON_WORDS)), *week(r)],
        ),
        "caller": ("a whole caller number", lambda r: [("caller", r.choice(sample.callers))]),
        "caller_tail": (
            "the last 4 digits of a caller number",
            lambda r: [("caller", r.choice(sample.callers)[-4:])],
        ),
    }


# Searches whose second page is asked for too ("More"): the cursor comes from a first page
# fetched before the timed run.
NEXT_PAGE_OF = ("newest", "open", "department", "words_common")


def first_pages(
    client: httpx.Client,
    kinds: dict[str, tuple[str, Callable[[random.Random], list[tuple[str, str]]]]],
    rng: random.Random,
    count: int,
) -> list[list[tuple[str, str]]]:
    """Queries of second pages: a first page of each fetched now, its next_cursor kept."""
    pages = []
    for i in range(count):
        params = [("limit", "50"), *kinds[NEXT_PAGE_OF[i % len(NEXT_PAGE_OF)]][1](rng)]
        reply = client.get("/api/cases", params=tuple(params))
        reply.raise_for_status()
        cursor = reply.json().get("next_cursor")
        if cursor:
            pages.append([*params, ("cursor", cursor)])
    if not pages:
        raise RuntimeError("no first page had a next page")
    return pages


def search_requests(
    kinds: dict[str, tuple[str, Callable[[random.Random], list[tuple[str, str]]]]],
    next_pages: list[list[tuple[str, str]]],
    rng: random.Random,
    count: int,
) -> list[Request]:
    """``count`` searches, the kinds in turn (shuffled within each round) so every kind is spread
    over the whole run."""
    labels = [*kinds, "next_page"]
    requests: list[Request] = []
    while len(requests) < count:
        rng.shuffle(labels)
        for label in labels:
            params = (
                rng.choice(next_pages) if label == "next_page" else [("limit", "50"), *kinds[label][1](rng)]
            )
            requests.append(Request(label, "GET", "/api/cases", tuple(params)))
    return requests[:count]


def create_requests(sample: Sample, rng: random.Random, count: int) -> list[Request]:
    """New cases as the agent's case form files them (static/agent/case_form.js): text, category,
    caller, place; routed and dispatched by the platform; each with its own Idempotency-Key."""
    topic_of = Draws(rng).table([t[1] for t in TOPICS])
    requests = []
    for _ in range(count):
        topic = TOPICS[topic_of()]
        place, spot = rng.choice(PLACES), rng.choice(SPOTS)
        street, side = rng.choice(STREETS)
        title, content, _ = text_of(rng, topic, place, spot)
        body: dict[str, Any] = {
            "content": content,
            "title": title,
            "category": topic[0],
            "urgency": "urgent" if topic[0] in ("gas_leak", "fire") else "normal",
            "caller_number": rng.choice(sample.callers),
            "caller_name": "",
            "address": f"{DISTRICTS[side]}{place}{rng.randrange(1, 300)}号",
            "street": street,
            "grid_cell": f"{side}{rng.randrange(1, 40):02d}{rng.randrange(1, 30):02d}",
            "department": "",
            "calls": [],
            "dispatch": True,
        }
        requests.append(
            Request(
                "create", "POST", "/api/cases", body=body, headers=(("Idempotency-Key", str(uuid.uuid4())),)
            )
        )
    return requests


# ----- the open-loop driver -----------------------------------------------------------------------
@dataclass
class Outcome:
    label: str
    latency: float  # seconds from the request's due time to its answer's last byte
    late: float  # seconds from the due time to the moment the driver sent it
    status: int  # 0: no answer (a connection error or a timeout)
    rows: int = -1  # cases on a search's page
    error: str = ""
    body: bytes = b""  # a search's answer, until its rows are counted


class Stale(ConnectionError):
    """A kept-alive connection the server had closed: nothing was answered on it."""


class Connections:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams, for the driver's precision on
    a two-core machine: httpx spent about 2 ms of CPU per request here (a fifth of a core at
    100/s, taken from the server it measures); this spends a tenth of that. Requests are bytes
    made before the run; an idle connection is reused, else a new one opened."""

    # uvicorn closes a connection idle for 5 s (timeout_keep_alive): one idle for longer than
    # this is dropped rather than reused, as a browser would notice the close first.
    IDLE_SECONDS = 2.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        # (reader, writer, when it was last used): the most recently used is taken first.
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0

    async def exchange(self, wire: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        while self.idle and now - self.idle[0][2] > self.IDLE_SECONDS:
            self.idle.pop(0)[1].close()
        if self.idle:
            reader, writer, _ = self.idle.pop()
            try:
                return await self._on(reader, writer, wire)
            except Stale:
                pass  # closed by the server while idle: sent again on a new one, as browsers do
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1
        return await self._on(reader, writer, wire)

    async def _on(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: bytes
    ) -> tuple[int, bytes]:
        try:
            writer.write(wire)
            await writer.drain()
            try:
                status_line = await reader.readline()
            except ConnectionError as exc:
                raise Stale from exc
            if not status_line:
                raise Stale("closed before answering")
            status = int(status_line.split(b" ", 2)[1])
            length, chunked, close = 0, False, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            if chunked:
                parts = []
                while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
                    parts.append(await reader.readexactly(size))
                    await reader.readexactly(2)
                await reader.readline()
                body = b"".join(parts)
            else:
                body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        # uvicorn closes the connection after an error the application raised (500) without
        # saying so: such a connection is not used again.
        if close or status >= 500:
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic()))
        return status, body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


def wire_of(request: Request, host: str, cookie: str, origin: str) -> bytes:
    """The request as it goes on the wire (the cookie and Origin a browser on the site sends)."""
    target = request.path + (f"?{urlencode(request.params)}" if request.params else "")
    body = json.dumps(request.body, ensure_ascii=False).encode() if request.body is not None else b""
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {host}", f"Cookie: {cookie}", f"Origin: {origin}"]
    lines += [f"{name}: {value}" for name, value in request.headers]
    if request.body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def send(connections: Connections, request: Request, wire: bytes, due: float) -> Outcome:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    try:
        status, body = await asyncio.wait_for(connections.exchange(wire), START_TIMEOUT / 2)
    except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
        return Outcome(request.label, loop.time() - due, sent - due, 0, error=type(exc).__name__)
    done = loop.time()
    error = ""
    if status >= 400 and not (request.path == "/healthz" and status == 503):
        error = body[:200].decode(errors="replace")
    # A search's page is counted after the run (no JSON parsing while the clock runs).
    kept = body if request.method == "GET" and request.path == "/api/cases" and status == 200 else b""
    return Outcome(request.label, done - due, sent - due, status, error=error, body=kept)


async def open_loop(target: Target, requests: Sequence[Request], rate: float) -> list[Outcome]:
    """Request i is due at start + i / rate and is sent then, whatever became of the others."""
    host = target.base.removeprefix("http://")
    wires = [wire_of(r, host, target.cookie, target.base) for r in requests]
    name, port = host.rsplit(":", 1)
    connections = Connections(name, int(port))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks: list[asyncio.Task[Outcome]] = []
    try:
        for i, (request, wire) in enumerate(zip(requests, wires, strict=True)):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(connections, request, wire, due)))
        await asyncio.wait(tasks, timeout=START_TIMEOUT)
    finally:
        for task in tasks:
            task.cancel()  # none is left: each waits START_TIMEOUT / 2 at most
        connections.close()
    outcomes = [
        t.result()
        if t.done() and not t.cancelled()
        else Outcome(r.label, START_TIMEOUT, 0.0, 0, error="not answered")
        for t, r in zip(tasks, requests, strict=True)
    ]
    return outcomes


def count_rows(outcomes: Sequence[Outcome]) -> None:
    """Cases on each search's page, read once the clock has stopped."""
    for outcome in outcomes:
        if outcome.body:
            outcome.rows = len(json.loads(outcome.body).get("cases", []))
            outcome.body = b""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    if not outcomes:
        return {"count": 0}
    ms = [o.latency * 1000 for o in outcomes]
    late = [o.late * 1000 for o in outcomes]
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[str(o.status)] = statuses.get(str(o.status), 0) + 1
    found = {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "errors": sum(1 for o in outcomes if o.error),
        "statuses": statuses,
        "driver_late_p99_ms": round(percentile(late, 99), 2),
    }
    rows = [o.rows for o in outcomes if o.rows >= 0]
    if rows:
        found["rows_per_page_median"] = statistics.median(rows)
        found["empty_pages"] = sum(1 for r in rows if r == 0)
    errors = [o.error for o in outcomes if o.error]
    if errors:
        found["first_error"] = errors[0]
    return found


# ----- one database's run -------------------------------------------------------------------------
def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


@dataclass
class Target:
    base: str
    cookie: str
    web_pid: int
    db_pid: int | None  # the postmaster; None on SQLite (the web process does the database's work)


def over_time(outcomes: Sequence[Outcome], rate: float, step: float = 10.0) -> list[dict[str, Any]]:
    """p50, p99 and errors of the requests due in each ``step`` seconds of the run, in order:
    whether a server behind at the end was behind from the start, or fell behind."""
    size = max(1, int(rate * step))
    buckets = []
    for first in range(0, len(outcomes), size):
        part = outcomes[first : first + size]
        ms = [o.latency * 1000 for o in part]
        buckets.append(
            {
                "from_second": round(first / rate, 1),
                "p50_ms": round(percentile(ms, 50), 1),
                "p99_ms": round(percentile(ms, 99), 1),
                "errors": sum(1 for o in part if o.error),
            }
        )
    return buckets


async def measure_phase(
    target: Target, warm: Sequence[Request], warm_rate: float, measured: Sequence[Request], rate: float
) -> dict[str, Any]:
    if warm:
        await open_loop(target, warm, warm_rate)
    # The driver stands in for many browsers elsewhere: no pauses of its own collector.
    gc.collect()
    gc.disable()
    try:
        web_before = tree_cpu_seconds(target.web_pid)
        db_before = tree_cpu_seconds(target.db_pid) if target.db_pid else 0.0
        driver_before = time.process_time()
        busy, total = machine_cpu()
        began = time.monotonic()
        outcomes = await open_loop(target, measured, rate)
        window = time.monotonic() - began
        busy_after, total_after = machine_cpu()
        spent = {
            "web": tree_cpu_seconds(target.web_pid) - web_before,
            "database": (tree_cpu_seconds(target.db_pid) - db_before) if target.db_pid else 0.0,
            "driver": time.process_time() - driver_before,
        }
    finally:
        gc.enable()
    count_rows(outcomes)
    cores = os.cpu_count() or 1
    machine_pct = 100 * (busy_after - busy) / max(1, total_after - total)
    figures = summary(outcomes)
    figures["over_time"] = over_time(outcomes, rate)
    figures["cpu_pct_of_one_core"] = {
        **{
            name: round(100 * seconds / window, 1)
            for name, seconds in spent.items()
            if name != "database" or target.db_pid
        },
        # Everything else on the machine over the window (other jobs on a shared host).
        "others": round(cores * machine_pct - sum(100 * s / window for s in spent.values()), 1),
    }
    # What one request cost each process: 1000 / this is how many a second one core could serve.
    figures["cpu_ms_per_request"] = {
        name: round(1000 * seconds / len(outcomes), 2)
        for name, seconds in spent.items()
        if name != "database" or target.db_pid
    }
    figures["window_seconds"] = round(window, 1)
    figures["web_rss_mb"] = round(tree_rss_mb(target.web_pid))
    labels = sorted({o.label for o in outcomes})
    if len(labels) > 1:
        figures["by_label"] = {label: summary([o for o in outcomes if o.label == label]) for label in labels}
    return figures


def server_errors(log: Path) -> dict[str, int]:
    """The exceptions the web process logged (the last line of each traceback), counted."""
    found: dict[str, int] = {}
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for i, line in enumerate(lines):
        if line.startswith("ERROR:") and "Exception in ASGI application" in line:
            last = next(
                (
                    x
                    for x in lines[i + 1 :]
                    if x and not x.startswith((" ", "Traceback", "The above", "During"))
                ),
                "?",
            )
            found[last[:200]] = found.get(last[:200], 0) + 1
    return found


@contextlib.contextmanager
def web_process(url: str, workers: int) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A web component of its own for one kind of request: a kind that overloads it leaves
    nothing queued behind for the next."""
    work = Path(tempfile.mkdtemp(prefix="hotline-case-api-"))
    port = servers.free_port()
    config = write_settings(work, url, port, workers)
    log = work / "web.log"
    base = f"http://127.0.0.1:{port}"
    web = start_web(config, log)
    try:
        wait_for_web(base, web, log)
        yield base, web, log
    finally:
        stop_process(web)
        shutil.rmtree(work, ignore_errors=True)


def run_database(
    kind: str, url: str, dataset: dict[str, Any], args: argparse.Namespace, db_pid: int | None
) -> dict[str, Any]:
    rng = random.Random(f"{kind}-{SEED}")
    sample = sample_dataset(url, rng, args.cases)
    cookie = f"{COOKIE}={open_session(url)}"
    kinds = search_kinds(sample)
    result: dict[str, Any] = {"dataset": {**dataset, "size_mb": size_mb(url)}, "phases": {}}
    try:
        runs = [(name, args.rate, args.seconds) for name in args.kinds]
        # Below capacity too: what a request costs when the web process keeps up.
        runs += [
            (name, args.low_rate, args.low_seconds)
            for name in args.kinds
            if name != "healthz" and args.low_rate
        ]
        for name, rate, seconds in runs:
            # The warm-up (caches, connections) at a pace the process keeps up with: the measured
            # run starts from a server that is not behind yet.
            warm_rate = min(rate, args.low_rate or rate)
            warm_n, n = int(args.warmup * warm_rate), int(seconds * rate)
            key = name if rate == args.rate else f"{name}_at_{rate:g}"
            print(f"  {kind}: {name}, {args.warmup:g} s warm-up then {seconds:g} s at {rate:g}/s", flush=True)
            with web_process(url, args.web_workers) as (base, web, log):
                target = Target(base, cookie, web.pid, db_pid)
                if name == "healthz":
                    warm, measured = ([Request("healthz", "GET", "/healthz")] * k for k in (warm_n, n))
                elif name == "create":
                    warm, measured = (create_requests(sample, rng, k) for k in (warm_n, n))
                else:
                    with httpx.Client(base_url=base, headers={"Cookie": cookie}, timeout=30.0) as client:
                        next_pages = first_pages(client, kinds, rng, 40)
                    warm, measured = (search_requests(kinds, next_pages, rng, k) for k in (warm_n, n))
                figures = asyncio.run(measure_phase(target, warm, warm_rate, measured, rate))
                figures["rate_per_second"] = rate
                figures["server_errors"] = server_errors(log)
            result["phases"][key] = figures
            print(
                f"    p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms, "
                f"max {figures['max_ms']} ms, errors {figures['errors']}, "
                f"CPU % {figures['cpu_pct_of_one_core']}, CPU ms/request {figures['cpu_ms_per_request']}",
                flush=True,
            )
            for label, one in figures.get("by_label", {}).items():
                print(
                    f"      {label:20} p50 {one['p50_ms']:8.1f}  p99 {one['p99_ms']:8.1f}"
                    f"  max {one['max_ms']:8.1f}"
                    f"  rows {one.get('rows_per_page_median', '-')}  errors {one['errors']}",
                    flush=True,
                )
        result["searches"] = {label: what for label, (what, _) in kinds.items()}
        result["searches"]["next_page"] = f"the second page (cursor) of: {', '.join(NEXT_PAGE_OF)}"
    finally:
        result["removed_new_cases"] = remove_new_cases(url, args.cases)
        if kind == "postgresql":
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE cases, case_events")
    return result


# ----- the machine --------------------------------------------------------------------------------
def disk_of(folder: Path) -> dict[str, Any]:
    """The block device holding ``folder``, and what one small write + fsync costs on it there
    (a durable commit waits for one)."""
    device = ""
    best = ""
    resolved = str(folder.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        source, mount = line.split()[:2]
        if resolved.startswith(mount) and len(mount) > len(best):
            best, device = mount, source
    name = Path(device).name
    found: dict[str, Any] = {"device": device, "mount": best}
    with contextlib.suppress(OSError, ValueError):
        found["rotational"] = int(Path(f"/sys/block/{name}/queue/rotational").read_text())
        found["size_gb"] = round(int(Path(f"/sys/block/{name}/size").read_text()) * 512 / 1e9)
    probe = folder / "fsync-probe"
    times = []
    with probe.open("wb") as out:
        for _ in range(200):
            began = time.perf_counter()
            out.write(os.urandom(8192))
            out.flush()
            os.fsync(out.fileno())
            times.append((time.perf_counter() - began) * 1000)
    probe.unlink()
    found["write_8k_fsync_ms"] = {
        "p50": round(percentile(times, 50), 2),
        "p99": round(percentile(times, 99), 2),
    }
    return found


def versions() -> dict[str, str]:
    found = {
        name: importlib.metadata.version(name)
        for name in ("uvicorn", "fastapi", "sqlalchemy", "psycopg", "httpx")
    }
    found["sqlite"] = sqlite3.sqlite_version
    return found


def test_runs() -> list[str]:
    """Test suites running on the machine now (another session's), named in the results."""
    found = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True, check=False).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


# ----- main ---------------------------------------------------------------------------------------
AIMS_P99_MS = {"create": 50.0, "search": 150.0}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--events-per-case", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, each kind")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds, each kind")
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds before each kind, at --low-rate (or the rate)"
    )
    parser.add_argument(
        "--low-rate", type=float, default=20.0, help="create and search again at this rate (0: not)"
    )
    parser.add_argument("--low-seconds", type=float, default=30.0, help="measured seconds at --low-rate")
    parser.add_argument(
        "--kinds", nargs="+", choices=("healthz", "create", "search"), default=["healthz", "create", "search"]
    )
    parser.add_argument(
        "--web-workers", type=int, default=os.cpu_count() or 1, help="web.workers (default: one per core)"
    )
    parser.add_argument("--sqlite-load", choices=("rebuild", "triggers"), default="rebuild")
    parser.add_argument("--data-dir", type=Path, default=Path("/var/tmp/hotline-bench-case-api"))
    parser.add_argument(
        "--fresh", action="store_true", help="make the datasets again even if kept ones match"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "case_api.json")
    args = parser.parse_args()
    # Stopped from outside: the cleanups still run (the web process, the cluster, the new cases).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.cases < 1000 or args.events_per_case < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("at least 1000 cases, 1 timeline row per case, and a positive rate and duration")

    began = time.perf_counter()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    others = test_runs()
    if others:
        print(
            "note: test runs on this machine now, the figures will say so:\n  " + "\n  ".join(others),
            flush=True,
        )
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {**machine(), "disk": disk_of(args.data_dir)},
        "versions": versions(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "test_runs_at_start": others,
        "parameters": {
            "cases": args.cases,
            "events_per_case": args.events_per_case,
            "rate_per_second": args.rate,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "low_rate_per_second": args.low_rate,
            "low_seconds": args.low_seconds,
            "sqlite_load": args.sqlite_load,
            "web_workers": args.web_workers,
            "postgresql_settings": PG_RUN_SETTINGS,
        },
        "aims_p99_ms": AIMS_P99_MS,
        "databases": {},
    }
    databases = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    if "sqlite" in databases:
        url, made = prepare_sqlite(args)
        report["databases"]["sqlite"] = run_database("sqlite", url, made, args, None)
    if "postgresql" in databases:
        with cluster(args.data_dir / "postgresql") as pg:
            url, made = prepare_postgres(args, pg)
            with psycopg.connect(url.replace("+psycopg", "")) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                report["versions"]["postgresql"] = str(row[0]) if row else ""
            report["databases"]["postgresql"] = run_database(
                "postgresql", url, made, args, postmaster_pid(pg)
            )
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["test_runs_at_end"] = test_runs()
    report["total_seconds"] = round(time.perf_counter() - began, 1)
    for figures in report["databases"].values():
        # Met: p99 under the aim and every request answered without an error.
        figures["aims_met"] = {
            key: phase["p99_ms"] < aim and phase["errors"] == 0
            for key, phase in figures["phases"].items()
            for kind, aim in AIMS_P99_MS.items()
            if key == kind or key.startswith(f"{kind}_at_")
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(report)
    errors = sum(p["errors"] for d in report["databases"].values() for p in d["phases"].values())
    return 1 if errors else 0


def print_table(report: dict[str, Any]) -> None:
    lines = [
        f"\n{'database':11} {'kind':22} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    ]
    for name, figures in report["databases"].items():
        for kind, phase in figures["phases"].items():
            rows = [(kind, phase)] + [(f"  {label}", one) for label, one in phase.get("by_label", {}).items()]
            for label, one in rows:
                lines.append(
                    f"{name:11} {label:22} {one['p50_ms']:8.1f} {one['p90_ms']:8.1f} {one['p99_ms']:8.1f}"
                    f" {one['max_ms']:8.1f} {one['errors']:7d}"
                )
    print("\n".join(lines) + f"\ntotal {report['total_seconds']} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
