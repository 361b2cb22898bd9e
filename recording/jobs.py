"""The recording workers' tasks and queues (the Celery app itself is ``hotline.jobs``).

Two queues: ``recording`` (finishing files, sweeping, retention: short jobs) and ``asr`` (speech
recognition: long, CPU-bound), so transcription load never delays anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hotline import jobs
from hotline.settings import Settings

RECORDING_QUEUE = "recording"
ASR_QUEUE = "asr"
FINALIZE = "recording.finalize"
TRANSCRIBE = "recording.transcribe"
SWEEP = "recording.sweep"
PURGE = "recording.purge_expired"
SWEEP_EVERY_SECONDS = 5.0

ROUTES = {TRANSCRIBE: {"queue": ASR_QUEUE}}

# Kept here for the processes that already call it by this name.
configure = jobs.configure
celery_app = jobs.celery_app


def schedule(_settings: Settings) -> dict[str, Any]:
    return {
        "sweep": {"task": SWEEP, "schedule": SWEEP_EVERY_SECONDS},
        "purge-expired": {"task": PURGE, "schedule": 3600.0},
    }


def _send(task: str, ids: Iterable[int]) -> None:
    for recording_id in ids:
        if not jobs.send(task, (recording_id,)):
            break  # Redis away: the rows say what is wanted, the sweeper sends it


def queue_finalize(ids: Iterable[int]) -> None:
    _send(FINALIZE, ids)


def queue_transcribe(ids: Iterable[int]) -> None:
    _send(TRANSCRIBE, ids)
