"""The web app serving Open311 on loopback, for the GeoReport conformance tests and our own.

No Asterisk and no CLI: a migrated SQLite database in a temporary folder, the shipped catalogue,
one API client, and the app served by uvicorn in a thread (web_alone.serving). One site for the
whole session: every test files requests of its own with unique descriptions.

tests/integration/conftest.py imports the three fixtures the spec tests name. The site itself
(database, settings, the client's name) is kept in pytest's stash rather than in a fixture of its
own, so those three are all conftest needs to know; tests/integration/test_open311_server.py
reads it from there too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents_ui.app import create_app
from case_bridge.api_clients import add_api_client
from case_bridge.catalogue import seed_defaults
from hotline.db import Database
from hotline.migrate import upgrade
from hotline.settings import DatabaseSettings, RedisSettings, Settings, SiteSettings
from tests.integration.web_alone import serving

CLIENT_NAME = "conformance-client"
# Routed by its category's default to the urban management bureau, which starts a deadline: the
# spec tests expect expected_datetime on a new request.
SERVICE_CODE = "street_light"


@dataclass(frozen=True)
class Open311Site:
    base: str  # the GeoReport endpoint, ending in /open311/v2/
    db: Database
    settings: Settings
    api_key: str
    client_name: str


SITE = pytest.StashKey[Open311Site]()


def site_settings(state: Path) -> Settings:
    return Settings(
        site=SiteSettings(state_dir=state),
        database=DatabaseSettings(url=f"sqlite:///{state / 'hotline.db'}"),
        # Nothing listens on port 1: nothing here needs Redis, and nothing must reach a real one.
        redis=RedisSettings(url="redis://127.0.0.1:1/0", managed=False),
    )


@pytest.fixture(scope="session")
def open311_base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = site_settings(tmp_path_factory.mktemp("open311"))
    upgrade(settings.database_url)
    app = create_app(settings)
    db: Database = app.state.db
    with db.unit_of_work() as session:
        seed_defaults(session)
        api_key = add_api_client(session, CLIENT_NAME)
    with serving(app) as url:
        base = f"{url}/open311/v2/"
        request.config.stash[SITE] = Open311Site(base, db, settings, api_key, CLIENT_NAME)
        yield base
    del request.config.stash[SITE]
    db.dispose()


@pytest.fixture(scope="session")
def open311_api_key(request: pytest.FixtureRequest, open311_base: str) -> str:
    # Not through open311_site: conftest imports only the three fixtures the spec tests name.
    return request.config.stash[SITE].api_key


@pytest.fixture(scope="session")
def open311_service_code() -> str:
    return SERVICE_CODE
