"""Flow files on disk: shipped flows, site overrides by name, and errors that name the file."""

from pathlib import Path

import pytest

from hotline.settings import IvrSettings, QueueSettings, Settings, TrunkSettings
from ivr_flows.errors import FlowError
from ivr_flows.loader import load_all, load_flow
from ivr_flows.schema import HangupStep, PlayStep, QueueStep

OVERRIDE = """\
name: default_12345
description: A site that only greets and queues.
start: greet
steps:
  greet:
    type: play
    prompt: welcome
    next: to_agent
  to_agent:
    type: queue
    queue: main
"""


def site(flows_dir: Path | None = None, features: tuple[str, ...] = ()) -> Settings:
    return Settings(ivr=IvrSettings(flows_dir=flows_dir or Path(""), features=features))


def test_given_default_settings_when_loading_the_default_flow_then_it_is_short() -> None:
    flow = load_flow("default_12345", site())
    assert flow.start == "office_hours"
    # GB/T 33358-2016: no voice menu in the default flow.
    assert not any(step.type == "menu" for step in flow.steps.values())
    greeting = flow.steps["greeting"]
    assert isinstance(greeting, PlayStep) and greeting.keys["1"].feature == "self_service"
    assert isinstance(flow.steps["to_agent"], QueueStep)
    assert isinstance(flow.steps["goodbye"], HangupStep)


def test_given_a_main_queue_of_another_name_when_loading_the_default_flow_then_it_still_loads() -> None:
    settings = Settings(queues=(QueueSettings(name="hotline"),), ivr=IvrSettings(main_queue="hotline"))
    assert load_flow("default_12345", settings).name == "default_12345"


def test_given_a_site_flow_of_the_same_name_when_loading_then_the_site_flow_wins(tmp_path: Path) -> None:
    (tmp_path / "default_12345.yaml").write_text(OVERRIDE, encoding="utf-8")
    flow = load_flow("default_12345", site(tmp_path))
    assert set(flow.steps) == {"greet", "to_agent"}
    assert set(load_all(site(tmp_path))) == {"default_12345", "queue_overflow"}


def test_given_settings_naming_a_flow_nobody_wrote_when_loading_all_then_each_key_is_named() -> None:
    settings = Settings(
        queues=(QueueSettings(name="main", overflow_flow="night_desk"),),
        trunks=(TrunkSettings(name="carrier", host="127.0.0.1", port=5080, flow="nigth"),),
    )
    with pytest.raises(FlowError) as error:
        load_all(settings)
    assert error.value.problems == [
        "trunks[0].flow: no flow named 'nigth'; known flows: default_12345, queue_overflow",
        "queues[0].overflow_flow: no flow named 'night_desk'; known flows: default_12345, queue_overflow",
    ]


def test_given_an_extra_site_flow_when_loading_all_then_both_are_there(tmp_path: Path) -> None:
    (tmp_path / "night.yaml").write_text(OVERRIDE.replace("default_12345", "night"), encoding="utf-8")
    assert set(load_all(site(tmp_path))) == {"default_12345", "night", "queue_overflow"}


def test_given_an_unknown_name_when_loading_then_the_known_flows_are_listed() -> None:
    with pytest.raises(FlowError, match=r"no flow named 'nope'; known flows: default_12345"):
        load_flow("nope", site())


def test_given_a_name_that_differs_from_the_file_when_loading_then_refused(tmp_path: Path) -> None:
    (tmp_path / "night.yaml").write_text(OVERRIDE, encoding="utf-8")
    with pytest.raises(FlowError) as caught:
        load_flow("night", site(tmp_path))
    assert caught.value.problems == [
        f"{tmp_path / 'night.yaml'}:1: name: 'default_12345' differs from the file name 'night'; "
        "make them match"
    ]


def test_given_two_broken_files_when_loading_all_then_every_problem_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        OVERRIDE.replace("default_12345", "a").replace("next: to_agent", "next: x")
    )
    (tmp_path / "b.yaml").write_bytes(b"name: b\n\xff\xfe")
    with pytest.raises(FlowError) as caught:
        load_all(site(tmp_path))
    assert caught.value.problems == [
        f"{tmp_path / 'a.yaml'}:8: steps.greet.next: unknown step 'x'",
        f"{tmp_path / 'a.yaml'}:9: steps.to_agent: unreachable: no path from start 'greet' leads here",
        f"{tmp_path / 'b.yaml'}:1: not UTF-8 text (invalid start byte at byte 8)",
    ]


def test_given_a_flows_dir_that_does_not_exist_when_loading_then_said_so(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match=r"ivr\.flows_dir is not a directory"):
        load_flow("default_12345", site(tmp_path / "missing"))


def test_given_self_service_enabled_when_loading_then_the_python_step_is_registered() -> None:
    flow = load_flow("default_12345", site(features=("self_service",)))
    assert flow.steps["self_service"].type == "python"


SITE_STEP = """\
from ivr_flows.steps import StepContext, flow_step


@flow_step("site_callback_offer", exits=("done",))
async def offer(step: StepContext) -> str:
    return "done"
"""

CALLBACK = """\
name: callback
start: offer
steps:
  offer:
    type: python
    step: site_callback_offer
    exits: {done: bye}
  bye:
    type: hangup
"""


def test_given_a_site_step_module_when_loading_then_its_steps_can_be_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site_steps_for_test.py").write_text(SITE_STEP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "callback.yaml").write_text(CALLBACK, encoding="utf-8")
    settings = Settings(ivr=IvrSettings(flows_dir=flows, step_modules=("site_steps_for_test",)))
    assert load_flow("callback", settings).steps["offer"].type == "python"


def test_given_a_step_module_that_cannot_be_imported_when_loading_then_said_so() -> None:
    settings = Settings(ivr=IvrSettings(step_modules=("no_such_site_module",)))
    with pytest.raises(FlowError) as caught:
        load_all(settings)
    assert caught.value.problems == [
        "ivr.step_modules: cannot import 'no_such_site_module': "
        "ModuleNotFoundError: No module named 'no_such_site_module'"
    ]
