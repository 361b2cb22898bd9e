"""agents_ui: /healthz, the call list API and page, on a real migrated SQLite database."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agents_ui.app import create_app
from asterisk_conf.layout import InstanceLayout
from hotline.db import Database
from hotline.settings import DatabaseSettings, Settings, SiteSettings
from hotline.status import status_dir, write_status
from telephony.models import Call, Disposition
from tests.unit.accounts_support import logged_in_as

NEW_YEAR = datetime(2025, 1, 1, 0, 30, tzinfo=UTC)  # 08:30 in Beijing


def make_settings(tmp_path: Path, db_url: str, **site: object) -> Settings:
    return Settings(
        site=SiteSettings(state_dir=tmp_path / "state", **site),
        database=DatabaseSettings(url=db_url),
    )


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def anonymous(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
    app.state.db.dispose()


@pytest.fixture
def client(anonymous: TestClient) -> TestClient:
    """A supervisor's browser: the call list shows every call to them."""
    return logged_in_as(anonymous, anonymous.app.state.db, "zhang.wei", "supervisor")  # type: ignore[attr-defined]


def add_call(db: Database, uniqueid: str, started_at: datetime, **values: object) -> None:
    fields: dict[str, object] = {
        "uniqueid": uniqueid,
        "linkedid": uniqueid,
        "channel": f"PJSIP/carrier-{uniqueid}",
        "caller_number": "13812345678",
        "called_number": "12345",
        "trunk": "carrier",
        "started_at": started_at,
        **values,
    }
    with db.unit_of_work() as session:
        session.add(Call(**fields))


def everything_running(settings: Settings) -> None:
    write_status(settings.state_dir, "tracker", ami_connected=True, live_calls=2)
    write_status(settings.state_dir, "agi", active_calls=1)
    write_status(settings.state_dir, "seats", ami_connected=True, seats=3)
    run = InstanceLayout.for_settings(settings).run
    run.mkdir(parents=True, exist_ok=True)
    (run / "asterisk.pid").write_text(f"{os.getpid()}\n")


# ----- /healthz ----------------------------------------------------------------------------------


def test_given_nothing_running_when_health_is_asked_then_503_names_each_failing_part(anonymous):
    reply = anonymous.get("/healthz")  # no login: load balancers ask too

    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "degraded"
    checks = body["checks"]
    assert set(checks) == {"asterisk", "ami", "agi", "seats", "database", "recordings"}
    assert checks["seats"] == {"ok": False, "seats": None}
    # Nothing waits for the workers and no alert is open: the pipeline itself is fine.
    assert checks["recordings"]["ok"] is True and checks["recordings"]["to_transcribe"] == 0
    assert checks["asterisk"] == {"ok": False, "detail": "not running"}
    assert checks["ami"]["ok"] is False
    assert checks["agi"]["ok"] is False
    assert checks["database"] == {"ok": True, "dialect": "sqlite"}


def test_given_a_full_recording_disk_when_health_is_asked_then_it_is_degraded(client, settings, db):
    from hotline.alerts import raise_alert

    everything_running(settings)
    with db.unit_of_work() as session:
        raise_alert(session, "recording-disk-full", "Recording disk nearly full: 12 MB free")

    reply = client.get("/healthz")

    assert reply.status_code == 503
    recordings = reply.json()["checks"]["recordings"]
    assert recordings["ok"] is False
    assert recordings["alerts"] == ["recording-disk-full: Recording disk nearly full: 12 MB free"]


def test_given_every_part_running_when_health_is_asked_then_200_with_their_details(client, settings):
    everything_running(settings)

    reply = client.get("/healthz")

    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok"
    assert body["checks"]["asterisk"] == {"ok": True, "pid": os.getpid()}
    assert body["checks"]["ami"] == {"ok": True, "live_calls": 2}
    assert body["checks"]["seats"] == {"ok": True, "seats": 3}
    assert body["checks"]["agi"] == {"ok": True, "active_calls": 1}


def test_given_the_tracker_without_ami_when_health_is_asked_then_ami_is_not_ok(client, settings):
    everything_running(settings)
    write_status(settings.state_dir, "tracker", ami_connected=False)

    reply = client.get("/healthz")

    assert reply.status_code == 503
    assert reply.json()["checks"]["ami"]["ok"] is False
    assert reply.json()["checks"]["agi"]["ok"] is True


def test_given_a_stale_heartbeat_when_health_is_asked_then_that_part_counts_as_down(client, settings):
    everything_running(settings)
    heartbeat = status_dir(settings.state_dir) / "agi.json"
    data = json.loads(heartbeat.read_text())
    heartbeat.write_text(json.dumps({**data, "ts": data["ts"] - 3600}))

    reply = client.get("/healthz")

    assert reply.status_code == 503
    assert reply.json()["checks"]["agi"] == {"ok": False, "active_calls": None}


@pytest.mark.parametrize("content", ["", "not a pid", "2147483647"])
def test_given_a_pid_file_naming_no_live_process_when_health_is_asked_then_asterisk_is_down(
    client, settings, content
):
    everything_running(settings)
    (InstanceLayout.for_settings(settings).run / "asterisk.pid").write_text(content)
    write_status(settings.state_dir, "tracker", ami_connected=False, live_calls=0)

    reply = client.get("/healthz")

    assert reply.status_code == 503
    assert reply.json()["checks"]["asterisk"] == {"ok": False, "detail": "not running"}


def test_given_asterisk_in_another_container_when_ami_is_logged_in_then_asterisk_counts_as_up(
    client, settings
):
    everything_running(settings)
    (InstanceLayout.for_settings(settings).run / "asterisk.pid").unlink()

    reply = client.get("/healthz")

    assert reply.status_code == 200
    assert reply.json()["checks"]["asterisk"] == {"ok": True, "detail": "answering on AMI"}


# ----- /api/calls --------------------------------------------------------------------------------


def test_given_no_calls_when_listed_then_the_page_is_empty(client):
    reply = client.get("/api/calls")

    assert reply.status_code == 200
    assert reply.json() == {"total": 0, "offset": 0, "limit": 50, "calls": []}


def test_given_seven_calls_when_listed_in_pages_of_three_then_newest_come_first_and_all_are_reached(
    client, settings
):
    db = Database(settings.database_url)
    for i in range(7):
        add_call(db, f"1735691400.{i}", NEW_YEAR + timedelta(minutes=i))
    db.dispose()

    pages = [client.get("/api/calls", params={"limit": 3, "offset": offset}).json() for offset in (0, 3, 6)]

    assert [p["total"] for p in pages] == [7, 7, 7]
    assert [(p["offset"], p["limit"]) for p in pages] == [(0, 3), (3, 3), (6, 3)]
    assert [[c["uniqueid"] for c in p["calls"]] for p in pages] == [
        ["1735691400.6", "1735691400.5", "1735691400.4"],
        ["1735691400.3", "1735691400.2", "1735691400.1"],
        ["1735691400.0"],
    ]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}])
def test_given_a_page_out_of_bounds_when_listed_then_the_request_is_refused(client, params):
    assert client.get("/api/calls", params=params).status_code == 422


def test_given_a_finished_call_when_listed_then_every_field_is_shown_and_the_number_masked(client, settings):
    db = Database(settings.database_url)
    add_call(
        db,
        "1735691400.1",
        NEW_YEAR,
        answered_at=NEW_YEAR + timedelta(seconds=1),
        agent_connected_at=NEW_YEAR + timedelta(seconds=20),
        ended_at=NEW_YEAR + timedelta(seconds=95),
        ivr_path="greeting,queue",
        route="queue",
        queue="main",
        agent="seat2001",
        disposition=Disposition.ANSWERED,
    )
    db.dispose()

    reply = client.get("/api/calls")

    call = reply.json()["calls"][0]
    assert call["caller"] == "138****5678"
    assert "13812345678" not in reply.text
    assert call["ivr_path"] == ["greeting", "queue"]
    assert call["duration_seconds"] == 95
    assert call["disposition"] == "answered"
    assert (call["called_number"], call["trunk"], call["queue"], call["agent"], call["route"]) == (
        "12345",
        "carrier",
        "main",
        "seat2001",
        "queue",
    )
    assert datetime.fromisoformat(call["started_at"]) == NEW_YEAR


@pytest.mark.parametrize("number", ["110", "12345", "8613812345678", "+86 138-1234-5678", "075512345678"])
def test_given_any_caller_number_when_listed_then_the_full_number_never_appears(client, settings, number):
    db = Database(settings.database_url)
    add_call(db, "1735691400.1", NEW_YEAR, caller_number=number, called_number="")
    db.dispose()

    api = client.get("/api/calls")
    page = client.get("/")

    digits = "".join(ch for ch in number if ch.isdigit())
    assert digits not in api.json()["calls"][0]["caller"]
    assert digits not in page.text.replace("12345 政务服务便民热线", "")


def test_given_a_call_in_progress_when_listed_then_it_has_no_duration(client, settings):
    db = Database(settings.database_url)
    add_call(db, "1735691400.1", NEW_YEAR)
    db.dispose()

    call = client.get("/api/calls").json()["calls"][0]

    assert call["duration_seconds"] is None
    assert call["ended_at"] is None
    assert call["disposition"] == "in_progress"


# ----- the page ----------------------------------------------------------------------------------


def test_given_no_language_asked_when_the_page_is_shown_then_it_is_in_chinese(client):
    reply = client.get("/")

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in reply.text
    assert "最近来电" in reply.text
    assert "还没有来电。" in reply.text


def test_given_english_asked_when_the_page_is_shown_then_it_is_in_english(client, settings):
    db = Database(settings.database_url)
    add_call(db, "1735691400.1", NEW_YEAR, disposition=Disposition.ANSWERED)
    db.dispose()

    reply = client.get("/", params={"lang": "en"})

    assert '<html lang="en">' in reply.text
    assert "Recent calls" in reply.text
    assert "Answered" in reply.text
    assert "最近来电" not in reply.text


def test_given_an_unknown_language_asked_when_the_page_is_shown_then_the_site_language_is_used(
    tmp_path, db_url
):
    app = create_app(make_settings(tmp_path, db_url, language="en"))
    with TestClient(app) as english_site:
        logged_in_as(english_site, app.state.db, "zhang.wei", "supervisor")
        default = english_site.get("/")
        unknown = english_site.get("/", params={"lang": "fr"})
        chinese = english_site.get("/calls", params={"lang": "zh-CN"})
    app.state.db.dispose()

    assert "Recent calls" in default.text
    assert "Recent calls" in unknown.text
    assert "最近来电" in chinese.text


def test_given_a_call_at_half_past_midnight_utc_when_shown_then_the_time_is_in_the_site_zone(
    client, settings
):
    db = Database(settings.database_url)
    add_call(db, "1735691400.1", NEW_YEAR, ended_at=NEW_YEAR + timedelta(seconds=42))
    db.dispose()

    page = client.get("/").text

    assert "2025-01-01 08:30:00" in page
    assert "00:30:00" not in page
    assert "Asia/Shanghai" in page
    assert "138****5678" in page


def test_given_a_site_in_another_zone_when_shown_then_that_zone_is_used(tmp_path, db_url):
    app = create_app(make_settings(tmp_path, db_url, timezone="Asia/Urumqi"))
    db = Database(db_url)
    add_call(db, "1735691400.1", NEW_YEAR)
    db.dispose()
    with TestClient(app) as urumqi:
        logged_in_as(urumqi, app.state.db, "zhang.wei", "supervisor")
        page = urumqi.get("/").text
    app.state.db.dispose()

    assert "2025-01-01 06:30:00" in page


def test_given_caller_controlled_text_in_a_row_when_shown_then_it_is_escaped(client, settings):
    db = Database(settings.database_url)
    add_call(db, "1735691400.1", NEW_YEAR, called_number="<script>alert(1)</script>", ivr_path="<b>x</b>")
    db.dispose()

    page = client.get("/").text

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert "<b>x</b>" not in page


def test_given_more_than_one_page_of_calls_when_shown_then_next_and_previous_links_appear(client, settings):
    db = Database(settings.database_url)
    for i in range(51):
        add_call(db, f"1735691400.{i}", NEW_YEAR + timedelta(seconds=i))
    db.dispose()

    first = client.get("/", params={"lang": "en"}).text
    second = client.get("/", params={"lang": "en", "offset": 50}).text

    assert "offset=50" in first and "Next" in first and "Previous" not in first
    assert "Previous" in second and "Next" not in second
    assert second.count("data-uniqueid=") == 1


# ----- the API document --------------------------------------------------------------------------


def test_given_the_app_when_its_openapi_document_is_read_then_it_lists_health_and_calls(anonymous):
    document = anonymous.get("/openapi.json").json()

    assert "/healthz" in document["paths"]
    assert "/api/calls" in document["paths"]
    assert "/" not in document["paths"]
    assert document["info"]["title"] == "12345 Hotline Platform"


def test_given_each_role_when_the_header_is_drawn_then_it_links_only_pages_that_role_may_open() -> None:
    # agents_ui.nav reads each page's roles from its route; a link must never lead to a 403.
    from types import SimpleNamespace

    from agents_ui.accounts.models import Role
    from agents_ui.accounts.permissions import CurrentUser
    from agents_ui.app import create_app
    from agents_ui.i18n import translator
    from agents_ui.nav import PAGES, nav_links, page_roles
    from hotline.settings import Settings

    app = create_app(Settings())
    try:
        roles = page_roles(app)
        assert set(roles) == {path for path, _ in PAGES}, "a header page without a GET route"
        request = SimpleNamespace(app=app, url=SimpleNamespace(path="/cases"))

        def links(*held: Role) -> list[str]:
            user = CurrentUser(1, "u", "U", frozenset(held), None, None)  # type: ignore[arg-type]
            return [link["path"] for link in nav_links(request, user, translator("zh-CN"), "zh-CN")]  # type: ignore[arg-type]

        # /cases lets department staff in only to send them on to their portal: no link.
        assert links(Role.DEPARTMENT_STAFF) == ["/department"]
        assert "/admin/outbox" in links(Role.ADMINISTRATOR) and "/agent" not in links(Role.ADMINISTRATOR)
        assert links(Role.AGENT)[:2] == ["/agent", "/cases"]
        for path in links(Role.SUPERVISOR):
            assert Role.SUPERVISOR in roles[path]
    finally:
        app.state.db.dispose()


def test_given_a_login_with_nowhere_asked_for_then_each_role_lands_on_a_page_it_may_open() -> None:
    from agents_ui.accounts.models import Role
    from agents_ui.accounts.pages import home_of

    assert home_of(frozenset({Role.AGENT})) == "/"
    assert home_of(frozenset({Role.DEPARTMENT_STAFF})) == "/department"
    assert home_of(frozenset({Role.DUTY_LEADER})) == "/agent"
    assert home_of(frozenset({Role.DUTY_LEADER, Role.SUPERVISOR})) == "/"
