"""The engine on small flows: menus, tries, hostile keys, Python steps and the step guard."""

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from asterisk_conf.layout import InstanceLayout
from hotline.settings import QueueSettings, Settings
from ivr_flows.engine import FlowContext, FlowOutcome, call_uniqueid, run_flow
from ivr_flows.loader import flow_from_yaml
from ivr_flows.ports import CallerHungUp
from ivr_flows.schema import Flow
from ivr_flows.steps import StepContext, StepRegistry
from telephony.channel_vars import IVR_PATH, QUEUE, ROUTE, ROUTE_HANGUP, ROUTE_QUEUE
from tests.unit.fake_channel import HANG_UP, CallerAction, FakeChannel

SETTINGS = Settings(queues=(QueueSettings(name="main"), QueueSettings(name="complaints")))
LAYOUT = InstanceLayout(Path("/srv/hotline"), "main")
REGISTRY = StepRegistry()


@REGISTRY.register("says_maybe")
async def says_maybe(step: StepContext) -> str:
    return "maybe"


@REGISTRY.register("crashes")
async def crashes(step: StepContext) -> str:
    raise RuntimeError("database is down")


@REGISTRY.register("hangs_up")
async def hangs_up(step: StepContext) -> str:
    raise CallerHungUp("1700000000.42")


@REGISTRY.register("reads_case_number", exits=("known",))
async def reads_case_number(step: StepContext) -> str:
    await step.channel.play(step.prompt("case_status_prompt"))
    return "known" if step.digits.get("case_number") == "20250001" else "unknown"


def flow(text: str) -> Flow:
    return flow_from_yaml(
        dedent(text), source="test.yaml", settings=SETTINGS, registry=REGISTRY, prompt_exists=lambda _: True
    )


def unchecked(data: dict[str, Any]) -> Flow:
    """A flow built in code, without the load-time checks, as a plugin might."""
    return Flow.model_validate({"name": "unchecked", **data})


async def run(
    the_flow: Flow, *caller: CallerAction, env: dict[str, str] | None = None
) -> tuple[FakeChannel, FlowOutcome]:
    channel = FakeChannel(caller, env=env)
    context = FlowContext.from_settings(SETTINGS, layout=LAYOUT, registry=REGISTRY)
    return channel, await run_flow(the_flow, channel, context)


MENU = flow("""
    name: menu
    start: menu
    steps:
      menu:
        type: menu
        prompt: menu_prompt
        choices: {"1": complaints, "9": menu, "0": goodbye}
      complaints:
        type: queue
        queue: complaints
      goodbye:
        type: hangup
        prompt: goodbye
""")


async def test_given_a_menu_when_a_listed_key_is_pressed_then_its_step() -> None:
    channel, outcome = await run(MENU, "1")
    assert (outcome.route, outcome.queue, outcome.reason) == (ROUTE_QUEUE, "complaints", None)
    assert outcome.path == ("menu", "complaints")
    assert channel.calls[1] == ("read_digits", "/srv/hotline/prompts/zh-CN/menu_prompt", 5000, 1)


async def test_given_a_menu_when_a_wrong_key_then_told_and_asked_again() -> None:
    channel, outcome = await run(MENU, "5", "0")
    assert outcome.path == ("menu", "menu", "goodbye")
    assert channel.prompts() == ["menu_prompt", "invalid", "menu_prompt", "goodbye"]
    assert outcome.route == ROUTE_HANGUP and outcome.queue is None


async def test_given_a_menu_when_the_caller_is_silent_then_the_timeout_prompt_and_again() -> None:
    channel, outcome = await run(MENU, None, "1")
    assert channel.prompts() == ["menu_prompt", "timeout", "menu_prompt"]
    assert outcome.queue == "complaints"


async def test_given_a_menu_when_every_try_fails_then_the_main_queue_with_a_reason() -> None:
    channel, outcome = await run(MENU, "5", None, "7")
    assert outcome.path == ("menu", "menu", "menu")
    assert (outcome.route, outcome.queue) == (ROUTE_QUEUE, "main")
    assert outcome.reason == "menu 'menu': no valid key after 3 tries"
    # No "invalid" after the last try: the caller is simply put through.
    assert channel.prompts() == ["menu_prompt", "invalid", "menu_prompt", "timeout", "menu_prompt"]


@pytest.mark.parametrize(
    "pressed",
    [
        "a",
        "A",  # old test sets have A-D keys
        "*#",
        "1" * 10_000,
        "1\n",
        "1\r\nHANGUP",
        "\x00",
        "\x1b[2J",
        "１",  # full-width digit
        "١",  # Arabic-Indic digit
        " 1",
        "main",
        "complaints",
        "../../etc/passwd",
    ],
)
async def test_given_hostile_keys_when_pressed_then_invalid_and_never_a_route(pressed: str) -> None:
    channel, outcome = await run(MENU, pressed, pressed, pressed)
    assert outcome.path == ("menu", "menu", "menu")
    assert outcome.queue == "main"
    assert channel.prompts().count("invalid") == 2
    assert all(pressed not in call[1:] for call in channel.calls)


async def test_given_on_failure_when_every_try_fails_then_that_step_without_a_reason() -> None:
    the_flow = flow("""
        name: menu
        start: menu
        steps:
          menu:
            type: menu
            prompt: menu_prompt
            choices: {"1": to_agent}
            max_tries: 2
            on_failure: goodbye
          to_agent:
            type: queue
          goodbye:
            type: hangup
    """)
    _, outcome = await run(the_flow, "2", "2")
    assert outcome.path == ("menu", "menu", "goodbye")
    assert outcome.reason is None


async def test_given_a_help_step_on_invalid_when_the_caller_keeps_failing_then_tries_still_run_out() -> None:
    the_flow = flow("""
        name: menu
        start: menu
        steps:
          menu:
            type: menu
            prompt: menu_prompt
            choices: {"1": to_agent}
            on_invalid: help
            on_timeout: help
          help:
            type: play
            prompt: menu_help
            next: menu
          to_agent:
            type: queue
            queue: complaints
    """)
    _, outcome = await run(the_flow)
    # Re-entering the menu from the help step does not reset its count of tries.
    assert outcome.path == ("menu", "help", "menu", "help", "menu")
    assert outcome.queue == "main"


COLLECT = flow("""
    name: collect
    start: ask
    steps:
      ask:
        type: collect_digits
        prompt: case_status_prompt
        min_digits: 8
        max_digits: 8
        pattern: "2025[0-9]{4}"
        into: case_number
        next: mark
      mark:
        type: set_variable
        name: CASE_NUMBER
        from_digits: case_number
        next: tag
      tag:
        type: set_variable
        name: CALL_KIND
        value: 查询
        next: status
      status:
        type: python
        step: reads_case_number
        exits: {known: to_agent}
      to_agent:
        type: queue
        queue: complaints
""")


async def test_given_a_valid_case_number_when_keyed_then_it_is_set_and_seen_by_the_python_step() -> None:
    channel, outcome = await run(COLLECT, "20250001")
    assert outcome.path == ("ask", "mark", "tag", "status", "to_agent")
    assert dict(outcome.variables) == {"CASE_NUMBER": "20250001", "CALL_KIND": "查询"}
    assert ("set_variable", "CASE_NUMBER", "20250001") in channel.calls
    assert channel.calls[1] == ("read_digits", "/srv/hotline/prompts/zh-CN/case_status_prompt", 8000, 8)


@pytest.mark.parametrize(
    "entered", ["2025000", "202500012", "19990001", "2025000a", "2025\n0001", "２０２５0001"]
)
async def test_given_a_wrong_case_number_when_keyed_then_asked_again(entered: str) -> None:
    channel, outcome = await run(COLLECT, entered, "20250001")
    assert outcome.path[:3] == ("ask", "ask", "mark")
    assert channel.variables["CASE_NUMBER"] == "20250001"
    assert channel.prompts()[:3] == ["case_status_prompt", "invalid", "case_status_prompt"]


async def test_given_no_case_number_when_tries_run_out_then_the_main_queue_and_nothing_set() -> None:
    channel, outcome = await run(COLLECT, "1", None, "x")
    assert outcome.path == ("ask", "ask", "ask")
    assert outcome.queue == "main"
    assert outcome.reason == "collect_digits 'ask': no valid number after 3 tries"
    assert channel.variables == {}


def python_flow(step: str) -> Flow:
    return flow(f"""
        name: py
        start: work
        steps:
          work:
            type: python
            step: {step}
            exits: {{yes: goodbye}}
          goodbye:
            type: hangup
    """)


async def test_given_a_python_step_when_it_returns_an_unknown_exit_then_the_main_queue() -> None:
    _, outcome = await run(python_flow("says_maybe"))
    assert (outcome.route, outcome.queue) == (ROUTE_QUEUE, "main")
    assert outcome.reason == "Python step 'says_maybe' returned unknown exit 'maybe'"


async def test_given_a_python_step_when_it_raises_then_the_main_queue() -> None:
    _, outcome = await run(python_flow("crashes"))
    assert outcome.queue == "main"
    assert outcome.reason == "Python step 'crashes' failed"


async def test_given_a_python_step_when_the_caller_hangs_up_inside_it_then_the_hang_up_propagates() -> None:
    with pytest.raises(CallerHungUp):
        await run(python_flow("hangs_up"))


async def test_given_an_unregistered_python_step_when_run_unchecked_then_the_main_queue() -> None:
    the_flow = unchecked(
        {"start": "work", "steps": {"work": {"type": "python", "step": "missing", "exits": {"yes": "work"}}}}
    )
    _, outcome = await run(the_flow)
    assert outcome.reason == "Python step 'missing' is not registered"


async def test_given_a_caller_who_presses_repeat_for_ever_when_run_then_the_step_guard_queues_them() -> None:
    _channel, outcome = await run(MENU, *["9"] * 500)
    assert len(outcome.path) == 200
    assert outcome.queue == "main"
    assert outcome.reason == "stopped after 200 steps, before 'menu'"


async def test_given_an_unchecked_endless_loop_when_run_then_the_step_guard_queues_the_call() -> None:
    the_flow = unchecked(
        {
            "start": "a",
            "steps": {
                "a": {"type": "play", "prompt": "welcome", "next": "b"},
                "b": {"type": "set_variable", "name": "X", "value": "1", "next": "a"},
            },
        }
    )
    _, outcome = await run(the_flow)
    assert len(outcome.path) == 200 and outcome.queue == "main"


async def test_given_unchecked_missing_steps_and_queues_when_run_then_the_main_queue() -> None:
    missing_step = unchecked({"start": "a", "steps": {"a": {"type": "play", "prompt": "x", "next": "b"}}})
    assert (await run(missing_step))[1].reason == "flow 'unchecked' has no step 'b'"
    stray_queue = unchecked({"start": "a", "steps": {"a": {"type": "queue", "queue": "sales"}}})
    _, outcome = await run(stray_queue)
    assert (outcome.queue, outcome.reason) == ("main", "queue 'sales' is not configured")


async def test_given_a_hostile_uniqueid_when_recording_then_the_file_name_is_safe() -> None:
    the_flow = unchecked(
        {
            "start": "vm",
            "steps": {
                "vm": {"type": "voicemail", "prompt": "beep", "next": "bye"},
                "bye": {"type": "hangup"},
            },
        }
    )
    _channel, outcome = await run(the_flow, env={"agi_uniqueid": "../../etc/cron.d/x"})
    assert outcome.voicemail_path == "/srv/hotline/voicemail/unknown-vm.wav"
    assert call_uniqueid({"agi_uniqueid": "1700000000.42"}) == "1700000000.42"
    assert call_uniqueid({}) == "unknown"
    # Instances with a systemname prefix their uniqueids with it.
    assert call_uniqueid({"agi_uniqueid": "main-1700000000.42"}) == "main-1700000000.42"
    assert call_uniqueid({"agi_uniqueid": "main/../-1700000000.42"}) == "unknown"


async def test_given_a_hang_up_at_the_menu_when_run_then_nothing_more_is_sent() -> None:
    channel, _ = FakeChannel([HANG_UP]), None
    context = FlowContext.from_settings(SETTINGS, layout=LAYOUT, registry=REGISTRY)
    with pytest.raises(CallerHungUp):
        await run_flow(MENU, channel, context)
    assert [c[0] for c in channel.calls] == ["answer", "read_digits"]


async def test_given_an_outcome_when_reported_then_the_dialplan_variables() -> None:
    _, outcome = await run(MENU, "5", "1")
    assert outcome.channel_variables() == {
        ROUTE: "queue",
        QUEUE: "complaints",
        IVR_PATH: "menu,menu,complaints",
    }
    _, outcome = await run(MENU, "0")
    assert outcome.channel_variables() == {ROUTE: "hangup", QUEUE: "", IVR_PATH: "menu,goodbye"}


async def test_given_a_caller_who_hangs_up_to_end_the_message_when_recording_then_it_is_kept() -> None:
    the_flow = unchecked(
        {
            "start": "vm",
            "steps": {
                "vm": {"type": "voicemail", "prompt": "beep", "next": "bye"},
                "bye": {"type": "hangup", "prompt": "goodbye"},
            },
        }
    )
    channel = FakeChannel([], env={"agi_uniqueid": "main-1700000000.7"}, hang_up_during="record")
    context = FlowContext.from_settings(SETTINGS, layout=LAYOUT, registry=REGISTRY)
    outcome = await run_flow(the_flow, channel, context)
    assert outcome.voicemail_path == "/srv/hotline/voicemail/main-1700000000.7-vm.wav"
    assert outcome.route == "hangup" and outcome.path == ("vm",)
    assert [c[0] for c in channel.calls][-1] == "record"  # nothing is sent after the hang-up


async def test_given_a_survey_step_when_the_caller_answers_then_it_is_kept_as_a_survey_answer() -> None:
    the_flow = unchecked(
        {
            "start": "rate",
            "steps": {
                "rate": {"type": "voicemail", "prompt": "beep", "next": "bye", "keep_as": "survey"},
                "bye": {"type": "hangup"},
            },
        }
    )
    _channel, outcome = await run(the_flow, env={"agi_uniqueid": "main-1700000000.9"})
    assert outcome.voicemail_path == "/srv/hotline/voicemail/main-1700000000.9-rate.wav"
    assert outcome.voicemail_kind == "survey"
