"""Celery tasks and the three recording components ``make run`` starts.

- ``recorder``: a worker on the ``recording`` queue (finishing files, sweeping, retention);
- ``asr``: ``asr.workers`` processes on the ``asr`` queue (speech recognition only);
- ``beat``: the clock that runs the sweeper every few seconds and retention every hour.

Each worker child opens its own database engine and ASR engine after the fork (neither survives
being shared across processes), once, and reuses them for every job.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from hotline.db import Database
from hotline.settings import Settings, load_settings
from recording import housekeeping, jobs, pipeline
from recording.asr import AsrEngine, make_engine

log = logging.getLogger("recording.worker")

app = jobs.celery_app()
# Files Asterisk has not closed yet are looked at again after this many seconds, up to the
# settings' grace period, after which they are repaired.
RETRY_OPEN_FILES_SECONDS = 1.0


_loaded: list[Settings] = []


def _settings() -> Settings:
    """The component's settings (forked children inherit them); loaded here for other uses."""
    if not _loaded:
        _loaded.append(load_settings())
        jobs.configure(_loaded[0])
    return _loaded[0]


_databases: dict[int, Database] = {}


def _db() -> Database:
    pid = os.getpid()
    if pid not in _databases:
        _databases[pid] = Database(_settings().database_url)
    return _databases[pid]


_engines: dict[int, AsrEngine] = {}


def _engine() -> AsrEngine:
    """The ASR engine of this process; a bad model setting raises each time until it is fixed."""
    pid = os.getpid()
    if pid not in _engines:
        _engines[pid] = make_engine(_settings().asr)
    return _engines[pid]


@app.task(name=jobs.FINALIZE, bind=True, max_retries=120)
def finalize_task(self: Any, recording_id: int) -> str:
    try:
        return pipeline.finalize(_db(), _settings(), recording_id)
    except pipeline.FilesStillOpen as exc:
        raise self.retry(countdown=RETRY_OPEN_FILES_SECONDS, exc=exc) from exc


@app.task(name=jobs.TRANSCRIBE)
def transcribe_task(recording_id: int) -> str:
    return pipeline.transcribe(_db(), _settings(), _engine, recording_id)


@app.task(name=jobs.SWEEP)
def sweep_task() -> None:
    housekeeping.sweep(_db(), _settings())


@app.task(name=jobs.PURGE)
def purge_task() -> None:
    housekeeping.purge_expired(_db(), _settings())


COMPONENTS = ("recorder", "asr", "beat")


def worker_argv(settings: Settings, name: str) -> list[str]:
    if name == "beat":
        schedule = settings.state_dir / "run" / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        return ["beat", "--loglevel=INFO", f"--schedule={schedule}"]
    queue, concurrency = (
        (jobs.ASR_QUEUE, settings.asr.workers) if name == "asr" else (jobs.RECORDING_QUEUE, 1)
    )
    return [
        "worker",
        "--loglevel=INFO",
        f"--queues={queue}",
        f"--concurrency={max(concurrency, 1)}",
        "--pool=prefork",
        f"--hostname={name}@%h",
        # One job per child, taken when it starts: a long transcription never holds back others.
        "--prefetch-multiplier=1",
        "--without-gossip",
        "--without-mingle",
    ]


def run_component(settings: Settings, name: str) -> None:
    _loaded[:] = [settings]
    jobs.configure(settings)
    (settings.state_dir / "recordings").mkdir(parents=True, exist_ok=True)
    log.info("starting %s", name)
    app.start(worker_argv(settings, name))
