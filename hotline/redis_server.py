"""The platform's own Redis on one machine (``[redis] managed = true``): started and watched by
the supervisor like any component, bound to the URL's address, with nothing on disk.

Nothing in Redis is the only copy of anything (seat state is rebuilt from Asterisk, jobs are
re-enqueued from the database), so persistence stays off and a restart loses nothing.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

from hotline.settings import Settings


def redis_argv(settings: Settings) -> list[str]:
    url = urlsplit(settings.redis.url)
    if url.scheme != "redis" or not url.hostname:
        raise SystemExit(f"redis.url {settings.redis.url!r}: a managed Redis needs redis://host:port")
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: run scripts/bootstrap.sh (or set redis.managed = false)")
    data = settings.state_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return [
        binary,
        "--bind", url.hostname,
        "--port", str(url.port or 6379),
        "--dir", str(data),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--loglevel", "warning",
    ]  # fmt: skip


def exec_redis(settings: Settings) -> None:
    argv = redis_argv(settings)
    os.execv(argv[0], argv)  # noqa: S606 - our own binary and fixed arguments, no shell
