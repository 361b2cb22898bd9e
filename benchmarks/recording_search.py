"""Recordings search over a year of calls: SQLite (FTS5) and PostgreSQL (tsvector + GIN index).

    .venv/bin/python -m benchmarks.recording_search [--calls 1000000] [--transcripts 300000]
                                                    [--runs 30] [--no-postgres]

A database made by the migrations is filled, in bulk (sqlite3 executemany in one transaction;
PostgreSQL COPY, its GIN index built after the load), with a year of a busy hotline: ``--calls``
call rows (a repeat-caller pool of mobiles and landlines, 120 agents on web and fixed seats, six
queues, the real mix of outcomes), a call recording for every answered call, and ``--transcripts``
of those transcribed (Mandarin, one in ten English) from the hotline's topics, places and phrases,
with their key phrases. Transcript segments are not generated: the search never reads them.

Then ``recording.search.search_calls`` (the whole of it: the query, the key phrases and snippets
of the page) is timed for the searches supervisors make, each ``--runs`` times with other values
(other numbers, agents, words, weeks) after two warm-ups; a "page 10" run follows the cursor
through nine pages and times the tenth. SQLite is timed as loaded, with no ANALYZE (the platform
runs none); PostgreSQL after VACUUM ANALYZE (what autovacuum does after a load).
Results: benchmarks/results/recording_search.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from benchmarks.ivr_load import machine
from hotline.db import Database
from hotline.keyset import Cursor
from hotline.migrate import upgrade
from recording.search import search_calls
from recording.vocabulary import search_text
from telephony.models import Call
from tests import servers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ZONE = ZoneInfo("Asia/Shanghai")
YEAR_START = datetime(2025, 1, 1, tzinfo=ZONE)

QUEUES = ("main", "main", "main", "water", "power", "traffic", "elderly", "english")
OUTCOMES = (
    ("answered", 80),
    ("abandoned", 10),
    ("ivr_only", 5),
    ("voicemail", 2),
    ("overflow", 2),
    ("abnormal", 1),
)
# (Chinese topic, English topic, category, urgent, weight): the hotline's key phrases, as often
# as a city hotline hears them.
TOPICS = (
    ("路灯", "street light", "street_light", False, 24),
    ("噪音", "noise", "noise", False, 16),
    ("垃圾", "rubbish", "rubbish", False, 15),
    ("停水", "water outage", "water_outage", False, 11),
    ("停电", "power cut", "power_outage", False, 10),
    ("井盖", "manhole", "manhole_cover", False, 6),
    ("欠薪", "unpaid wages", "unpaid_wages", False, 6),
    ("煤气", "gas leak", "gas_leak", True, 2),
    ("着火", "fire", "fire", True, 1),
)
PLACES = (
    "解放路", "人民路", "中山大道", "建设路", "幸福小区", "阳光花园", "滨江路", "和平街", "科技园",
    "东湖新村", "长江路", "黄河路", "新华街", "文化路", "胜利街", "光明小区", "翠湖苑", "锦绣家园",
    "南京路", "北京路", "青年路", "育才路", "火车站", "汽车站", "第一中学", "人民医院",
)  # fmt: skip
ROADS_EN = ("Main Road", "Station Street", "River Road", "Park Avenue", "Hill Street", "Harbour Road")
FILLER_ZH = (
    "已经好几天了，一直没有人管",
    "麻烦你们尽快派人来看一下",
    "我上次也打过电话，还是没有解决",
    "晚上出门很不方便，老人孩子都担心",
    "请问您贵姓，联系电话是来电号码吗",
    "好的，我们会把您反映的情况转给相关部门处理",
    "处理结果会在三个工作日内回复您",
    "还有别的问题需要反映吗",
    "谢谢您的来电，再见",
)
FILLER_EN = (
    "It has been like this for three days.",
    "Could you send someone to look at it soon?",
    "I called last week and nothing happened.",
    "Thank you, we will pass this to the department today.",
    "You will hear from us within three working days.",
)


# ----- a year of calls ----------------------------------------------------------------------------
@dataclass
class Year:
    calls: list[tuple[Any, ...]]
    recordings: list[tuple[Any, ...]]
    transcripts: list[tuple[Any, ...]]
    hits: list[tuple[Any, ...]]
    numbers: list[str]
    agents: list[str]


CALL_COLUMNS = (
    "id", "uniqueid", "linkedid", "node", "channel", "caller_number", "caller_name", "called_number",
    "trunk", "started_at", "answered_at", "queued_at", "agent_connected_at", "ended_at", "disposition",
    "hangup_cause", "ivr_path", "route", "queue", "agent", "end_reason", "outcome", "outcome_note",
    "duration_seconds",
)  # fmt: skip
RECORDING_COLUMNS = (
    "id", "kind", "call_uniqueid", "path", "format", "created_at", "size_bytes", "status", "started_at",
    "ended_at", "duration_ms", "archive_path", "archive_format", "sha256", "failure_reason",
    "finalize_attempts", "legal_hold", "hold_reason", "deleted_at", "asr_status", "asr_error",
    "asr_attempts", "asr_queued_at", "asr_started_at",
)  # fmt: skip
TRANSCRIPT_COLUMNS = (
    "id", "recording_id", "call_uniqueid", "engine", "model", "text", "search_text", "created_at",
    "audio_seconds", "processing_seconds",
)  # fmt: skip
HIT_COLUMNS = ("id", "recording_id", "call_uniqueid", "phrase", "category", "urgent", "speaker", "start_ms")


def phone_numbers(rng: random.Random, count: int) -> list[str]:
    """Mobiles (138..., 139..., 186...) and Shenzhen-style landlines (0755 + 8 digits)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        if rng.random() < 0.85:
            numbers.add(f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}")
        else:
            numbers.add(f"0755{rng.randrange(2 * 10**7, 9 * 10**7):08d}")
    return sorted(numbers)


def seat_names() -> list[str]:
    """Web seats hold the username, fixed seats the PJSIP endpoint."""
    web = [f"agent{n:03d}" for n in range(1, 91)]
    fixed = [f"PJSIP/seat{1000 + n}" for n in range(1, 31)]
    return web + fixed


def start_times(rng: random.Random, count: int) -> list[datetime]:
    """Through the year, busiest 8:00-22:00 (a 7x24 line still rings at night), sorted as the rows
    are written: ids grow with time, as in production."""
    weights = [
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.2,
        0.6,
        1.5,
        4,
        6,
        6.5,
        6,
        4.5,
        5,
        6,
        6,
        5.5,
        4.5,
        3,
        3,
        2.5,
        2,
        1.2,
        0.6,
    ]
    hours = rng.choices(range(24), weights=weights, k=count)
    seconds = sorted(rng.randrange(365) * 86400 + hour * 3600 + rng.random() * 3600 for hour in hours)
    base = YEAR_START.astimezone(UTC)
    return [base + timedelta(seconds=s) for s in seconds]


def transcript_text(rng: random.Random) -> tuple[str, list[tuple[str, str, bool, int]]]:
    """(text as the pipeline stores it, key phrase hits) of one call."""
    zh, en, category, urgent, _ = rng.choices(TOPICS, weights=[t[4] for t in TOPICS])[0]
    place = rng.choice(PLACES)
    if rng.random() < 0.1:
        road = rng.choice(ROADS_EN)
        lines = [
            "agent: Hello, this is the 12345 hotline. How can I help you?",
            f"caller: The {en} on {road} near number {rng.randrange(1, 300)} is a problem.",
            f"caller: {rng.choice(FILLER_EN)}",
            f"agent: {rng.choice(FILLER_EN)}",
        ]
        return "\n".join(lines), [(en, category, urgent, rng.randrange(3000, 9000))]
    lines = [
        "agent: 您好，12345政务服务便民热线，请问有什么可以帮您？",
        f"caller: 我要反映{place}{rng.randrange(1, 200)}号附近的{zh}问题",
        f"caller: {rng.choice(FILLER_ZH)}",
        f"agent: 请问具体是在{place}的什么位置？",
        f"caller: 就在{place}{rng.choice(('东门', '西门', '路口', '公交站', '菜市场'))}旁边",
        f"agent: {rng.choice(FILLER_ZH)}",
        f"caller: {rng.choice(FILLER_ZH)}",
    ]
    return "\n".join(lines[: rng.randrange(4, 8)]), [(zh, category, urgent, rng.randrange(3000, 9000))]


def make_year(calls: int, transcripts: int, seed: int = 12345) -> Year:
    rng = random.Random(seed)
    numbers = phone_numbers(rng, max(1000, calls // 5))
    agents = seat_names()
    outcomes, weights = zip(*OUTCOMES, strict=True)
    dispositions = rng.choices(outcomes, weights=weights, k=calls)
    callers = rng.choices(numbers, k=calls)
    queues = rng.choices(QUEUES, k=calls)
    call_rows: list[tuple[Any, ...]] = []
    recording_rows: list[tuple[Any, ...]] = []
    for call_id, (started, disposition, caller, queue) in enumerate(
        zip(start_times(rng, calls), dispositions, callers, queues, strict=True), start=1
    ):
        uid = f"{int(started.timestamp())}.{call_id}"
        answered = disposition == "answered"
        queued = started + timedelta(seconds=rng.uniform(8, 20))
        connected = queued + timedelta(seconds=rng.expovariate(1 / 15)) if answered else None
        talk = rng.lognormvariate(5.2, 0.6) if answered else rng.uniform(5, 90)  # median ~3 min
        ended = (connected or queued) + timedelta(seconds=talk)
        agent = rng.choice(agents) if answered else ""
        call_rows.append(
            (
                call_id, uid, uid, "main", f"PJSIP/carrier-{call_id:08x}", caller, "", "12345", "carrier",
                started, started, queued, connected, ended, disposition, "Normal Clearing",
                "office_hours,greeting,to_agent", "queue", queue, agent, "", "", "",
                int((ended - started).total_seconds()),
            )
        )  # fmt: skip
        if connected is not None:
            path = f"/var/lib/hotline/recordings/{connected.astimezone(ZONE):%Y/%m/%d}/{uid}"
            recording_rows.append(
                (
                    len(recording_rows) + 1, "call", uid, path, "wav", connected, int(talk * 1500),
                    "complete", connected, ended, int(talk * 1000), f"{path}.opus", "opus",
                    f"{rng.getrandbits(256):064x}", "", 1, False, "", None, "done", "", 1, None, None,
                )
            )  # fmt: skip
    transcript_rows: list[tuple[Any, ...]] = []
    hit_rows: list[tuple[Any, ...]] = []
    normalise = _search_text_by_line()
    chosen = sorted(rng.sample(range(len(recording_rows)), min(transcripts, len(recording_rows))))
    for recording_index in chosen:
        recording = recording_rows[recording_index]
        text, hits = transcript_text(rng)
        transcript_rows.append(
            (
                len(transcript_rows) + 1, recording[0], recording[2], "vosk", "vosk-model-cn-0.22", text,
                normalise(text), recording[9], recording[10] / 1000, recording[10] / 8000,
            )
        )  # fmt: skip
        for phrase, category, urgent, start_ms in hits:
            hit_rows.append(
                (len(hit_rows) + 1, recording[0], recording[2], phrase, category, urgent, "caller", start_ms)
            )
    return Year(call_rows, recording_rows, transcript_rows, hit_rows, numbers, agents)


def _search_text_by_line() -> Callable[[str], str]:
    """recording.vocabulary.search_text of what was said (the text without its speaker labels),
    as the pipeline stores it. The lines repeat a lot across 300,000 calls, so each line is
    normalised once, when that gives what normalising the whole text gives (checked on a sample;
    otherwise every text is normalised whole)."""
    lines: dict[str, str] = {}

    def said(text: str) -> list[str]:
        return [line.split(": ", 1)[1] for line in text.splitlines()]

    def by_line(text: str) -> str:
        parts = []
        for line in said(text):
            if line not in lines:
                lines[line] = search_text(line)
            parts.append(lines[line])
        return " ".join(p for p in parts if p)

    sample = random.Random(7)
    if all(
        by_line(t) == search_text(" ".join(said(t))) for t, _ in (transcript_text(sample) for _ in range(300))
    ):
        return by_line
    return lambda text: search_text(" ".join(said(text)))


# ----- loading ------------------------------------------------------------------------------------
def _sqlite_time(value: datetime | None) -> str | None:
    # What SQLAlchemy's SQLite DateTime writes (hotline.db.UtcDateTime stores UTC): a string.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if value is not None else None


def _sqlite_rows(rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(_sqlite_time(v) if isinstance(v, datetime) else v for v in row)


TABLES = (
    ("calls", CALL_COLUMNS),
    ("recordings", RECORDING_COLUMNS),
    ("transcripts", TRANSCRIPT_COLUMNS),
    ("key_phrase_hits", HIT_COLUMNS),
)


def _rows(year: Year, table: str) -> list[tuple[Any, ...]]:
    return {"calls": year.calls, "recordings": year.recordings, "transcripts": year.transcripts}.get(
        table, year.hits
    )


def load_sqlite(path: Path, year: Year) -> float:
    """The migrations' schema, filled in one transaction. The secondary indexes and the FTS
    triggers are dropped first and made again after (an index built once over sorted keys is
    far cheaper than one kept up row by row), then the FTS index is rebuilt from the table."""
    upgrade(f"sqlite:///{path}")
    began = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    names = ", ".join(f"'{table}'" for table, _ in TABLES)
    kept = conn.execute(
        f"SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        f"AND tbl_name IN ({names}) AND sql IS NOT NULL"
    ).fetchall()
    with conn:
        for kind, name, _ in kept:
            conn.execute(f"DROP {kind.upper()} {name}")
        for table, columns in TABLES:
            marks = ", ".join("?" for _ in columns)
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                _sqlite_rows(_rows(year, table)),
            )
        for _, _, sql in kept:
            conn.execute(sql)
        conn.execute("INSERT INTO transcripts_fts(transcripts_fts) VALUES ('rebuild')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - began


def load_postgres(url: str, year: Year) -> float:
    """COPY into the migrations' schema, the indexes that back no constraint (the GIN one too)
    dropped first and built after, then VACUUM ANALYZE, as autovacuum would after such a load."""
    upgrade(url)
    began = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        kept = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            ([table for table, _ in TABLES],),
        ).fetchall()
        for name, _ in kept:
            conn.execute(f"DROP INDEX {name}")
        for table, columns in TABLES:
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in _rows(year, table):
                    copy.write_row(row)
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in kept:
            conn.execute(definition)
        for table, _ in TABLES:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - began


# ----- the searches -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timed:
    rows: int
    seconds: float
    asked: str  # the filters, to tell which search a slow run was


@dataclass
class Case:
    name: str
    what: str
    search: Callable[[Session, random.Random], Timed]  # one search, with values drawn from rng


def _month(rng: random.Random) -> dict[str, datetime]:
    start = YEAR_START + timedelta(days=rng.randrange(0, 330))
    return {"since": start, "until": start + timedelta(days=30)}


def _week(rng: random.Random) -> dict[str, datetime]:
    start = YEAR_START + timedelta(days=rng.randrange(0, 358))
    return {"since": start, "until": start + timedelta(days=7)}


def cases(year: Year) -> list[Case]:
    everyone: ColumnElement[bool] = true()
    common = [t[0] for t in TOPICS[:5]]
    rare = [*PLACES, *(t[1] for t in TOPICS[5:])]  # a place (1/26 of Mandarin calls) or a rare topic

    def run(session: Session, **filters: Any) -> Timed:
        visible = filters.pop("visible", everyone)
        began = time.perf_counter()
        rows = len(search_calls(session, visible=visible, **filters).rows)
        asked = _asked(filters) or ("a team of 12" if visible is not everyone else "")
        return Timed(rows, time.perf_counter() - began, asked)

    def page_ten(session: Session, **filters: Any) -> Timed:
        """Only the tenth page is timed; the nine before it find its cursor."""
        cursor: Cursor | None = None
        for _ in range(9):
            cursor = search_calls(session, visible=everyone, cursor=cursor, **filters).next_cursor
        began = time.perf_counter()
        rows = len(search_calls(session, visible=everyone, cursor=cursor, **filters).rows)
        return Timed(rows, time.perf_counter() - began, _asked(filters))

    def team(rng: random.Random) -> ColumnElement[bool]:
        members = rng.sample(year.agents, 12)
        return Call.agent.in_(members)

    return [
        Case("newest", "no filter, first page (the page as it opens)", lambda s, r: run(s)),
        Case(
            "team",
            "a supervisor's team (12 agents), first page",
            lambda s, r: run(s, visible=team(r)),
        ),
        Case("number_exact", "a whole caller number", lambda s, r: run(s, number=r.choice(year.numbers))),
        Case(
            "number_suffix",
            "the last 4 digits of a number",
            lambda s, r: run(s, number=r.choice(year.numbers)[-4:]),
        ),
        Case(
            "agent_month",
            "one agent, one month",
            lambda s, r: run(s, agent=r.choice(year.agents), **_month(r)),
        ),
        Case(
            "words_common",
            "a common topic (路灯, 噪音, 垃圾, 停水, 停电)",
            lambda s, r: run(s, words=r.choice(common)),
        ),
        Case(
            "words_rare",
            "a place or a rare topic (解放路, manhole, 煤气...)",
            lambda s, r: run(s, words=r.choice(rare)),
        ),
        Case(
            "words_week",
            "a common topic within one week",
            lambda s, r: run(s, words=r.choice(common), **_week(r)),
        ),
        Case("page10", "no filter, the 10th page (cursor followed)", lambda s, r: page_ten(s)),
        Case(
            "words_page10",
            "a common topic, the 10th page",
            lambda s, r: page_ten(s, words=r.choice(common)),
        ),
    ]


def _asked(filters: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}={value.date() if isinstance(value, datetime) else value}" for key, value in filters.items()
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_cases(db: Database, year: Year, runs: int) -> dict[str, dict[str, Any]]:
    results = {}
    for case in cases(year):
        rng = random.Random(case.name)
        timed = []
        for attempt in range(runs + 2):
            with db.unit_of_work() as session:
                one = case.search(session, rng)
            if attempt >= 2:  # two warm-ups: the first read of an index from disk is not the search
                timed.append(one)
        times = [t.seconds * 1000 for t in timed]
        slowest = max(timed, key=lambda t: t.seconds)
        figures = results[case.name] = {
            "what": case.what,
            "runs": runs,
            "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(percentile(times, 0.99), 2),
            "max_ms": round(max(times), 2),
            "slowest": slowest.asked,
            "rows_per_page_median": statistics.median(t.rows for t in timed),
        }
        print(
            f"  {case.name:14} p50 {figures['p50_ms']:8.1f} ms   p99 {figures['p99_ms']:8.1f} ms"
            f"   (slowest: {slowest.asked})",
            flush=True,
        )
    return results


# ----- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--transcripts", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "recording_search.json")
    args = parser.parse_args()

    began = time.perf_counter()
    print(f"generating {args.calls} calls, {args.transcripts} transcripts ...", flush=True)
    year = make_year(args.calls, args.transcripts)
    generated = time.perf_counter() - began
    print(
        f"  {len(year.calls)} calls, {len(year.recordings)} recordings, {len(year.transcripts)} transcripts, "
        f"{len(year.hits)} key phrases in {generated:.0f} s",
        flush=True,
    )
    report: dict[str, Any] = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        # The machine may be shared: its 1-minute load at the start and the end, to read the
        # figures by (this benchmark itself keeps one core busy).
        "load_average": {"start": round(os.getloadavg()[0], 2)},
        "data": {
            "calls": len(year.calls),
            "recordings": len(year.recordings),
            "transcripts": len(year.transcripts),
            "key_phrase_hits": len(year.hits),
            "caller_numbers": len(year.numbers),
            "agents": len(year.agents),
            "generate_seconds": round(generated, 1),
        },
        "databases": {},
    }
    with tempfile.TemporaryDirectory(prefix="hotline-search-bench-") as work:
        path = Path(work) / "year.db"
        print("SQLite: loading ...", flush=True)
        loaded = load_sqlite(path, year)
        size = sum(p.stat().st_size for p in Path(work).glob("year.db*"))
        print(f"  loaded in {loaded:.0f} s, {size / 1e6:.0f} MB", flush=True)
        db = Database(f"sqlite:///{path}")
        report["databases"]["sqlite"] = {
            "load_seconds": round(loaded, 1),
            "size_mb": round(size / 1e6),
            "searches": time_cases(db, year, args.runs),
        }
        db.dispose()
    if not args.no_postgres:
        with servers.postgres_server({"shared_buffers": "512MB", "work_mem": "16MB"}) as server:
            url = server.create_database("year")
            print("PostgreSQL: loading ...", flush=True)
            loaded = load_postgres(url, year)
            print(f"  loaded in {loaded:.0f} s", flush=True)
            db = Database(url)
            with db.engine.connect() as conn:
                size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
            report["databases"]["postgresql"] = {
                "load_seconds": round(loaded, 1),
                "size_mb": round(size / 1e6),
                "searches": time_cases(db, year, args.runs),
            }
            db.dispose()
    report["total_seconds"] = round(time.perf_counter() - began, 1)
    report["load_average"]["end"] = round(os.getloadavg()[0], 2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(report)


def print_table(report: dict[str, Any]) -> None:
    out = io.StringIO()
    databases = list(report["databases"])
    out.write(f"\n{'search':16}" + "".join(f"{db + ' p50/p99 ms':>26}" for db in databases) + "\n")
    names = list(report["databases"][databases[0]]["searches"])
    for name in names:
        cells = []
        for db in databases:
            figures = report["databases"][db]["searches"][name]
            cells.append(f"{figures['p50_ms']:>12.1f} / {figures['p99_ms']:<9.1f}")
        out.write(f"{name:16}" + "".join(f"{c:>26}" for c in cells) + "\n")
    print(out.getvalue() + f"total {report['total_seconds']} s", flush=True)


if __name__ == "__main__":
    main()
