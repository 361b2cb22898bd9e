"""telephony.ami_actions: the queue membership actions a seat sends, field by field."""

from __future__ import annotations

import pytest

from telephony.ami_actions import QueueAdd, QueuePause, QueueRemove, UnsafeAmiValue


def test_given_a_seat_logging_in_when_queue_add_is_built_then_every_field_is_sent_exactly():
    action = QueueAdd(
        queue="main",
        interface="PJSIP/seat1001",
        penalty=2,
        member_name="张三 1001",
        state_interface="PJSIP/seat1001",
    )

    assert action.fields() == {
        "Action": "QueueAdd",
        "Queue": "main",
        "Interface": "PJSIP/seat1001",
        "Penalty": "2",
        "Paused": "false",
        "MemberName": "张三 1001",
        "StateInterface": "PJSIP/seat1001",
    }


def test_given_a_local_channel_member_added_paused_when_built_then_paused_and_reason_are_sent():
    action = QueueAdd(queue="main", interface="Local/1001@hotline-agents/n", paused=True, reason="meal")

    assert action.fields() == {
        "Action": "QueueAdd",
        "Queue": "main",
        "Interface": "Local/1001@hotline-agents/n",
        "Penalty": "0",
        "Paused": "true",
        "Reason": "meal",
    }


def test_given_a_reason_for_an_unpaused_member_when_built_then_it_is_refused():
    with pytest.raises(UnsafeAmiValue, match="Reason"):
        QueueAdd(queue="main", interface="PJSIP/seat1001", reason="meal")


def test_given_a_custom_device_state_when_used_as_state_interface_then_it_is_accepted():
    action = QueueAdd(
        queue="main", interface="Local/1001@hotline-agents/n", state_interface="Custom:seat1001"
    )

    assert action.fields()["StateInterface"] == "Custom:seat1001"


def test_given_a_logout_when_queue_remove_is_built_then_it_sends_queue_and_interface():
    assert QueueRemove(queue="complaints", interface="PJSIP/seat1001").fields() == {
        "Action": "QueueRemove",
        "Queue": "complaints",
        "Interface": "PJSIP/seat1001",
    }


def test_given_a_pause_in_every_queue_when_built_then_queue_is_left_out_and_the_reason_sent():
    assert QueuePause(interface="PJSIP/seat1001", paused=True, reason="就餐").fields() == {
        "Action": "QueuePause",
        "Interface": "PJSIP/seat1001",
        "Paused": "true",
        "Reason": "就餐",
    }


def test_given_an_unpause_in_one_queue_when_built_then_paused_is_false_and_the_queue_named():
    assert QueuePause(interface="PJSIP/seat1001", paused=False, queue="main").fields() == {
        "Action": "QueuePause",
        "Interface": "PJSIP/seat1001",
        "Paused": "false",
        "Queue": "main",
    }


INJECTIONS = ["PJSIP/x\r\nAction: Originate", "PJSIP/x\nAction: Originate", "PJSIP/x\0"]


@pytest.mark.parametrize(
    "interface",
    [
        *INJECTIONS,
        "",
        "seat1001",
        "PJSIP/",
        "PJSIP/seat 1001",
        "PJSIP/seat1001,2",
        "PJSIP/seat1001;x",
        "PJSIP/seat1001|x",
        "Local/1001@hotline agents/n",
        "PJSIP/" + "a" * 200,
    ],
)
def test_given_a_hostile_or_malformed_interface_when_building_any_queue_action_then_it_is_refused(interface):
    with pytest.raises(UnsafeAmiValue, match="Interface"):
        QueueAdd(queue="main", interface=interface)
    with pytest.raises(UnsafeAmiValue, match="Interface"):
        QueueRemove(queue="main", interface=interface)
    with pytest.raises(UnsafeAmiValue, match="Interface"):
        QueuePause(interface=interface, paused=True)


@pytest.mark.parametrize(
    "reason", ["meal\r\nAction: Originate", "meal\n", "meal;x", "meal|x", "meal,x", "", "x" * 65, "a\tb"]
)
def test_given_a_reason_outside_the_safe_alphabet_when_pausing_then_it_is_refused(reason):
    with pytest.raises(UnsafeAmiValue, match="Reason"):
        QueuePause(interface="PJSIP/seat1001", paused=True, reason=reason)


@pytest.mark.parametrize("reason", ["meal", "case_work", "就餐", "会议 (部门)", "培训-2", "coaching: 质检"])
def test_given_a_reason_in_the_safe_alphabet_when_pausing_then_it_is_sent_as_is(reason):
    assert QueuePause(interface="PJSIP/seat1001", paused=True, reason=reason).fields()["Reason"] == reason


@pytest.mark.parametrize("name", ["张三;x", "a|b", "x\r\nAction: Originate", ""])
def test_given_a_member_name_outside_the_safe_alphabet_when_adding_then_it_is_refused(name):
    with pytest.raises(UnsafeAmiValue, match="MemberName"):
        QueueAdd(queue="main", interface="PJSIP/seat1001", member_name=name)


@pytest.mark.parametrize("penalty", [-1, 1001, True])
def test_given_a_penalty_out_of_range_when_adding_then_it_is_refused(penalty):
    with pytest.raises(UnsafeAmiValue, match="Penalty"):
        QueueAdd(queue="main", interface="PJSIP/seat1001", penalty=penalty)


@pytest.mark.parametrize("queue", ["main\r\nAction: Originate", "main queue", "main,1", ""])
def test_given_a_queue_name_outside_its_pattern_when_building_queue_actions_then_it_is_refused(queue):
    with pytest.raises(UnsafeAmiValue, match="Queue"):
        QueueAdd(queue=queue, interface="PJSIP/seat1001")
    with pytest.raises(UnsafeAmiValue, match="Queue"):
        QueueRemove(queue=queue, interface="PJSIP/seat1001")
    with pytest.raises(UnsafeAmiValue, match="Queue"):
        QueuePause(interface="PJSIP/seat1001", paused=True, queue=queue)
