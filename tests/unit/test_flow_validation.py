"""Flow files are checked at load: every problem names the file, the line and the key."""

from textwrap import dedent

import pytest

from hotline.settings import QueueSettings, Settings
from ivr_flows.errors import FlowError
from ivr_flows.loader import flow_from_yaml
from ivr_flows.schema import Flow, MenuStep, PlayStep
from ivr_flows.steps import StepContext, StepRegistry

SETTINGS = Settings(queues=(QueueSettings(name="main"), QueueSettings(name="complaints")))
REGISTRY = StepRegistry()


@REGISTRY.register("lookup", exits=("found", "not_found"))
async def lookup(step: StepContext) -> str:
    return "found"


def load(text: str) -> Flow:
    return flow_from_yaml(
        dedent(text).lstrip("\n"),
        source="default_12345.yaml",
        settings=SETTINGS,
        registry=REGISTRY,
        prompt_exists=lambda name: name != "no_such_prompt",
    )


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        load(text)
    return caught.value.problems


GOOD = dedent("""
    name: sample
    start: menu
    steps:
      menu:
        type: menu
        prompt: welcome
        choices:
          1: to_agent
          "#": goodbye
      to_agent:
        type: queue
        queue: complaints
      goodbye:
        type: hangup
""").lstrip("\n")


def test_given_a_good_flow_when_loaded_then_typed_steps() -> None:
    flow = load(GOOD)
    menu = flow.steps["menu"]
    assert isinstance(menu, MenuStep)
    # An unquoted 1: is the key "1", not the integer YAML 1.1 would make of it.
    assert menu.choices == {"1": "to_agent", "#": "goodbye"}
    assert menu.max_tries == 3 and menu.on_failure is None


def test_given_a_misspelt_destination_when_loaded_then_its_line_is_named() -> None:
    text = """
        name: sample
        start: greet
        steps:
          greet:
            type: play
            prompt: welcome
            next: queu
          queue:
            type: queue
    """
    assert problems(text) == [
        "default_12345.yaml:7: steps.greet.next: unknown step 'queu'; did you mean 'queue'?",
        "default_12345.yaml:8: steps.queue: unreachable: no path from start 'greet' leads here",
    ]


def test_given_an_unknown_step_type_when_loaded_then_the_type_line_is_named() -> None:
    text = """
        name: sample
        start: greet
        steps:
          greet:
            type: ply
            prompt: welcome
            next: greet
    """
    [problem] = problems(text)
    assert problem.startswith(
        "default_12345.yaml:5: steps.greet.type: unknown step type 'ply'; use one of: play,"
    )


def test_given_a_step_without_type_when_loaded_then_reported() -> None:
    [problem] = problems("""
        name: sample
        start: greet
        steps:
          greet:
            prompt: welcome
    """)
    assert problem.startswith("default_12345.yaml:4: steps.greet.type: every step needs a type")


def test_given_an_unconfigured_queue_when_loaded_then_its_line_is_named() -> None:
    text = GOOD.replace("queue: complaints", "queue: complains")
    assert problems(text) == [
        "default_12345.yaml:12: steps.to_agent.queue: unknown queue 'complains'; did you mean "
        "'complaints'? (configured queues: main, complaints)"
    ]


@pytest.mark.parametrize("key", ['"12"', "a", '"A"', '"*#"', '" "'])
def test_given_a_key_that_is_not_a_phone_key_when_loaded_then_its_line_is_named(key: str) -> None:
    text = GOOD.replace('"#": goodbye', f"{key}: goodbye")
    [problem] = problems(text)
    assert problem.startswith("default_12345.yaml:9: steps.menu.choices.")
    assert "is not a phone key; use one of 0-9, * or #" in problem


def test_given_no_start_when_loaded_then_line_one_says_so() -> None:
    text = GOOD.replace("start: menu\n", "")
    assert problems(text) == ["default_12345.yaml:1: start: required, but missing"]


def test_given_a_start_that_is_no_step_when_loaded_then_the_start_line_is_named() -> None:
    text = GOOD.replace("start: menu", "start: main_menu")
    assert problems(text)[0] == "default_12345.yaml:2: start: unknown step 'main_menu'; did you mean 'menu'?"


def test_given_a_misspelt_key_when_loaded_then_its_line_is_named() -> None:
    text = GOOD.replace("prompt: welcome", "prompt: welcome\n    max_trys: 5")
    assert problems(text) == ["default_12345.yaml:7: steps.menu.max_trys: unknown key; check its spelling"]


def test_given_a_key_written_twice_when_loaded_then_the_second_is_named() -> None:
    text = GOOD.replace("prompt: welcome", "prompt: welcome\n    prompt: goodbye")
    assert problems(text) == ["default_12345.yaml:7: 'prompt' is given twice"]


def test_given_broken_yaml_when_loaded_then_the_line_is_named() -> None:
    text = GOOD.replace("type: hangup", "type: [hangup")
    assert problems(text) == [
        "default_12345.yaml:15: not valid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence, from line 14)"
    ]


def test_given_a_loop_without_a_menu_when_loaded_then_refused() -> None:
    text = """
        name: sample
        start: one
        steps:
          one:
            type: play
            prompt: welcome
            next: two
          two:
            type: play
            prompt: goodbye
            next: one
    """
    assert problems(text) == [
        "default_12345.yaml:4: steps.one: endless loop one -> two -> one: a loop must pass through a "
        "menu or collect_digits step, whose max_tries bounds it"
    ]


def test_given_a_loop_through_a_menu_when_loaded_then_accepted() -> None:
    text = """
        name: sample
        start: menu
        steps:
          menu:
            type: menu
            prompt: welcome
            choices: {"9": repeat, "0": to_agent}
            on_invalid: help
          help:
            type: play
            prompt: invalid
            next: menu
          repeat:
            type: play
            prompt: welcome
            next: menu
          to_agent:
            type: queue
    """
    assert set(load(text).steps) == {"menu", "help", "repeat", "to_agent"}


def test_given_python_steps_when_loaded_then_registration_and_exits_are_checked() -> None:
    text = """
        name: sample
        start: status
        steps:
          status:
            type: python
            step: lookup
            exits:
              found: bye
              gone: bye
          other:
            type: python
            step: lookups
            exits: {found: bye}
          bye:
            type: hangup
    """
    assert problems(text) == [
        "default_12345.yaml:9: steps.status.exits.gone: step 'lookup' has no exit 'gone'; "
        "it declares found, not_found",
        "default_12345.yaml:10: steps.other: unreachable: no path from start 'status' leads here",
        "default_12345.yaml:12: steps.other.step: unknown Python step 'lookups'; did you mean "
        "'lookup'? (register it with @flow_step)",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("HOTLINE_ROUTE", "names starting with HOTLINE_ are reserved"),
        ("hotline_queue", "channel variables are uppercase letters, digits and _"),
        ("CASE-NO", "channel variables are uppercase letters, digits and _"),
    ],
)
def test_given_a_bad_channel_variable_when_loaded_then_refused(name: str, message: str) -> None:
    text = f"""
        name: sample
        start: mark
        steps:
          mark:
            type: set_variable
            name: {name}
            value: "1"
            next: to_agent
          to_agent:
            type: queue
    """
    [problem] = problems(text)
    assert problem.startswith("default_12345.yaml:6: steps.mark.name: ")
    assert message in problem


def test_given_set_variable_from_uncollected_digits_when_loaded_then_refused() -> None:
    text = """
        name: sample
        start: ask
        steps:
          ask:
            type: collect_digits
            prompt: case_status_prompt
            max_digits: 12
            pattern: "[0-9]{8,12}"
            into: case_number
            next: mark
          mark:
            type: set_variable
            name: CASE_NUMBER
            from_digits: case_numbr
            next: to_agent
          to_agent:
            type: queue
    """
    assert problems(text) == [
        "default_12345.yaml:14: steps.mark.from_digits: no collect_digits step fills 'case_numbr'"
    ]


def test_given_a_bad_pattern_and_unknown_prompt_when_loaded_then_each_is_placed() -> None:
    text = """
        name: sample
        start: ask
        steps:
          ask:
            type: collect_digits
            prompt: no_such_prompt
            max_digits: 12
            pattern: "[0-9"
            into: case_number
            next: to_agent
          to_agent:
            type: queue
    """
    [problem] = problems(text)
    assert problem.startswith("default_12345.yaml:8: steps.ask.pattern: not a regular expression")
    text = text.replace('"[0-9"', '"[0-9]+"')
    assert problems(text) == [
        "default_12345.yaml:6: steps.ask.prompt: unknown prompt 'no_such_prompt': add its text to "
        "ivr_flows/prompts/*.toml or record it in ivr.prompts_dir"
    ]


def test_given_a_prompt_name_with_a_path_when_loaded_then_refused() -> None:
    [problem] = problems(GOOD.replace("prompt: welcome", "prompt: ../../etc/passwd"))
    assert problem.startswith(
        "default_12345.yaml:6: steps.menu.prompt: '../../etc/passwd' is not a prompt name"
    )


def test_given_feature_keys_in_short_and_long_form_when_loaded_then_both_accepted() -> None:
    text = """
        name: sample
        start: greet
        steps:
          greet:
            type: play
            prompt: welcome
            next: to_agent
            keys:
              "1": {to: to_agent, feature: self_service, hint: self_service_offer}
              "0": to_agent
          to_agent:
            type: queue
    """
    greet = load(text).steps["greet"]
    assert isinstance(greet, PlayStep)
    assert greet.keys["1"].feature == "self_service" and greet.keys["0"].feature is None


def test_given_looping_aliases_when_loaded_then_refused_quickly() -> None:
    text = """
        name: sample
        start: a
        steps: &loop
          a: *loop
    """
    [problem] = problems(text)
    assert "too large or too deeply nested" in problem


def test_given_not_a_mapping_when_loaded_then_refused() -> None:
    assert problems("- just\n- a list\n") == [
        "default_12345.yaml:1: a flow is a mapping with name, start and steps"
    ]
