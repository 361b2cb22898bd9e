"""One running platform for the whole integration session; every telephony test leaves it clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import AmiRecorder, Platform, start_platform, stop_platform
from tests.integration.open311_fixtures import open311_api_key, open311_base, open311_service_code  # noqa: F401


@pytest.fixture(scope="session")
def platform(artifacts_dir: Path) -> Iterator[Platform]:
    running = start_platform()
    try:
        yield running
    finally:
        stop_platform(running, artifacts_dir)


@pytest.fixture
def clean_platform(platform: Platform) -> Iterator[Platform]:
    """The platform, checked before and after the test: no channel up, every call row closed."""
    platform.settle()
    yield platform
    platform.settle()


@pytest.fixture
def ami(platform: Platform) -> Iterator[AmiRecorder]:
    recorder = AmiRecorder(platform.settings)
    try:
        yield recorder
    finally:
        recorder.close()
