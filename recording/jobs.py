"""The recording workers' Celery app: queues, delivery guarantees, and the tasks' names.

Two queues: ``recording`` (finishing files, sweeping, retention: short jobs) and ``asr`` (speech
recognition: long, CPU-bound), so transcription load never delays anything else. The database
is the truth about what is done; Redis only carries reminders. Hence:

- a job is queued only after its row committed (``hotline.db.after_commit``);
- ``acks_late`` + ``task_reject_on_worker_lost``: a job whose worker died is delivered again;
- every task is idempotent against the database (a transcript per recording is a unique key);
- the sweeper (every few seconds, Celery beat) queues again whatever Redis lost.

Processes that only queue jobs (the call tracker, the web server) call ``configure`` too; a
process that never did (a unit test) queues nothing and leaves it to the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hotline.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("recording.jobs")

RECORDING_QUEUE = "recording"
ASR_QUEUE = "asr"
FINALIZE = "recording.finalize"
TRANSCRIBE = "recording.transcribe"
SWEEP = "recording.sweep"
PURGE = "recording.purge_expired"
SWEEP_EVERY_SECONDS = 5.0

_settings: list[Settings] = []
_app: list[Celery] = []


def celery_app() -> Celery:
    """The one Celery app of this process, made on first use: importing Celery costs about a
    second, which the IVR process (it only queues jobs, and rarely) must not pay at start."""
    if not _app:
        from celery import Celery

        made = Celery("hotline")
        if _settings:
            made.conf.update(celery_config(_settings[0]))
        _app.append(made)
    return _app[0]


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.redis.url,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": RECORDING_QUEUE,
        "task_routes": {TRANSCRIBE: {"queue": ASR_QUEUE}},
        # Redis gives an unacknowledged job back only after this long: above the longest
        # transcription, or a slow job would be run twice at once.
        "broker_transport_options": {
            "visibility_timeout": settings.asr.max_seconds * 2,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        # Queueing must not hang a call tracker when Redis is away: fail fast, the sweeper retries.
        "task_publish_retry": False,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "timezone": settings.site.timezone,
        "beat_schedule": {
            "sweep": {"task": SWEEP, "schedule": SWEEP_EVERY_SECONDS},
            "purge-expired": {"task": PURGE, "schedule": 3600.0},
        },
    }


def configure(settings: Settings) -> None:
    """Say where jobs go; the app itself is made when the first job is queued."""
    _settings[:] = [settings]
    if _app:
        _app[0].conf.update(celery_config(settings))


def _send(task: str, ids: Iterable[int]) -> None:
    if not _settings:
        return
    for recording_id in ids:
        try:
            celery_app().send_task(task, args=(recording_id,), retry=False)
        except Exception as exc:  # Redis away: the row says what is wanted, the sweeper sends it
            log.warning("could not queue a recording job", extra={"task": task, "why": str(exc)})
            break


def queue_finalize(ids: Iterable[int]) -> None:
    _send(FINALIZE, ids)


def queue_transcribe(ids: Iterable[int]) -> None:
    _send(TRANSCRIBE, ids)
