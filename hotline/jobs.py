"""The platform's one Celery app: where jobs go, how they are delivered, and the clock (beat).

Each context names its own tasks and queues (``recording.jobs``, ``case_bridge.jobs``); this
module assembles them into one configuration, so every process that queues a job, every worker
and the single beat process agree. The database is the truth about what is done; Redis only
carries reminders. Hence:

- a job is queued only after its row committed (``hotline.db.after_commit``);
- ``acks_late`` + ``task_reject_on_worker_lost``: a job whose worker died is delivered again;
- every task is idempotent against the database;
- sweepers run by beat queue again whatever Redis lost.

Processes that only queue jobs (the call tracker, the web server) call ``configure``; a process
that never did (a unit test) queues nothing and leaves it to the sweepers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hotline.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("hotline.jobs")

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
    from case_bridge import jobs as case_jobs
    from recording import jobs as recording_jobs

    return {
        "broker_url": settings.redis.url,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": recording_jobs.RECORDING_QUEUE,
        "task_routes": {**recording_jobs.ROUTES, **case_jobs.ROUTES},
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
        "beat_schedule": {**recording_jobs.schedule(settings), **case_jobs.schedule(settings)},
    }


def configure(settings: Settings) -> None:
    """Say where jobs go; the app itself is made when the first job is queued."""
    _settings[:] = [settings]
    if _app:
        _app[0].conf.update(celery_config(settings))


def send(task: str, args: tuple[Any, ...] = ()) -> bool:
    """Queue one job; False (and a warning) when Redis is away or nothing was configured: the
    row in the database says what is wanted, and a sweeper sends it later."""
    if not _settings:
        return False
    try:
        celery_app().send_task(task, args=args, retry=False)
    except Exception as exc:
        log.warning("could not queue a job", extra={"task": task, "why": str(exc)})
        return False
    return True
