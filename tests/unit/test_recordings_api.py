"""The recordings API and pages on a migrated SQLite database with real archive files.

Two teams: lead.a supervises agent.a (a web seat: calls hold "agent.a"), lead.b supervises agent.b
(a fixed seat 1002: calls hold "PJSIP/seat1002"). call.a was answered by agent.a, call.b by
agent.b. chief is an administrator; dept and duty hold roles that never hear recordings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from agents_ui.accounts import service, sessions
from agents_ui.accounts.models import AuditEntry, Role, User
from agents_ui.accounts.permissions import COOKIE
from agents_ui.app import create_app
from agents_ui.i18n import LANGUAGES, translator
from agents_ui.recordings_access import Grant, access_key, sign
from hotline.db import Database
from hotline.settings import AgentSettings, DatabaseSettings, RecordingSettings, Settings, SiteSettings
from recording import audio
from recording.models import AsrStatus, Recording, RecordingPause, RecordingStatus
from recording.pipeline import PEAK_BUCKETS, peaks_file
from tests.unit.accounts_support import ORIGIN
from tests.unit.test_recording_search import Said, add_recorded_call

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
RATE = 8000
REASON = "投诉核查 complaint 2025-031"


def tone(hz: float, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


@dataclass
class Site:
    app: FastAPI
    settings: Settings
    db: Database
    recordings: dict[str, int]
    clients: dict[str, TestClient] = field(default_factory=dict)

    def as_(self, username: str) -> TestClient:
        if username not in self.clients:
            self.clients[username] = logged_in(self.app, username)
        return self.clients[username]

    def audit(self, action_prefix: str = "recording.") -> list[AuditEntry]:
        with self.db.unit_of_work() as session:
            return list(
                session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.action.startswith(action_prefix))
                    .order_by(AuditEntry.id)
                )
            )

    def recording(self, name: str) -> Recording:
        with self.db.unit_of_work() as session:
            row = session.get(Recording, self.recordings[name])
            assert row is not None
            return row

    def change(self, name: str, **values: Any) -> None:
        with self.db.unit_of_work() as session:
            row = session.get(Recording, self.recordings[name])
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)

    def access(self, username: str, name: str, purpose: str = "listen", reason: str = REASON) -> Any:
        return self.as_(username).post(
            f"/api/recordings/{self.recordings[name]}/access", json={"purpose": purpose, "reason": reason}
        )

    def token(self, username: str, name: str, purpose: str = "listen") -> str:
        reply = self.access(username, name, purpose)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["token"])


def logged_in(app: FastAPI, username: str) -> TestClient:
    """A browser with a session minted in the database: no password hashing, the suite stays fast."""
    client = TestClient(app, headers={"origin": ORIGIN})
    with app.state.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        client.cookies.set(COOKIE, sessions.start(session, user=user, source_ip="testclient"))
    return client


def add_person(db: Database, username: str, role: Role, extension: str | None) -> int:
    with db.unit_of_work() as session:
        user = User(
            username=username,
            display_name=username.title(),
            password_hash="!",
            roles=role.value,
            extension=extension,
        )
        session.add(user)
        session.flush()
        return user.id


def archive(settings: Settings, uniqueid: str, fmt: audio.ArchiveFormat, *, legs_kept: bool = True) -> Path:
    """The files the recorder leaves (recording.pipeline): the archive (the mono mix, or for wav
    both legs apart) and, beside it, each leg's waveform. Returns the base path."""
    base = settings.state_dir / "recordings" / "2025" / "03" / "03" / uniqueid
    caller, agent = tone(440), tone(660, 1.0)
    if fmt == "wav":
        audio.write_archive(base, fmt, caller=caller, agent=agent, rate=RATE)
    else:
        audio.write_archive(base, fmt, caller=audio.mix_to_mono(caller, agent), agent=None, rate=RATE)
    if legs_kept:
        legs = {}
        # As long as each other: the agent's tone ends a third before the call does.
        for speaker, samples in zip(("caller", "agent"), audio.pad_legs(caller, agent), strict=True):
            leg = base.with_name(f"{base.name}-{speaker}.wav")
            sf.write(str(leg), samples, RATE, subtype="PCM_16")
            legs[speaker] = audio.peaks(leg, PEAK_BUCKETS)[0]
            leg.unlink()
        peaks_file(str(base)).write_text(json.dumps(legs), encoding="utf-8")
    return base


def build_site(tmp_path: Path, db_url: str, *, fmt: audio.ArchiveFormat = "opus", **options: Any) -> Site:
    settings = Settings(
        site=SiteSettings(state_dir=tmp_path / "state"),
        database=DatabaseSettings(url=db_url),
        recording=RecordingSettings(agents_hear_own=options.get("hear_own", True)),
        agents=AgentSettings(full_numbers_for_agents=options.get("full_numbers", True)),
    )
    app = create_app(settings)
    db: Database = app.state.db
    ids = {
        name: add_person(db, name, role, extension)
        for name, role, extension in [
            ("chief", Role.ADMINISTRATOR, None),
            ("lead.a", Role.SUPERVISOR, None),
            ("lead.b", Role.SUPERVISOR, None),
            ("agent.a", Role.AGENT, "1001"),
            ("agent.b", Role.AGENT, "1002"),
            ("dept", Role.DEPARTMENT_STAFF, None),
            ("duty", Role.DUTY_LEADER, "1009"),
        ]
    }
    recordings = {}
    with db.unit_of_work() as session:
        for team, members in (("A班", ("lead.a", "agent.a")), ("B班", ("lead.b", "agent.b"))):
            team_id = service.create_team(session, name=team).id
            for member in members:
                service.assign_team(session, user_id=ids[member], team_id=team_id, actor=service.CLI)
        for name, agent, caller, minute in (
            ("call.a", "agent.a", "13812345678", 0),
            ("call.b", "PJSIP/seat1002", "13987654321", 1),
        ):
            uniqueid = f"1740963600.{minute}"
            row = add_recorded_call(
                session,
                uniqueid,
                T0 + timedelta(minutes=minute),
                caller=caller,
                agent=agent,
                seconds=2,
                said=[Said("agent", "您好，12345热线", 0), Said("caller", "路灯坏了 street light", 800)],
                phrases=[("路灯", "street_light", False, 900), ("fire", "fire", True, 1200)],
            )
            base = archive(settings, uniqueid, fmt, legs_kept=options.get("legs_kept", True))
            row.path = str(base)
            row.archive_path = str(audio.archive_path(base, fmt))
            row.sha256 = audio.sha256_file(row.archive_path)
            row.archive_format = fmt
            row.duration_ms = 1500
            recordings[name] = row.id
        session.add(
            RecordingPause(
                call_uniqueid="1740963600.0",
                paused_at=T0 + timedelta(seconds=1),
                resumed_at=T0 + timedelta(seconds=1, milliseconds=400),
                paused_by="agent.a",
            )
        )
    return Site(app, settings, db, recordings)


@pytest.fixture
def make_site(tmp_path: Path, migrated_template: Path) -> Iterator[Callable[..., Site]]:
    """Sites with the options given (settings are fixed for an app's life), each its own database."""
    made: list[Site] = []

    def make(**options: Any) -> Site:
        folder = tmp_path / f"site{len(made)}"
        folder.mkdir()
        shutil.copyfile(migrated_template, folder / "hotline.db")
        site = build_site(folder, f"sqlite:///{folder / 'hotline.db'}", **options)
        made.append(site)
        return site

    yield make
    for site in made:
        for client in site.clients.values():
            client.close()
        site.db.dispose()


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()


def found(reply: Any) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [c["uniqueid"] for c in reply.json()["calls"]]


# ----- who finds which calls ---------------------------------------------------------------------


def test_given_a_supervisor_when_searching_then_only_their_teams_calls_with_full_numbers(site):
    reply = site.as_("lead.a").get("/api/recordings/search")

    assert found(reply) == ["1740963600.0"]
    [call] = reply.json()["calls"]
    assert call["caller"] == "13812345678" and call["caller_masked"] is False
    assert call["recording_id"] == site.recordings["call.a"]
    assert call["recording_status"] == "complete" and call["recording_seconds"] == 1.5
    assert [p["phrase"] for p in call["key_phrases"]] == ["fire", "路灯"]
    assert call["snippet"]["speaker"] == "agent"


def test_given_an_administrator_when_searching_then_every_call(site):
    assert found(site.as_("chief").get("/api/recordings/search")) == ["1740963600.1", "1740963600.0"]


def test_given_an_agent_when_searching_then_their_own_calls_with_the_number_as_the_site_says(make_site):
    full = make_site()
    reply = full.as_("agent.b").get("/api/recordings/search")
    assert found(reply) == ["1740963600.1"]
    assert reply.json()["calls"][0]["caller"] == "13987654321"

    masked = make_site(full_numbers=False)
    reply = masked.as_("agent.b").get("/api/recordings/search")
    assert reply.json()["calls"][0]["caller"] == "139****4321"
    assert reply.json()["calls"][0]["caller_masked"] is True


def test_given_a_username_when_searching_by_agent_then_every_seat_name_of_that_person_counts(site):
    chief = site.as_("chief")
    assert found(chief.get("/api/recordings/search", params={"agent": "agent.b"})) == ["1740963600.1"]
    assert found(chief.get("/api/recordings/search", params={"agent": "PJSIP/seat1002"})) == ["1740963600.1"]
    assert found(chief.get("/api/recordings/search", params={"agent": "nobody"})) == []


def test_given_words_and_a_number_when_searching_then_the_api_passes_them_on(site):
    chief = site.as_("chief")
    assert found(chief.get("/api/recordings/search", params={"words": "路灯"})) == [
        "1740963600.1",
        "1740963600.0",
    ]
    assert found(chief.get("/api/recordings/search", params={"number": "4321"})) == ["1740963600.1"]
    reply = chief.get("/api/recordings/search", params={"words": "street light"})
    snippet = reply.json()["calls"][0]["snippet"]
    assert snippet["text"][snippet["match"][0] : snippet["match"][1]] == "street light"


def test_given_local_dates_when_searching_then_they_are_read_in_the_site_zone(site):
    chief = site.as_("chief")
    # 09:00:30 Beijing is 01:00:30 UTC: between the two calls.
    assert found(chief.get("/api/recordings/search", params={"since": "2025-03-03T09:00:30"})) == [
        "1740963600.1"
    ]
    assert found(chief.get("/api/recordings/search", params={"until": "2025-03-03T01:00:30+00:00"})) == [
        "1740963600.0"
    ]


def test_given_pages_when_following_next_cursor_then_every_call_once(site):
    chief = site.as_("chief")
    first = chief.get("/api/recordings/search", params={"limit": 1}).json()
    second = chief.get("/api/recordings/search", params={"limit": 1, "cursor": first["next_cursor"]}).json()

    assert first["has_more"] is True and second["has_more"] is False and second["next_cursor"] is None
    assert [c["uniqueid"] for c in first["calls"] + second["calls"]] == ["1740963600.1", "1740963600.0"]


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "1-0"},
        {"cursor": "x"},
        {"number": "12"},
        {"number": "13%"},
        {"limit": 0},
        {"limit": 201},
        {"words": ""},
        {"words": "a\x00b"},
        {"min_seconds": -1},
        {"disposition": "lost"},
        {"since": "0001-01-01T00:00:00"},
    ],
)
def test_given_a_bad_filter_when_searching_then_422(site, params):
    assert site.as_("chief").get("/api/recordings/search", params=params).status_code == 422


@pytest.mark.parametrize("username", ["dept", "duty"])
def test_given_a_role_that_never_hears_recordings_when_searching_then_403_on_the_audit_log(site, username):
    reply = site.as_(username).get("/api/recordings/search")

    assert reply.status_code == 403
    assert reply.json() == {"detail": "your role may not search or hear call recordings"}
    [entry] = site.audit()
    assert (entry.actor, entry.action, entry.outcome, entry.target) == (
        username,
        "recording.search",
        "refused",
        "recordings",
    )


def test_given_agents_may_not_hear_when_an_agent_searches_or_opens_then_403_on_the_audit_log(make_site):
    site = make_site(hear_own=False)
    agent = site.as_("agent.a")
    own = site.recordings["call.a"]

    search = agent.get("/api/recordings/search")
    detail = agent.get(f"/api/recordings/{own}")
    access = site.access("agent.a", "call.a")

    for reply in (search, detail, access):
        assert reply.status_code == 403
        assert "recording.agents_hear_own is off" in reply.json()["detail"]
    assert [(e.action, e.outcome) for e in site.audit()] == [
        ("recording.search", "refused"),
        ("recording.listen", "refused"),
        ("recording.listen", "refused"),
    ]
    # A supervisor is not an agent: the setting does not touch them.
    assert site.access("lead.a", "call.a").status_code == 200


# ----- one recording -----------------------------------------------------------------------------


def test_given_a_supervisor_when_opening_a_team_call_then_status_integrity_transcript_and_pauses(site):
    reply = site.as_("lead.a").get(f"/api/recordings/{site.recordings['call.a']}")

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "complete" and body["playable"] is True and body["unplayable"] == ""
    assert body["integrity"] == "ok"
    assert body["channels"] == ["caller", "agent"]
    assert body["archive_format"] == "opus" and len(body["sha256"]) == 64
    assert body["peaks_url"] == f"/api/recordings/{site.recordings['call.a']}/peaks"
    assert body["call"]["caller"] == "13812345678" and body["call"]["agent"] == "agent.a"
    assert [(s["speaker"], s["start_ms"], s["text"]) for s in body["transcript"]["segments"]] == [
        ("agent", 0, "您好，12345热线"),
        ("caller", 800, "路灯坏了 street light"),
    ]
    assert [(k["phrase"], k["urgent"], k["start_ms"]) for k in body["key_phrases"]] == [
        ("路灯", False, 900),
        ("fire", True, 1200),
    ]
    [pause] = body["pauses"]
    assert (pause["start_ms"], pause["end_ms"], pause["paused_by"]) == (1000, 1400, "agent.a")
    assert site.audit() == []  # reading the page data is not listening


@pytest.mark.parametrize(
    ("username", "why"),
    [
        ("lead.b", "this call was not answered in your team"),
        ("agent.b", "you may only hear the calls you answered"),
        ("dept", "your role may not search or hear call recordings"),
    ],
)
def test_given_someone_else_when_opening_a_call_then_403_with_why_on_the_audit_log(site, username, why):
    recording = site.recordings["call.a"]

    reply = site.as_(username).get(f"/api/recordings/{recording}")

    assert reply.status_code == 403
    assert reply.json() == {"detail": why}
    [entry] = site.audit()
    assert (entry.actor, entry.action, entry.outcome, entry.detail) == (
        username,
        "recording.listen",
        "refused",
        why,
    )
    expected_target = f"recording:{recording}" + ("" if username == "dept" else " call:1740963600.0")
    assert entry.target == expected_target
    assert entry.source_ip == "testclient"


def test_given_no_such_recording_when_opened_then_404(site):
    assert site.as_("chief").get("/api/recordings/999999").status_code == 404


def test_given_an_altered_or_missing_archive_when_opened_then_integrity_says_so(site):
    path = Path(site.recording("call.a").archive_path)
    path.write_bytes(path.read_bytes() + b"tampered")
    assert (
        site.as_("chief").get(f"/api/recordings/{site.recordings['call.a']}").json()["integrity"] == "altered"
    )

    path.unlink()
    body = site.as_("chief").get(f"/api/recordings/{site.recordings['call.a']}").json()
    assert body["integrity"] == "missing"
    assert body["playable"] is False and "missing" in body["unplayable"] and body["channels"] == []


def test_given_a_deleted_recording_when_opened_then_its_trace_shows_and_nothing_can_be_heard(site):
    site.change(
        "call.a",
        status=RecordingStatus.DELETED,
        deleted_at=T0 + timedelta(days=730),
        failure_reason="deleted by retention: call recordings are kept 730 days",
    )
    chief = site.as_("chief")
    recording = site.recordings["call.a"]

    body = chief.get(f"/api/recordings/{recording}").json()
    access = site.access("chief", "call.a")
    peaks = chief.get(f"/api/recordings/{recording}/peaks")

    assert body["status"] == "deleted" and body["playable"] is False and body["integrity"] == "none"
    assert body["unplayable"] == (
        "the recording was deleted (2027-03-03): deleted by retention: call recordings are kept 730 days"
    )
    assert access.status_code == 410 and access.json()["detail"] == body["unplayable"]
    assert peaks.status_code == 410
    assert site.audit() == []  # refused for want of audio, not of rights: no reason was logged


@pytest.mark.parametrize(
    ("status", "reason", "says"),
    [
        (RecordingStatus.FAILED, "disk full", "nothing was recorded: disk full"),
        (RecordingStatus.DAMAGED, "no RIFF header", "the recording is damaged: no RIFF header"),
        (RecordingStatus.STOPPED, "", "the recording is still being finished: try again in a minute"),
    ],
)
def test_given_a_recording_without_audio_when_access_is_asked_then_404_says_why(site, status, reason, says):
    site.change("call.a", status=status, failure_reason=reason)

    reply = site.access("chief", "call.a")

    assert reply.status_code == 404
    assert reply.json() == {"detail": says}


# ----- asking to listen, and the audio -----------------------------------------------------------


def test_given_a_reason_when_access_is_asked_then_the_listen_is_audited_and_a_token_given(site):
    before = time.time()
    reply = site.access("lead.a", "call.a")

    assert reply.status_code == 200, reply.text
    body = reply.json()
    recording = site.recordings["call.a"]
    assert body["purpose"] == "listen"
    assert body["url"] == f"/api/recordings/{recording}/audio?token={body['token']}"
    expires = datetime.fromisoformat(body["expires_at"]).timestamp()
    assert before + 590 <= expires <= time.time() + 610
    [entry] = site.audit()
    assert (entry.actor, entry.action, entry.outcome, entry.detail, entry.source_ip) == (
        "lead.a",
        "recording.listen",
        "ok",
        REASON,
        "testclient",
    )
    assert entry.target == f"recording:{recording} call:1740963600.0"


@pytest.mark.parametrize("reason", ["", "   ", "abc", "  ab  ", "x" * 201, "a\x00bcd"])
def test_given_no_real_reason_when_access_is_asked_then_422_and_nothing_audited(site, reason):
    assert site.access("lead.a", "call.a", reason=reason).status_code == 422
    assert site.audit() == []


def test_given_a_listen_token_when_the_audio_is_fetched_whole_then_200_with_the_archive(site):
    token = site.token("lead.a", "call.a")
    path = Path(site.recording("call.a").archive_path)

    reply = site.as_("lead.a").get(
        f"/api/recordings/{site.recordings['call.a']}/audio", params={"token": token}
    )

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "audio/ogg"
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["cache-control"] == "private, no-store"
    assert "content-disposition" not in reply.headers
    assert reply.content == path.read_bytes()


def test_given_a_range_when_the_audio_is_fetched_then_206_with_exactly_those_bytes(site):
    token = site.token("lead.a", "call.a")
    data = Path(site.recording("call.a").archive_path).read_bytes()
    url = f"/api/recordings/{site.recordings['call.a']}/audio"
    client = site.as_("lead.a")

    head = client.get(url, params={"token": token}, headers={"Range": "bytes=0-99"})
    tail = client.get(url, params={"token": token}, headers={"Range": "bytes=100-"})
    last = client.get(url, params={"token": token}, headers={"Range": "bytes=-10"})

    assert head.status_code == 206
    assert head.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert head.content == data[:100]
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    assert tail.content == data[100:]
    assert last.status_code == 206 and last.content == data[-10:]


def test_given_a_range_beyond_the_end_when_the_audio_is_fetched_then_416(site):
    token = site.token("lead.a", "call.a")
    size = Path(site.recording("call.a").archive_path).stat().st_size

    reply = site.as_("lead.a").get(
        f"/api/recordings/{site.recordings['call.a']}/audio",
        params={"token": token},
        headers={"Range": f"bytes={size}-"},
    )

    assert reply.status_code == 416
    assert reply.headers["content-range"] == f"bytes */{size}"


def test_given_a_download_token_when_the_audio_is_fetched_then_an_attachment_audited_as_download(site):
    token = site.token("chief", "call.b", purpose="download")

    reply = site.as_("chief").get(
        f"/api/recordings/{site.recordings['call.b']}/audio", params={"token": token}
    )

    assert reply.status_code == 200
    assert reply.headers["content-disposition"] == 'attachment; filename="call-1740963600.1.opus"'
    assert [(e.action, e.outcome, e.detail) for e in site.audit()] == [("recording.download", "ok", REASON)]


def _audio(site: Site, username: str, name: str, token: str) -> Any:
    return site.as_(username).get(f"/api/recordings/{site.recordings[name]}/audio", params={"token": token})


def test_given_a_token_of_another_user_when_the_audio_is_fetched_then_403_audited(site):
    token = site.token("chief", "call.a")

    reply = _audio(site, "lead.a", "call.a", token)

    assert reply.status_code == 403
    assert reply.json() == {"detail": "the access token was given to another user"}
    assert [(e.actor, e.action, e.outcome) for e in site.audit()][-1] == (
        "lead.a",
        "recording.listen",
        "refused",
    )


def test_given_a_token_for_another_recording_when_the_audio_is_fetched_then_403(site):
    token = site.token("chief", "call.b")

    reply = _audio(site, "chief", "call.a", token)

    assert reply.status_code == 403
    assert reply.json() == {"detail": "the access token is for another recording"}


def test_given_a_tampered_token_when_the_audio_is_fetched_then_403(site):
    token = site.token("lead.a", "call.a")
    owner, recording, _purpose, expires, signature = token.split(".")
    chief_id = _user_id(site, "chief")

    for forged in (
        f"{owner}.{recording}.download.{expires}.{signature}",  # purpose changed
        f"{owner}.{recording}.listen.{int(expires) + 3600}.{signature}",  # lifetime stretched
        f"{chief_id}.{recording}.listen.{expires}.{signature}",  # someone else's name on it
        f"{owner}.{recording}.listen.{expires}.{'A' * 43}",  # made up
    ):
        reply = _audio(site, "chief" if forged.startswith(f"{chief_id}.") else "lead.a", "call.a", forged)
        assert reply.status_code == 403, forged
        assert reply.json() == {"detail": "the access token is not valid"}
    assert [e.outcome for e in site.audit()] == ["ok", "refused", "refused", "refused", "refused"]
    assert [e.action for e in site.audit()][1] == "recording.download"  # as the token claimed


def _user_id(site: Site, username: str) -> int:
    with site.db.unit_of_work() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        return user_id


def test_given_an_expired_token_when_the_audio_is_fetched_then_403_asks_for_the_reason_again(site):
    recording = site.recordings["call.a"]
    grant = Grant(_user_id(site, "lead.a"), recording, "listen", int(time.time()) - 1)
    token = sign(access_key(site.settings), grant)

    reply = _audio(site, "lead.a", "call.a", token)

    assert reply.status_code == 403
    assert reply.json() == {"detail": "the access token has expired: give the reason again to get a new one"}


def test_given_a_token_and_then_a_team_change_when_the_audio_is_fetched_then_the_rights_of_now_count(site):
    token = site.token("lead.a", "call.a")
    with site.db.unit_of_work() as session:
        team_b = session.scalar(select(User.team_id).where(User.username == "lead.b"))
        service.assign_team(session, user_id=_user_id(site, "lead.a"), team_id=team_b, actor=service.CLI)

    reply = _audio(site, "lead.a", "call.a", token)

    assert reply.status_code == 403
    assert reply.json() == {"detail": "this call was not answered in your team"}


def test_given_an_agent_when_hearing_their_own_call_or_another_then_own_only(site):
    assert site.access("agent.a", "call.a").status_code == 200
    refused = site.access("agent.a", "call.b")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "you may only hear the calls you answered"}
    assert _audio(site, "agent.a", "call.a", site.token("agent.a", "call.a")).status_code == 200


def test_given_the_secret_when_a_second_process_starts_then_it_accepts_the_first_ones_tokens(site, tmp_path):
    token = site.token("chief", "call.a")
    other = create_app(site.settings)
    try:
        with logged_in(other, "chief") as client:
            reply = client.get(f"/api/recordings/{site.recordings['call.a']}/audio", params={"token": token})
        assert reply.status_code == 200
    finally:
        other.state.db.dispose()
    secret = site.settings.state_dir / "secrets" / "recording-access.secret"
    assert secret.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("fmt", "first"), [("gsm", b"RIFF"), ("wav", b"RIFF")])
def test_given_a_gsm_or_wav_archive_when_heard_then_a_wav_the_browser_plays(make_site, fmt, first):
    site = make_site(fmt=fmt)
    token = site.token("chief", "call.a")

    reply = _audio(site, "chief", "call.a", token)

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "audio/wav"
    assert reply.content[:4] == first
    listening = list((site.settings.state_dir / "cache" / "listening").glob("*.wav"))
    if fmt == "gsm":
        # Decoded once to PCM (GSM 6.10 is format 0x31, PCM is 1) and kept for the next request.
        assert int.from_bytes(reply.content[20:22], "little") == 1
        [copy] = listening
        assert reply.content == copy.read_bytes()
        mtime = copy.stat().st_mtime_ns
        assert _audio(site, "chief", "call.a", token).status_code == 200
        assert copy.stat().st_mtime_ns == mtime
    else:
        assert listening == []
        assert reply.content == Path(site.recording("call.a").archive_path).read_bytes()


# ----- the waveform ------------------------------------------------------------------------------


def test_given_a_recording_when_its_peaks_are_asked_then_both_legs_and_an_etag_for_a_304(site):
    # The archive holds the mix; the legs' waveforms are the ones the recorder kept beside it.
    url = f"/api/recordings/{site.recordings['call.a']}/peaks"
    client = site.as_("lead.a")

    reply = client.get(url, params={"buckets": 100})

    assert reply.status_code == 200
    body = reply.json()
    assert body["channels"] == ["caller", "agent"]
    assert [len(p) for p in body["peaks"]] == [100, 100]
    # The agent's tone stops after 1.0 of the 1.5 seconds: its last third is silent.
    assert max(body["peaks"][0][-20:]) > 0.1 and max(body["peaks"][1][-20:]) < 0.01
    etag = reply.headers["etag"]
    assert "max-age" in reply.headers["cache-control"]
    again = client.get(url, params={"buckets": 100}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert len(client.get(url).json()["peaks"][0]) == PEAK_BUCKETS  # never more than were kept
    assert client.get(url, params={"buckets": 10}).status_code == 422


@pytest.mark.parametrize(("fmt", "lines"), [("wav", ["caller", "agent"]), ("opus", ["mix"])])
def test_given_no_legs_kept_when_the_peaks_are_asked_then_the_archive_is_read_once(make_site, fmt, lines):
    site = make_site(fmt=fmt, legs_kept=False)
    client = site.as_("chief")
    url = f"/api/recordings/{site.recordings['call.a']}/peaks"

    body = client.get(url, params={"buckets": 60}).json()

    assert body["channels"] == lines and [len(p) for p in body["peaks"]] == [60] * len(lines)
    assert client.get(f"/api/recordings/{site.recordings['call.a']}").json()["channels"] == lines
    [cached] = (site.settings.state_dir / "cache" / "peaks").glob("*.json")
    assert client.get(url, params={"buckets": 60}).json() == body
    assert cached.exists()


def test_given_another_teams_call_when_its_peaks_are_asked_then_403(site):
    assert site.as_("lead.b").get(f"/api/recordings/{site.recordings['call.a']}/peaks").status_code == 403


# ----- the pages ---------------------------------------------------------------------------------


def test_given_a_supervisor_when_opening_the_pages_then_frames_in_chinese_or_english(site):
    client = site.as_("lead.a")
    recording = site.recordings["call.a"]

    search = client.get("/recordings")
    english = client.get("/recordings", params={"lang": "en"})
    call = client.get(f"/recordings/{recording}")

    assert search.status_code == 200
    assert '<html lang="zh-CN">' in search.text and "<title>录音查询 · " in search.text
    assert 'id="search-form"' in search.text and "/static/recordings/search.js" in search.text
    assert "<title>Recordings · " in english.text
    assert call.status_code == 200
    assert f'data-recording-id="{recording}"' in call.text and "/static/recordings/call.js" in call.text
    assert "来电人" in call.text and "坐席" in call.text
    words = json.loads(
        call.text.split('<script type="application/json" id="words">')[1].split("</script>")[0]
    )
    assert words["r_caller_leg"] == "来电人" and words["answered"] == "已接听"
    assert "<script>" not in call.text and "<script>" not in search.text  # no inline scripts


def test_given_a_role_that_never_hears_recordings_when_opening_the_pages_then_403(site):
    assert site.as_("dept").get("/recordings").status_code == 403
    assert site.as_("dept").get(f"/recordings/{site.recordings['call.a']}").status_code == 403


def test_given_nobody_logged_in_when_opening_the_pages_then_the_login_page(site):
    with TestClient(site.app) as anonymous:
        reply = anonymous.get("/recordings/1", follow_redirects=False)
        api = anonymous.get("/api/recordings/search")
    assert reply.status_code == 303 and reply.headers["location"] == "/login?next=/recordings/1"
    assert api.status_code == 401


def test_given_every_state_a_recording_can_be_in_then_both_languages_name_it():
    keys = [f"r_status_{s.value}" for s in RecordingStatus] + [f"r_asr_{s.value}" for s in AsrStatus]
    keys += [f"r_integrity_{state}" for state in ("ok", "missing", "altered", "none")]
    for language in LANGUAGES:
        words = translator(language)
        assert [key for key in keys if not words.get(key)] == [], language


@pytest.mark.parametrize("script", ["common.js", "search.js", "call.js"])
def test_given_the_pages_scripts_then_node_reads_them_as_valid_modules(script):
    node = shutil.which("node")
    assert node, "node is installed by scripts/bootstrap.sh"
    path = Path(__file__).resolve().parents[2] / "agents_ui" / "static" / "recordings" / script
    checked = subprocess.run(
        [node, "--check", "--input-type=module"],
        input=path.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
