"""telephony.ami_actions: the exact AMI fields of each action, and values that must never be sent."""

from __future__ import annotations

import pytest

from telephony.ami_actions import (
    CoreShowChannels,
    Hangup,
    MixMonitorMute,
    ModuleReload,
    Ping,
    QueueStatus,
    Redirect,
    Setvar,
    UnsafeAmiValue,
    check_free_text,
)

# ----- the fields each action sends --------------------------------------------------------------


def test_given_a_redirect_when_built_then_its_fields_are_exactly_channel_context_exten_priority():
    action = Redirect(channel="PJSIP/carrier-0000002a", context="hotline-fallback", exten="s")

    assert action.fields() == {
        "Action": "Redirect",
        "Channel": "PJSIP/carrier-0000002a",
        "Context": "hotline-fallback",
        "Exten": "s",
        "Priority": "1",
    }
    assert action.is_list is False


def test_given_a_redirect_to_a_later_priority_when_built_then_the_priority_is_sent():
    action = Redirect(
        channel="Local/2001@hotline-seats-00000001;2", context="hotline-ivr", exten="12345", priority=3
    )

    assert action.fields()["Priority"] == "3"
    assert action.fields()["Channel"] == "Local/2001@hotline-seats-00000001;2"


def test_given_a_hangup_when_built_then_it_sends_channel_and_normal_clearing_by_default():
    assert Hangup(channel="PJSIP/seat2001-00000003").fields() == {
        "Action": "Hangup",
        "Channel": "PJSIP/seat2001-00000003",
        "Cause": "16",
    }
    assert Hangup(channel="PJSIP/seat2001-00000003", cause=17).fields()["Cause"] == "17"


def test_given_a_setvar_when_built_then_it_sends_channel_variable_and_value():
    action = Setvar(channel="PJSIP/carrier-0000002a", variable="__HOTLINE_TRUNK", value="carrier (联通)")

    assert action.fields() == {
        "Action": "Setvar",
        "Channel": "PJSIP/carrier-0000002a",
        "Variable": "__HOTLINE_TRUNK",
        "Value": "carrier (联通)",
    }


def test_given_a_setvar_with_an_empty_value_when_built_then_the_empty_value_is_sent():
    assert Setvar(channel="PJSIP/x-1", variable="HOTLINE_QUEUE", value="").fields()["Value"] == ""


def test_given_a_module_reload_when_built_then_module_is_sent_only_when_named():
    assert ModuleReload().fields() == {"Action": "ModuleLoad", "LoadType": "reload"}
    assert ModuleReload(module="res_pjsip.so").fields() == {
        "Action": "ModuleLoad",
        "LoadType": "reload",
        "Module": "res_pjsip.so",
    }
    assert ModuleReload(module="app_queue").fields() == {
        "Action": "ModuleLoad",
        "Module": "app_queue",
        "LoadType": "reload",
    }


def test_given_a_queue_status_when_built_then_it_is_a_list_action_with_an_optional_queue():
    assert QueueStatus().fields() == {"Action": "QueueStatus"}
    assert QueueStatus(queue="main").fields() == {"Action": "QueueStatus", "Queue": "main"}
    assert QueueStatus.is_list is True


def test_given_the_actions_without_fields_when_built_then_only_the_action_name_is_sent():
    assert CoreShowChannels().fields() == {"Action": "CoreShowChannels"}
    assert CoreShowChannels.is_list is True
    assert Ping().fields() == {"Action": "Ping"}
    assert Ping.is_list is False


def test_given_a_recording_pause_when_built_then_both_directions_of_the_channel_are_muted_with_state_1():
    action = MixMonitorMute(channel="PJSIP/desk-0000002a", muted=True)

    assert action.fields() == {
        "Action": "MixMonitorMute",
        "Channel": "PJSIP/desk-0000002a",
        "Direction": "both",
        "State": "1",
    }
    assert action.is_list is False


def test_given_a_recording_resume_when_built_then_state_0_is_sent_not_false():
    fields = MixMonitorMute(channel="Local/2001@hotline-seats-00000001;1", muted=False).fields()

    assert (fields["Channel"], fields["State"]) == ("Local/2001@hotline-seats-00000001;1", "0")


@pytest.mark.parametrize("direction", ["", "all", "Both", "both\r\nAction: Originate"])
def test_given_a_mute_direction_other_than_read_write_or_both_when_built_then_it_is_refused(direction):
    assert MixMonitorMute(channel="PJSIP/x-1", muted=True, direction="read").fields()["Direction"] == "read"
    with pytest.raises(UnsafeAmiValue, match="Direction"):
        MixMonitorMute(channel="PJSIP/x-1", muted=True, direction=direction)


# ----- values that would change the meaning of the message ---------------------------------------

INJECTIONS = [
    "PJSIP/x\r\nAction: Originate",
    "PJSIP/x\nAction: Originate",
    "PJSIP/x\rAction: Originate",
    "PJSIP/x\0",
]


@pytest.mark.parametrize(
    "channel", [*INJECTIONS, "", " PJSIP/x", "PJSIP/x y", "PJSIP/x,1", "/x", "PJSIP/" + "a" * 200]
)
def test_given_a_hostile_or_malformed_channel_when_building_any_action_then_it_is_refused(channel):
    with pytest.raises(UnsafeAmiValue, match="Channel"):
        Redirect(channel=channel, context="hotline-fallback", exten="s")
    with pytest.raises(UnsafeAmiValue, match="Channel"):
        Hangup(channel=channel)
    with pytest.raises(UnsafeAmiValue, match="Channel"):
        Setvar(channel=channel, variable="HOTLINE_QUEUE", value="main")
    with pytest.raises(UnsafeAmiValue, match="Channel"):
        MixMonitorMute(channel=channel, muted=True)


@pytest.mark.parametrize(
    "context", ["hotline-ivr,s,1", "hotline ivr", "hotline-ivr\r\nAction: Originate", "", "ctx;x", "a" * 81]
)
def test_given_a_context_outside_its_pattern_when_redirecting_then_it_is_refused(context):
    with pytest.raises(UnsafeAmiValue, match="Context"):
        Redirect(channel="PJSIP/carrier-1", context=context, exten="s")


@pytest.mark.parametrize("exten", ["1 2", "s\n", "s,1", "", "12345;x", "${SHELL(id)}"])
def test_given_an_exten_outside_its_pattern_when_redirecting_then_it_is_refused(exten):
    with pytest.raises(UnsafeAmiValue, match="Exten"):
        Redirect(channel="PJSIP/carrier-1", context="hotline-ivr", exten=exten)


@pytest.mark.parametrize("priority", [0, -1, 1000])
def test_given_a_priority_out_of_range_when_redirecting_then_it_is_refused(priority):
    with pytest.raises(UnsafeAmiValue, match="Priority"):
        Redirect(channel="PJSIP/carrier-1", context="hotline-ivr", exten="s", priority=priority)


@pytest.mark.parametrize(
    "value", ["main\r\nAction: Originate", "line one\nline two", "carriage\rreturn", "nul\0byte", "x" * 257]
)
def test_given_a_setvar_value_with_a_line_break_or_too_long_when_building_then_it_is_refused(value):
    with pytest.raises(UnsafeAmiValue, match="Value"):
        Setvar(channel="PJSIP/carrier-1", variable="HOTLINE_IVR_PATH", value=value)


@pytest.mark.parametrize(
    "variable", ["hotline_queue", "1ABC", "___X", "A B", "X\r\nAction: Originate", "X=1", ""]
)
def test_given_a_setvar_variable_name_outside_its_pattern_when_building_then_it_is_refused(variable):
    with pytest.raises(UnsafeAmiValue, match="Variable"):
        Setvar(channel="PJSIP/carrier-1", variable=variable, value="1")


@pytest.mark.parametrize(
    "module", ["res_pjsip.so\r\nAction: Originate", "../res_pjsip.so", "Res_PJSIP", "a b", ""]
)
def test_given_a_module_name_outside_its_pattern_when_reloading_then_it_is_refused(module):
    with pytest.raises(UnsafeAmiValue, match="Module"):
        ModuleReload(module=module)


@pytest.mark.parametrize("queue", ["main\r\nAction: Originate", "main queue", "main,1", ""])
def test_given_a_queue_name_outside_its_pattern_when_asking_status_then_it_is_refused(queue):
    with pytest.raises(UnsafeAmiValue, match="Queue"):
        QueueStatus(queue=queue)


def test_given_free_text_when_checked_then_printable_text_passes_and_line_breaks_do_not():
    assert check_free_text("Reason", "市民来电: 投诉 (紧急)") == "市民来电: 投诉 (紧急)"
    with pytest.raises(UnsafeAmiValue, match="Reason"):
        check_free_text("Reason", "ok\r\nAction: Originate")


def test_given_a_refused_value_when_reported_then_the_message_shows_only_the_start_of_it():
    with pytest.raises(UnsafeAmiValue) as caught:
        Hangup(channel="PJSIP/x\r\n" + "A" * 500)

    assert len(str(caught.value)) < 120


def test_given_a_hangup_cause_that_smuggles_a_line_when_fields_are_built_then_they_are_refused():
    # The cause is typed int; should a str get through, fields() still checks every value it emits.
    action = Hangup(channel="PJSIP/x-1", cause="16\r\nAction: Originate")  # type: ignore[arg-type]

    with pytest.raises(UnsafeAmiValue, match="Cause"):
        action.fields()


def test_given_a_chinese_name_split_across_reads_when_received_then_no_character_is_lost() -> None:
    from telephony.ami import _WholeCharacters

    received: list[object] = []
    protocol = _WholeCharacters()

    class Transport:
        def write(self, data: bytes) -> None:
            pass

    protocol.connection_made(Transport())
    protocol.encoding = "utf8"  # what panoramisk's Manager sets on its protocol
    protocol.handle_message = received.append
    raw = "Event: Newchannel\r\nCallerIDName: 张三丰\r\nUniqueid: 1.1\r\n\r\n".encode()
    cut = raw.index("三".encode()) + 1  # in the middle of a three-byte character
    protocol.data_received(raw[:cut])
    protocol.data_received(raw[cut:])
    assert len(received) == 1
    assert received[0]["CallerIDName"] == "张三丰"  # type: ignore[index]
