"""Self-service case status in the shipped flow: key the number, hear the stage; wrong, unknown
or hostile input gets its own prompt and another try, then an agent. The lookup is real
(``case_bridge.ivr_lookup`` on a migrated database), the caller is scripted."""

from __future__ import annotations

from pathlib import Path

import pytest

from asterisk_conf.layout import InstanceLayout
from case_bridge import catalogue, service
from case_bridge.ivr_lookup import CaseStatusLookup
from case_bridge.lifecycle import Party
from case_bridge.models import CaseSource
from case_bridge.timeline import Actor
from hotline.db import Database
from hotline.settings import IvrSettings, Settings
from ivr_flows.engine import FlowContext, FlowOutcome, run_flow
from ivr_flows.loader import load_flow
from ivr_flows.ports import CallerHungUp
from telephony.channel_vars import ROUTE_HANGUP, ROUTE_QUEUE
from tests.unit.fake_channel import HANG_UP, CallerAction, FakeChannel

LAYOUT = InstanceLayout(Path("/srv/hotline"), "main")


@pytest.fixture
def case_number(db: Database) -> str:
    settings = Settings()
    with db.unit_of_work() as session:
        catalogue.seed_defaults(session)
        case, _ = service.create_case(
            session,
            service.NewCase(source=CaseSource.PHONE, content="路灯不亮", category_code="street_light"),
            actor=Actor("agent1", Party.HOTLINE),
            settings=settings,
        )
        return case.number


async def self_service(db: Database, *caller: CallerAction) -> tuple[FakeChannel, FlowOutcome]:
    settings = Settings(ivr=IvrSettings(features=("self_service",)))
    flow = load_flow("default_12345", settings)
    context = FlowContext.from_settings(settings, layout=LAYOUT, cases=CaseStatusLookup(db))
    channel = FakeChannel(("1", *caller))
    return channel, await run_flow(flow, channel, context)


async def test_given_a_dispatched_case_when_its_number_is_keyed_then_the_caller_hears_it_is_being_handled(
    db: Database, case_number: str
) -> None:
    channel, outcome = await self_service(db, case_number, None)
    assert channel.prompts()[1:] == [
        "case_status_prompt",
        "case_status_handling",
        "case_status_more",
        "goodbye",
    ]
    assert (outcome.route, outcome.path[-2:]) == (ROUTE_HANGUP, ("self_service", "goodbye"))


async def test_given_a_status_heard_when_the_caller_presses_0_then_an_agent(
    db: Database, case_number: str
) -> None:
    _channel, outcome = await self_service(db, case_number, "0")
    assert (outcome.route, outcome.queue) == (ROUTE_QUEUE, "main")


@pytest.mark.parametrize(
    ("keyed", "prompt"),
    [
        ("12345", "case_number_invalid"),  # too short
        ("2026139900001", "case_number_invalid"),  # month 13
        ("*#*#*#", "case_number_invalid"),  # hostile keys are just wrong digits
        ("2026112199999", "case_not_found"),
        (None, "timeout"),
    ],
)
async def test_given_a_wrong_number_three_times_when_keyed_then_each_is_explained_and_an_agent_takes_over(
    db: Database, case_number: str, keyed: str | None, prompt: str
) -> None:
    channel, outcome = await self_service(db, keyed, keyed, keyed)
    assert channel.prompts()[1:] == ["case_status_prompt", prompt] * 3 + ["transferring"]
    assert (outcome.route, outcome.queue) == (ROUTE_QUEUE, "main")


async def test_given_a_mistake_then_the_right_number_when_keyed_then_the_status_is_heard(
    db: Database, case_number: str
) -> None:
    channel, _ = await self_service(db, "999", case_number, None)
    assert "case_status_handling" in channel.prompts()


async def test_given_the_caller_hangs_up_while_keying_then_the_flow_just_ends(
    db: Database, case_number: str
) -> None:
    with pytest.raises(CallerHungUp):  # the FastAGI server's signal that the call is gone
        await self_service(db, HANG_UP)


async def test_given_no_case_side_when_self_service_is_chosen_then_the_caller_is_told_and_queued() -> None:
    settings = Settings(ivr=IvrSettings(features=("self_service",)))
    channel = FakeChannel(("1",))
    outcome = await run_flow(
        load_flow("default_12345", settings), channel, FlowContext.from_settings(settings, layout=LAYOUT)
    )
    assert channel.prompts()[-1] == "self_service_unavailable"
    assert outcome.route == ROUTE_QUEUE
