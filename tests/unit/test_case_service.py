"""The case use cases on a real database: numbers, routing, deadlines, the lifecycle with its
timeline and outbox rows, idempotent creation, merging, and the deadline watch catching up.

``case_db`` is a migrated SQLite copy here; tests/integration/test_case_service_postgres.py runs
every test of this module again on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from case_bridge import catalogue, service
from case_bridge.lifecycle import CaseAction, CaseStatus, Party, TransitionRefused
from case_bridge.models import Case, CaseEvent, CaseSource, Department, OutboxMessage
from case_bridge.service import CaseInputError, NewCase, NotYourCase
from case_bridge.timeline import Actor
from case_bridge.timers import check_deadlines
from hotline.case_settings import CaseSettings, WebhookSettings
from hotline.db import Database
from hotline.settings import DatabaseSettings, Settings, SiteSettings

# Friday 2026-09-18 10:00 in Shanghai: the 9-day Mid-Autumn / National Day stretch lies ahead.
T0 = datetime(2026, 9, 18, 2, 0, tzinfo=UTC)
AGENT = Actor("agent1", Party.HOTLINE)
SUPERVISOR = Actor("lead1", Party.SUPERVISOR)


@pytest.fixture
def case_db(db: Database) -> Iterator[Database]:
    yield db


@pytest.fixture
def settings(tmp_path: Path, case_db: Database) -> Settings:
    return Settings(
        site=SiteSettings(state_dir=tmp_path / "state"),
        database=DatabaseSettings(url=case_db.url),
        cases=CaseSettings(
            webhooks=(WebhookSettings(name="grid", url="http://127.0.0.1:9/hook", secret="s" * 16),),
        ),
    )


@pytest.fixture
def session(case_db: Database) -> Iterator[Session]:
    with case_db.unit_of_work() as s:
        catalogue.seed_defaults(s)
        s.flush()
        yield s


def department(session: Session, code: str) -> Department:
    found = catalogue.department_by_code(session, code)
    assert found is not None
    return found


def staff_of(session: Session, code: str) -> Actor:
    return Actor(f"staff-{code}", Party.DEPARTMENT, frozenset({department(session, code).id}))


def new_case(**fields: object) -> NewCase:
    values: dict[str, object] = {
        "source": CaseSource.PHONE,
        "content": "人民路12号路灯不亮 street light out",
        "category_code": "street_light",
        "caller_number": "13812345678",
        "street": "人民路街道",
        "grid_cell": "E0102",
    }
    values.update(fields)
    return NewCase(**values)  # type: ignore[arg-type]


def timeline(session: Session, case: Case) -> list[str]:
    return list(
        session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    )


def local(moment: datetime | None) -> str:
    assert moment is not None
    return moment.astimezone(SiteSettings().zone).strftime("%Y-%m-%d %H:%M")


def test_given_cases_on_one_day_when_filed_then_numbers_are_the_date_and_a_count(
    session: Session, settings: Settings
) -> None:
    first, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    second, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    # 16:30 UTC on the 18th is 00:30 on the 19th in Shanghai: the local date decides.
    late, _ = service.create_case(
        session, new_case(), actor=AGENT, settings=settings, now=datetime(2026, 9, 18, 16, 30, tzinfo=UTC)
    )
    assert (first.number, second.number, late.number) == ("2026091800001", "2026091800002", "2026091900001")


def test_given_a_street_light_case_when_filed_then_it_is_routed_dispatched_and_given_working_day_deadlines(
    session: Session, settings: Settings
) -> None:
    case, created = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    assert created
    assert case.status == CaseStatus.DISPATCHED
    assert case.department_id == department(session, "city_management").id
    # 3 working days from Fri 18 Sep 2026: Sun 20 (a make-up day for National Day), Mon 21,
    # Tue 22 -> due at the end of the 22nd.
    assert local(case.due_at) == "2026-09-23 00:00"
    # Signing for within 1 working day: the end of the make-up Sunday.
    assert local(case.sign_due_at) == "2026-09-21 00:00"
    assert local(case.warn_at) == "2026-09-22 00:00"
    assert timeline(session, case) == ["intake", "file", "dispatch"]


def test_given_a_normal_case_across_national_day_when_dispatched_then_holidays_and_make_up_days_count_right(
    session: Session, settings: Settings
) -> None:
    # Complaint about wages, 15 working days, filed Wed 2026-09-30: Oct 1-7 are off, the
    # make-up Saturday Oct 10 counts.
    case, _ = service.create_case(
        session,
        new_case(category_code="unpaid_wages", content="拖欠工资三个月"),
        actor=AGENT,
        settings=settings,
        now=datetime(2026, 9, 30, 2, 0, tzinfo=UTC),
    )
    # Working days: Oct 8, 9, 10 (Sat, make-up), 12-16, 19-23, 26, 27 -> the 15th is Tue Oct 27.
    assert local(case.due_at) == "2026-10-28 00:00"
    assert case.department_id == department(session, "human_resources").id


def test_given_an_urgent_case_when_dispatched_then_its_limit_is_clock_hours(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(
        session,
        new_case(category_code="gas_leak", urgency="urgent", content="楼道里有燃气泄漏的味道"),
        actor=AGENT,
        settings=settings,
        now=T0,
    )
    assert case.due_at == T0 + timedelta(hours=2)
    assert case.department_id == department(session, "gas").id


def test_given_routing_rules_by_street_and_grid_when_filed_then_the_most_specific_wins(
    session: Session, settings: Settings
) -> None:
    by_street, _ = service.create_case(
        session, new_case(category_code="rubbish", street="东华街道", grid_cell="W01"), actor=AGENT,
        settings=settings, now=T0,
    )  # fmt: skip
    by_grid, _ = service.create_case(
        session, new_case(category_code="rubbish", street="", grid_cell="W0203"), actor=AGENT,
        settings=settings, now=T0,
    )  # fmt: skip
    nowhere, _ = service.create_case(
        session,
        new_case(category_code="rubbish", street="", grid_cell=""),
        actor=AGENT,
        settings=settings,
        now=T0,
    )
    # A rule for a parent category applies to its children (noise is under street order).
    noise, _ = service.create_case(
        session, new_case(category_code="noise", grid_cell="E77"), actor=AGENT, settings=settings, now=T0
    )
    assert by_street.department_id == department(session, "east_district").id
    assert by_grid.department_id == department(session, "west_district").id
    assert nowhere.department_id == department(session, "city_management").id
    assert noise.department_id == department(session, "east_district").id


def test_given_no_category_and_no_rule_when_filed_then_the_case_waits_for_the_dispatcher(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(
        session, new_case(category_code="", grid_cell=""), actor=AGENT, settings=settings, now=T0
    )
    assert (case.status, case.department_id, case.due_at) == (CaseStatus.FILED, None, None)
    with pytest.raises(TransitionRefused, match="no responsible department"):
        service.transition(session, case, CaseAction.DISPATCH, actor=AGENT, settings=settings)


def test_given_the_whole_lifecycle_when_walked_then_every_step_is_on_the_timeline_and_told(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    staff = staff_of(session, "city_management")
    service.sign_for(session, case, actor=staff, settings=settings, now=T0 + timedelta(hours=1))
    service.reply(session, case, "已更换灯泡", actor=staff, settings=settings, now=T0 + timedelta(hours=5))
    service.close_case(session, case, actor=AGENT, settings=settings, now=T0 + timedelta(hours=6))
    service.evaluate(session, case, "satisfied", actor=AGENT, settings=settings, now=T0 + timedelta(days=1))
    assert case.status == CaseStatus.EVALUATED
    assert case.signed_at == T0 + timedelta(hours=1)
    assert timeline(session, case) == [
        "intake", "file", "dispatch", "sign_for", "start_handling", "reply", "close", "evaluate",
    ]  # fmt: skip
    hooks = session.scalars(
        select(OutboxMessage.event).where(
            OutboxMessage.channel == "webhook", OutboxMessage.case_id == case.id
        )
    ).all()
    assert hooks == timeline(session, case)  # every event, once, to the one configured system
    citizen = session.scalars(
        select(OutboxMessage.recipient).where(OutboxMessage.channel == "sms", OutboxMessage.event == "close")
    ).all()
    assert citizen == ["13812345678"]


def test_given_a_wrong_department_when_it_returns_the_case_then_the_dispatcher_sends_it_elsewhere(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    city = staff_of(session, "city_management")
    with pytest.raises(TransitionRefused, match="reason is required"):
        service.return_case(session, case, " ", actor=city, settings=settings)
    service.return_case(session, case, "路灯属供电公司管养", actor=city, settings=settings, now=T0)
    assert (case.status, case.returns) == (CaseStatus.RETURNED, 1)
    later = T0 + timedelta(days=3)  # Mon 21 Sep
    service.dispatch_case(
        session, case, department(session, "power"), actor=AGENT, settings=settings, now=later
    )
    assert case.status == CaseStatus.DISPATCHED
    assert case.department_id == department(session, "power").id
    assert local(case.due_at) == "2026-09-25 00:00"  # the clock starts again: Tue, Wed, Thu
    with pytest.raises(NotYourCase):
        service.sign_for(session, case, actor=city, settings=settings)


def test_given_an_extension_request_when_approved_then_the_deadline_moves_by_working_days(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    staff = staff_of(session, "city_management")
    service.sign_for(session, case, actor=staff, settings=settings, now=T0)
    service.start_handling(session, case, actor=staff, settings=settings, now=T0)
    service.request_extension(session, case, 5, "需更换电缆", actor=staff, settings=settings, now=T0)
    with pytest.raises(TransitionRefused, match="already waiting"):
        service.request_extension(session, case, 2, "again", actor=staff, settings=settings)
    with pytest.raises(TransitionRefused, match="department side"):
        service.decide_extension(session, case, approve=True, actor=staff, settings=settings)
    service.decide_extension(session, case, approve=True, actor=SUPERVISOR, settings=settings, now=T0)
    # Due end of Tue 22 Sep + 5 working days: 23, 24, (25-27 Mid-Autumn off) 28, 29, 30 -> end of
    # Wed 30 Sep (Oct 1-7 are off anyway).
    assert local(case.due_at) == "2026-10-01 00:00"
    assert (case.extension_days, case.extensions_granted) == (0, 1)
    service.request_extension(session, case, 3, "材料未到", actor=staff, settings=settings, now=T0)
    service.decide_extension(
        session, case, approve=False, reason="不符合延期条件", actor=SUPERVISOR, settings=settings, now=T0
    )
    assert local(case.due_at) == "2026-10-01 00:00"
    assert timeline(session, case)[-4:] == [
        "request_extension", "approve_extension", "request_extension", "refuse_extension",
    ]  # fmt: skip


def test_given_an_unsatisfied_citizen_when_the_case_is_reopened_then_the_department_gets_it_again(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    staff = staff_of(session, "city_management")
    service.sign_for(session, case, actor=staff, settings=settings, now=T0)
    service.reply(session, case, "已修复", actor=staff, settings=settings, now=T0)
    service.close_case(session, case, actor=AGENT, settings=settings, now=T0)
    service.evaluate(session, case, "unsatisfied", actor=AGENT, settings=settings, now=T0)
    service.reopen(session, case, "路灯仍不亮", actor=Actor.system("survey"), settings=settings, now=T0)
    assert (case.status, case.reopens, case.closed_at, case.satisfaction) == (
        CaseStatus.DISPATCHED,
        1,
        None,
        "",
    )
    assert case.department_id == department(session, "city_management").id
    department_told = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.event == "reopen")
    )
    assert department_told == 1  # the webhook (the department has no SMS number or e-mail set)


def test_given_the_same_idempotency_key_when_created_twice_then_one_case(
    session: Session, settings: Settings
) -> None:
    first, made_first = service.create_case(
        session, new_case(idempotency_key="client-1:abc"), actor=AGENT, settings=settings, now=T0
    )
    again, made_again = service.create_case(
        session, new_case(idempotency_key="client-1:abc", content="different"), actor=AGENT, settings=settings
    )
    assert (made_first, made_again, again.id) == (True, False, first.id)
    assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_given_a_duplicate_when_merged_then_it_closes_into_the_open_case_with_its_calls(
    session: Session, settings: Settings
) -> None:
    original, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    repeat, _ = service.create_case(
        session,
        new_case(call_uniqueids=["1700000000.7"]),
        actor=AGENT,
        settings=settings,
        now=T0,
        dispatch=False,
    )
    service.merge_duplicate(session, repeat, original, actor=AGENT, settings=settings, now=T0)
    assert (repeat.status, repeat.merged_into_id) == (CaseStatus.MERGED, original.id)
    assert "merged_in" in timeline(session, original)
    with pytest.raises(CaseInputError):
        service.merge_duplicate(session, original, original, actor=AGENT, settings=settings)


def test_given_bad_input_when_filing_then_the_field_is_named_and_nothing_is_written(
    session: Session, settings: Settings
) -> None:
    for fields, field in (
        ({"content": "", "title": ""}, "content"),
        ({"category_code": "no_such"}, "category"),
        ({"urgency": "panic"}, "urgency"),
        ({"lat": 91.0}, "lat"),
        ({"content": "x" * 20_001}, "content"),
    ):
        with pytest.raises(CaseInputError, match=field):
            service.create_case(session, new_case(**fields), actor=AGENT, settings=settings, now=T0)
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    # Control characters are dropped, not stored.
    case, _ = service.create_case(
        session, new_case(content="路灯\x00坏了\x1b[31m"), actor=AGENT, settings=settings, now=T0
    )
    assert case.content == "路灯坏了[31m"


def test_given_the_timer_down_for_a_day_when_it_runs_again_then_every_missed_deadline_is_marked_once(
    session: Session, settings: Settings
) -> None:
    cases = [
        service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)[0],
        service.create_case(
            session,
            new_case(category_code="gas_leak", urgency="urgent"),
            actor=AGENT,
            settings=settings,
            now=T0,
        )[0],
    ]
    back = T0 + timedelta(days=7)  # nothing ran in between
    report = check_deadlines(session, settings, now=back)
    assert (report.overdue, report.sign_overdue, report.escalated, report.warned) == (2, 2, 2, 0)
    for case in cases:
        assert case.overdue_at == back
        assert case.supervised and case.supervision_reason == "overdue"
        assert timeline(session, case)[-3:] == ["overdue", "sign_overdue", "escalate"]
    again = check_deadlines(session, settings, now=back + timedelta(minutes=1))
    assert again.total == 0


def test_given_a_deadline_near_when_the_timer_runs_then_the_department_is_warned_once(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    service.sign_for(session, case, actor=staff_of(session, "city_management"), settings=settings, now=T0)
    assert case.warn_at is not None
    first = check_deadlines(session, settings, now=case.warn_at + timedelta(minutes=1))
    second = check_deadlines(session, settings, now=case.warn_at + timedelta(minutes=2))
    assert (first.warned, second.warned, first.overdue) == (1, 0, 0)
    assert timeline(session, case)[-1] == "deadline_warning"


def test_given_an_approved_extension_when_the_case_was_overdue_then_it_is_watched_afresh(
    session: Session, settings: Settings
) -> None:
    case, _ = service.create_case(session, new_case(), actor=AGENT, settings=settings, now=T0)
    staff = staff_of(session, "city_management")
    service.sign_for(session, case, actor=staff, settings=settings, now=T0)
    assert case.due_at is not None
    late = case.due_at + timedelta(hours=1)
    check_deadlines(session, settings, now=late)
    service.request_extension(session, case, 10, "等待配件", actor=staff, settings=settings, now=late)
    service.decide_extension(session, case, approve=True, actor=SUPERVISOR, settings=settings, now=late)
    assert case.overdue_at is None and case.due_at > late
    assert check_deadlines(session, settings, now=late + timedelta(minutes=1)).overdue == 0
