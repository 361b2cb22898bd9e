"""Celery tasks of the case side and the ``cases`` component ``make run`` starts: a worker on
the ``cases`` queue (deadline watch, outbox). Beat (started with the recording components)
sends both on their schedule."""

from __future__ import annotations

import logging
import os

from case_bridge import jobs
from case_bridge.outbox import deliver_due
from case_bridge.timers import check_deadlines
from hotline import jobs as platform_jobs
from hotline.db import Database
from hotline.settings import Settings, load_settings

log = logging.getLogger("case_bridge.worker")

app = platform_jobs.celery_app()

_loaded: list[Settings] = []
_databases: dict[int, Database] = {}


def _settings() -> Settings:
    if not _loaded:
        _loaded.append(load_settings())
        platform_jobs.configure(_loaded[0])
    return _loaded[0]


def _db() -> Database:
    # One engine per process: connections do not survive the worker pool's fork.
    pid = os.getpid()
    if pid not in _databases:
        _databases[pid] = Database(_settings().database_url)
    return _databases[pid]


@app.task(name=jobs.CHECK_DEADLINES)
def check_deadlines_task() -> int:
    with _db().unit_of_work() as session:
        report = check_deadlines(session, _settings())
    if report.total:
        log.info(
            "deadlines: %d warned, %d overdue, %d not signed for, %d escalated",
            report.warned,
            report.overdue,
            report.sign_overdue,
            report.escalated,
        )
    return report.total


@app.task(name=jobs.DELIVER_OUTBOX)
def deliver_outbox_task() -> int:
    sent: int = deliver_due(_db(), _settings()).sent
    return sent


def worker_argv() -> list[str]:
    return [
        "worker",
        "--loglevel=INFO",
        f"--queues={jobs.CASES_QUEUE}",
        # Two: a slow webhook receiver (up to its timeout) must not hold up the deadline watch.
        "--concurrency=2",
        "--pool=prefork",
        "--hostname=cases@%h",
        "--prefetch-multiplier=1",
        "--without-gossip",
        "--without-mingle",
    ]


def run_component(settings: Settings) -> None:
    _loaded[:] = [settings]
    platform_jobs.configure(settings)
    log.info("starting cases")
    app.start(worker_argv())
