"""Case status by phone over a real call: a sipp caller keys a case number and # as RFC 4733
DTMF; the FastAGI flow looks the case up in the platform's database and the caller hears its
stage, then the goodbye. (Wrong, unknown and hostile numbers: tests/unit/test_case_status_by_phone.py.)"""

from __future__ import annotations

from pathlib import Path

from case_bridge import service
from case_bridge.lifecycle import Party
from case_bridge.models import CaseSource
from case_bridge.timeline import Actor
from tests.integration.harness import Platform, closed_rows_since, place_calls


def test_given_a_filed_case_when_a_caller_keys_its_number_then_they_hear_its_stage_and_goodbye(
    clean_platform: Platform, tmp_path: Path
) -> None:
    platform = clean_platform
    with platform.db.unit_of_work() as session:
        case, _ = service.create_case(
            session,
            service.NewCase(source=CaseSource.PHONE, content="路灯不亮", category_code="street_light"),
            actor=Actor("agent-it", Party.HOTLINE),
            settings=platform.settings,
        )
        number = case.number
    first = platform.last_call_id()
    # Keyed while the prompt plays (it can be interrupted); the platform hangs up after the
    # status, the offer of more (5 s without a key) and the goodbye.
    place_calls(
        platform, "selfservice", tmp_path / "caller", digits=f"{number}#", digits_at=1.5, talk_seconds=30
    )
    [row] = closed_rows_since(platform, first, timeout=40)
    assert row.ivr_path == "self_service,goodbye", row.ivr_path
    assert row.queue == "" and row.disposition == "ivr_only"
