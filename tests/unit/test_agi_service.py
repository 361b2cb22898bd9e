"""The IVR process's bookkeeping around a flow: voicemails kept, call rows put right."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from hotline.db import Database
from hotline.settings import load_settings
from ivr_flows.engine import FlowOutcome
from recording.models import Recording
from telephony.agi_service import FlowRunner, flow_name_of
from telephony.models import Call, Disposition

STARTED = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)


def runner(db: Database, tmp_path: Path) -> FlowRunner:
    config = tmp_path / "hotline.toml"
    config.write_text(f'[site]\nstate_dir = "{tmp_path}"\n', encoding="utf-8")
    return FlowRunner(load_settings(config, environ={}), db)


def closed_row(db: Database, uniqueid: str, disposition: Disposition) -> None:
    with db.unit_of_work() as session:
        session.add(
            Call(
                uniqueid=uniqueid,
                linkedid=uniqueid,
                channel="PJSIP/carrier-1",
                started_at=STARTED,
                ended_at=STARTED,
                disposition=disposition,
            )
        )


def test_given_a_row_closed_before_the_message_was_kept_when_kept_then_the_row_says_voicemail(db, tmp_path):
    closed_row(db, "main-1.1", Disposition.IVR_ONLY)
    outcome = FlowOutcome(
        route="hangup",
        queue=None,
        path=("after_hours", "leave_message"),
        variables={},
        voicemail_path=str(tmp_path / "main-1.1-leave_message.wav"),
    )

    runner(db, tmp_path)._keep_voicemail("main-1.1", outcome)

    with db.unit_of_work() as session:
        call = session.scalars(select(Call)).one()
        kept = session.scalars(select(Recording)).one()
    assert call.disposition == Disposition.VOICEMAIL
    assert call.ivr_path == "after_hours,leave_message"
    assert (kept.call_uniqueid, kept.format) == ("main-1.1", "wav")


def test_given_an_answered_row_when_a_message_is_kept_then_the_disposition_stays(db, tmp_path):
    closed_row(db, "main-1.2", Disposition.ANSWERED)
    outcome = FlowOutcome(
        route="hangup",
        queue=None,
        path=("vm",),
        variables={},
        voicemail_path=str(tmp_path / "main-1.2-vm.wav"),
    )
    runner(db, tmp_path)._keep_voicemail("main-1.2", outcome)
    with db.unit_of_work() as session:
        assert session.scalars(select(Call)).one().disposition == Disposition.ANSWERED


def test_given_an_agi_url_when_the_flow_is_chosen_then_unknown_names_get_the_default():
    flows = {"default_12345": object(), "menu": object()}
    assert flow_name_of("/menu", flows, "default_12345") == "menu"  # type: ignore[arg-type]
    assert flow_name_of("../etc/passwd", flows, "default_12345") == "default_12345"  # type: ignore[arg-type]
    assert flow_name_of("", flows, "default_12345") == "default_12345"  # type: ignore[arg-type]


def test_given_a_survey_answer_when_kept_then_its_row_is_a_survey_recording(db, tmp_path):
    from recording.models import Recording

    closed_row(db, "main-1.3", Disposition.ANSWERED)
    outcome = FlowOutcome(
        route="hangup",
        queue=None,
        path=("rate",),
        variables={},
        voicemail_path=str(tmp_path / "main-1.3-rate.wav"),
        voicemail_kind="survey",
    )
    runner(db, tmp_path)._keep_voicemail("main-1.3", outcome)
    with db.unit_of_work() as session:
        kept = session.scalars(select(Recording)).one()
        assert (kept.kind, kept.status) == ("survey", "stopped")  # the worker finishes it next
        assert session.scalars(select(Call)).one().disposition == Disposition.ANSWERED


def test_given_a_message_left_when_kept_then_it_becomes_one_filed_case_for_the_dispatcher(db, tmp_path):
    from case_bridge.models import Case, CaseCall

    closed_row(db, "main-1.3", Disposition.IVR_ONLY)
    with db.unit_of_work() as session:
        session.scalars(select(Call)).one().caller_number = "13912345678"
    outcome = FlowOutcome(
        route="hangup",
        queue=None,
        path=("after_hours", "leave_message"),
        variables={},
        voicemail_path=str(tmp_path / "main-1.3-leave_message.wav"),
    )
    flows = runner(db, tmp_path)
    flows._keep_voicemail("main-1.3", outcome)
    flows._keep_voicemail("main-1.3", outcome)  # told twice (a retry): still one case
    with db.unit_of_work() as session:
        case = session.scalars(select(Case)).one()
        linked = session.scalars(select(CaseCall.call_uniqueid)).all()
    assert (case.source, case.status, case.caller_number) == ("voicemail", "filed", "13912345678")
    assert linked == ["main-1.3"]


def test_given_a_survey_answer_when_kept_then_no_case_is_made(db, tmp_path):
    from case_bridge.models import Case

    outcome = FlowOutcome(
        route="hangup",
        queue=None,
        path=("survey",),
        variables={},
        voicemail_path=str(tmp_path / "main-1.4-survey.wav"),
        voicemail_kind="survey",
    )
    runner(db, tmp_path)._keep_voicemail("main-1.4", outcome)
    with db.unit_of_work() as session:
        assert session.scalars(select(Case)).all() == []
