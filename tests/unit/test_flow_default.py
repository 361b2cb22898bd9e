"""The shipped 12345 flow, call by call: greet and queue in hours, a message out of hours."""

from collections.abc import Coroutine
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from asterisk_conf.layout import InstanceLayout
from hotline.settings import BusinessHoursSettings, IvrSettings, Settings
from ivr_flows.engine import FlowContext, FlowOutcome, run_flow
from ivr_flows.loader import load_flow
from ivr_flows.ports import CallerHungUp
from telephony.channel_vars import ROUTE_HANGUP, ROUTE_QUEUE
from tests.unit.fake_channel import HANG_UP, CallerAction, FakeChannel

SHANGHAI = ZoneInfo("Asia/Shanghai")
LAYOUT = InstanceLayout(Path("/srv/hotline"), "main")
OFFICE_HOURS = BusinessHoursSettings(
    always_open=False,
    open_at=time(8, 30),
    close_at=time(17, 30),
    holidays=(date(2025, 10, 1), date(2025, 10, 2)),
    workdays=(date(2025, 9, 28),),  # a Sunday worked instead (调休)
)
WEDNESDAY_MORNING = datetime(2025, 9, 24, 10, 0, tzinfo=SHANGHAI)
WEDNESDAY_NIGHT = datetime(2025, 9, 24, 21, 0, tzinfo=SHANGHAI)


def call(
    *caller: CallerAction,
    moment: datetime = WEDNESDAY_MORNING,
    features: tuple[str, ...] = (),
    hours: BusinessHoursSettings = OFFICE_HOURS,
    hang_up_during: str | None = None,
) -> tuple[FakeChannel, Coroutine[Any, Any, FlowOutcome]]:
    settings = Settings(business_hours=hours, ivr=IvrSettings(features=features))
    flow = load_flow("default_12345", settings)
    context = FlowContext.from_settings(settings, layout=LAYOUT, now=lambda: moment)
    channel = FakeChannel(caller, hang_up_during=hang_up_during)
    return channel, run_flow(flow, channel, context)


async def test_given_a_7x24_hotline_when_a_citizen_calls_then_one_short_greeting_and_the_main_queue() -> None:
    channel, running = call(hours=BusinessHoursSettings())
    outcome = await running
    assert (outcome.route, outcome.queue, outcome.reason) == (ROUTE_QUEUE, "main", None)
    assert outcome.path == ("office_hours", "greeting", "to_agent")
    assert channel.calls == [("answer",), ("play", "/srv/hotline/prompts/zh-CN/welcome", "")]


async def test_given_office_hours_when_called_then_queued() -> None:
    _channel, running = call()
    outcome = await running
    assert outcome.path == ("office_hours", "greeting", "to_agent")
    assert outcome.queue == "main"


async def test_given_self_service_off_when_the_caller_presses_1_anyway_then_still_queued() -> None:
    channel, running = call("1")
    outcome = await running
    assert outcome.path == ("office_hours", "greeting", "to_agent")
    # The key is neither offered nor listened for, and the offer is not played.
    assert channel.calls[1] == ("play", "/srv/hotline/prompts/zh-CN/welcome", "")
    assert channel.prompts() == ["welcome"]


async def test_given_self_service_on_when_the_caller_presses_1_during_the_greeting_then_self_service() -> (
    None
):
    channel, running = call("1", features=("self_service",))
    outcome = await running
    assert outcome.path == ("office_hours", "greeting", "self_service", "to_agent")
    assert channel.calls[1] == ("play", "/srv/hotline/prompts/zh-CN/welcome", "1")
    # The placeholder says self-service is not there yet and hands over to an agent.
    assert channel.prompts() == ["welcome", "self_service_unavailable"]
    assert (outcome.route, outcome.queue, outcome.reason) == (ROUTE_QUEUE, "main", None)


async def test_given_self_service_on_when_the_caller_presses_1_after_the_offer_then_self_service() -> None:
    channel, running = call("", "1", features=("self_service",))
    outcome = await running
    assert outcome.path == ("office_hours", "greeting", "self_service", "to_agent")
    assert channel.calls[2] == ("read_digits", "/srv/hotline/prompts/zh-CN/self_service_offer", 2000, 1)


async def test_given_self_service_on_when_the_caller_waits_then_queued_after_the_offer() -> None:
    channel, running = call(features=("self_service",))
    outcome = await running
    assert outcome.path == ("office_hours", "greeting", "to_agent")
    assert channel.prompts() == ["welcome", "self_service_offer"]


@pytest.mark.parametrize("pressed", ["2", "*", "#", "11", "A", "1\n", "x" * 5000])
async def test_given_self_service_on_when_another_key_is_pressed_then_queued(pressed: str) -> None:
    _channel, running = call(pressed, features=("self_service",))
    outcome = await running
    assert outcome.path[-1] == "to_agent" and "self_service" not in outcome.path
    assert outcome.queue == "main"


async def test_given_a_weekday_evening_when_called_then_a_message_is_recorded_and_the_call_ends() -> None:
    channel, running = call(moment=WEDNESDAY_NIGHT)
    outcome = await running
    assert outcome.path == ("office_hours", "after_hours", "leave_message", "goodbye")
    assert (outcome.route, outcome.queue) == (ROUTE_HANGUP, None)
    assert channel.prompts() == ["after_hours", "voicemail_beep_hint", "goodbye"]
    recording = "/srv/hotline/voicemail/1700000000.42-leave_message"
    assert ("record", recording, "wav", 120, 5) in channel.calls
    assert outcome.voicemail_path == recording + ".wav"


async def test_given_a_utc_clock_when_it_is_evening_in_shanghai_then_after_hours() -> None:
    # 13:00 UTC is 21:00 in Shanghai.
    _channel, running = call(moment=datetime(2025, 9, 24, 13, 0, tzinfo=ZoneInfo("UTC")))
    assert (await running).path[1] == "after_hours"


async def test_given_a_public_holiday_when_called_then_the_holiday_notice_and_a_message() -> None:
    channel, running = call(moment=datetime(2025, 10, 1, 10, 0, tzinfo=SHANGHAI))
    outcome = await running
    assert outcome.path == ("office_hours", "holiday_notice", "leave_message", "goodbye")
    assert channel.prompts()[0] == "holiday"


async def test_given_a_make_up_working_sunday_when_called_in_hours_then_queued() -> None:
    _channel, running = call(moment=datetime(2025, 9, 28, 10, 0, tzinfo=SHANGHAI))
    assert (await running).path == ("office_hours", "greeting", "to_agent")


async def test_given_an_ordinary_sunday_when_called_then_after_hours() -> None:
    _channel, running = call(moment=datetime(2025, 9, 21, 10, 0, tzinfo=SHANGHAI))
    assert (await running).path[1] == "after_hours"


async def test_given_after_hours_when_the_caller_hangs_up_while_recording_then_the_message_is_kept() -> None:
    channel, running = call(moment=WEDNESDAY_NIGHT, hang_up_during="record")
    outcome = await running
    # Hanging up is how most callers end a message: it is kept, and nothing more is sent.
    assert outcome.voicemail_path is not None and outcome.route == "hangup"
    assert channel.calls[-1][0] == "record"
    assert "goodbye" not in channel.prompts()


async def test_given_the_greeting_when_the_caller_hangs_up_then_the_hang_up_propagates() -> None:
    channel, running = call(hang_up_during="welcome")
    with pytest.raises(CallerHungUp):
        await running
    assert [c[0] for c in channel.calls] == ["answer", "play"]


async def test_given_self_service_on_when_the_caller_hangs_up_while_it_is_offered_then_propagates() -> None:
    channel, running = call(HANG_UP, features=("self_service",))
    with pytest.raises(CallerHungUp):
        await running
    assert channel.prompts() == ["welcome"]


async def test_given_an_english_line_when_called_then_english_prompts() -> None:
    settings = Settings(business_hours=BusinessHoursSettings())
    context = FlowContext.from_settings(settings, layout=LAYOUT, language="en")
    channel = FakeChannel()
    await run_flow(load_flow("default_12345", settings), channel, context)
    assert channel.calls[1] == ("play", "/srv/hotline/prompts/en/welcome", "")
