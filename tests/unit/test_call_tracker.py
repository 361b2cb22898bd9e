"""telephony.call_tracker: AMI events in, call rows out, on a real migrated SQLite database.

Events have the shape telephony.ami.event_dict gives them (ChanVariable as a mapping), with the
fields Asterisk 22 sends. The AGI watchdog is driven with a fake AMI that only records actions:
the real AMI connection is covered by the integration tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select

from hotline.db import Database, utcnow
from recording.models import Recording, RecordingKind
from telephony.ami import AmiClient, AmiUnavailable, event_dict
from telephony.ami_actions import AmiAction, Redirect
from telephony.call_tracker import CallTracker, StuckCall
from telephony.models import Call, Disposition
from telephony.tracker_service import FALLBACK_CONTEXT, AgiWatchdog

NODE = "main"
CALLER = "PJSIP/carrier-00000001"


class Caller:
    """AMI events for one citizen's channel, as Asterisk 22 sends them through the manager."""

    def __init__(
        self,
        uniqueid: str = "1732178400.1",
        *,
        channel: str = CALLER,
        number: str = "13812345678",
        name: str = "",
        linkedid: str | None = None,
    ) -> None:
        self.uniqueid = uniqueid
        self.channel = channel
        self.number = number
        self.name = name
        self.linkedid = linkedid or uniqueid

    def event(self, name: str, *, variables: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "Event": name,
            "Privilege": "call,all",
            "Channel": self.channel,
            "ChannelState": "6",
            "ChannelStateDesc": "Up",
            "CallerIDNum": self.number,
            "CallerIDName": self.name or "<unknown>",
            "ConnectedLineNum": "<unknown>",
            "ConnectedLineName": "<unknown>",
            "Language": "zh",
            "AccountCode": "",
            "Context": "hotline-ivr",
            "Exten": "s",
            "Priority": "1",
            "Uniqueid": self.uniqueid,
            "Linkedid": self.linkedid,
            **fields,
        }
        # The manager repeats ChanVariable once per variable; event_dict turns that into a mapping.
        lines = [f"{k}={v}" for k, v in (variables or {}).items()]
        if lines:
            message["ChanVariable"] = lines if len(lines) > 1 else lines[0]
        return event_dict(message)

    def new_channel(self, context: str = "hotline-trunk-carrier", exten: str = "12345") -> dict[str, Any]:
        return self.event(
            "Newchannel", ChannelState="0", ChannelStateDesc="Down", Context=context, Exten=exten
        )

    def answered(self) -> dict[str, Any]:
        return self.event("Newstate", ChannelState="6", ChannelStateDesc="Up")

    def ringing(self) -> dict[str, Any]:
        return self.event("Newstate", ChannelState="5", ChannelStateDesc="Ring")

    def enters(self, application: str, data: str = "") -> dict[str, Any]:
        return self.event("Newexten", Extension="s", Application=application, AppData=data)

    def joins_queue(self, queue: str = "main") -> dict[str, Any]:
        return self.event("QueueCallerJoin", Queue=queue, Position="1", Count="1")

    def agent_connects(self, member: str = "seat2001", queue: str = "main") -> dict[str, Any]:
        return self.event(
            "AgentConnect",
            Queue=queue,
            MemberName=member,
            Interface=f"PJSIP/{member}",
            HoldTime="4",
            RingTime="2",
            DestChannel=f"PJSIP/{member}-00000002",
            DestUniqueid=f"{self.uniqueid}9",
            DestLinkedid=self.linkedid,
        )

    def abandons_queue(self, queue: str = "main") -> dict[str, Any]:
        return self.event(
            "QueueCallerAbandon", Queue=queue, Position="1", OriginalPosition="1", HoldTime="12"
        )

    def hangup(self, variables: dict[str, str] | None = None, cause: str = "16") -> dict[str, Any]:
        text = {"16": "Normal Clearing", "17": "User busy", "34": "Circuit/channel congestion"}[cause]
        return self.event("Hangup", variables=variables, Cause=cause, **{"Cause-txt": text})

    def live(
        self, application: str = "AGI", duration: str = "00:01:05", context: str = "hotline-ivr"
    ) -> dict[str, Any]:
        """This channel as one CoreShowChannel event of a CoreShowChannels reply."""
        return self.event(
            "CoreShowChannel",
            ActionID="1",
            Context=context,
            Application=application,
            ApplicationData="",
            Duration=duration,
            BridgeId="",
        )


@pytest.fixture
async def tracker(db: Database) -> AsyncIterator[CallTracker]:
    tracker = CallTracker(db, node=NODE)
    worker = asyncio.create_task(tracker.run())
    yield tracker
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    tracker.close()


async def feed(tracker: CallTracker, *events: dict[str, Any]) -> None:
    for event in events:
        tracker.on_event(event)
    await asyncio.wait_for(tracker.drain(), 5)


def rows(db: Database) -> list[Call]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(Call).order_by(Call.id)).all())


def row(db: Database, uniqueid: str) -> Call:
    with db.unit_of_work() as session:
        call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
    assert call is not None, f"no row for {uniqueid}"
    return call


def open_row(db: Database, uniqueid: str, *, node: str = NODE, minutes_ago: int = 5) -> None:
    """A row left open by an earlier run of the tracker."""
    with db.unit_of_work() as session:
        session.add(
            Call(
                uniqueid=uniqueid,
                linkedid=uniqueid,
                node=node,
                channel="PJSIP/carrier-000000ff",
                started_at=utcnow() - timedelta(minutes=minutes_ago),
            )
        )


# ----- one call from the first ring to the hang-up -----------------------------------------------


async def test_given_a_call_an_agent_takes_when_it_ends_then_the_row_is_answered_with_its_path(tracker, db):
    caller = Caller()
    before = utcnow()

    await feed(
        tracker,
        caller.new_channel(),
        caller.ringing(),
        caller.answered(),
        caller.enters("AGI", "agi://127.0.0.1:4573/hotline"),
        caller.enters("Queue", "main"),
        caller.joins_queue(),
        caller.agent_connects(),
        caller.hangup(
            {
                "HOTLINE_TRUNK": "carrier",
                "HOTLINE_IVR_PATH": "greeting,queue",
                "HOTLINE_ROUTE": "queue",
                "HOTLINE_QUEUE": "main",
                "HOTLINE_FLOW_DONE": "1",
            }
        ),
    )

    call = row(db, caller.uniqueid)
    assert call.disposition == Disposition.ANSWERED
    assert (call.channel, call.caller_number, call.called_number, call.trunk, call.node) == (
        CALLER,
        "13812345678",
        "12345",
        "carrier",
        NODE,
    )
    assert call.linkedid == caller.uniqueid
    assert call.caller_name == "<unknown>"
    assert call.queue == "main"
    assert call.agent == "seat2001"
    assert call.ivr_path == "greeting,queue"
    assert call.route == "queue"
    assert call.hangup_cause == "Normal Clearing"
    assert call.end_reason == ""
    assert call.answered_at is not None and call.queued_at is not None
    assert call.agent_connected_at is not None and call.ended_at is not None
    assert before <= call.started_at <= call.answered_at <= call.queued_at
    assert call.queued_at <= call.agent_connected_at <= call.ended_at <= utcnow()
    assert call.started_at.tzinfo is not None
    assert tracker.tracked == {}
    assert tracker.in_agi == {}


async def test_given_a_caller_who_hangs_up_in_the_queue_when_it_ends_then_the_row_is_abandoned(tracker, db):
    caller = Caller()

    await feed(
        tracker,
        caller.new_channel(),
        caller.answered(),
        caller.enters("AGI"),
        caller.enters("Queue", "main"),
        caller.joins_queue("main"),
        caller.abandons_queue("main"),
        caller.hangup({"HOTLINE_IVR_PATH": "greeting,queue", "HOTLINE_ROUTE": "queue"}),
    )

    call = row(db, caller.uniqueid)
    assert call.disposition == Disposition.ABANDONED
    assert call.queue == "main"
    assert call.agent_connected_at is None
    assert call.agent == ""


async def test_given_a_caller_who_hangs_up_during_the_greeting_when_it_ends_then_the_row_is_ivr_only(
    tracker, db
):
    caller = Caller()

    await feed(
        tracker,
        caller.new_channel(),
        caller.answered(),
        caller.enters("AGI"),
        caller.hangup({"HOTLINE_IVR_PATH": "greeting"}),
    )

    call = row(db, caller.uniqueid)
    assert call.disposition == Disposition.IVR_ONLY
    assert call.ivr_path == "greeting"
    assert call.queued_at is None
    assert call.queue == ""


async def test_given_a_call_rejected_before_answer_when_it_ends_then_the_row_is_failed(tracker, db):
    caller = Caller()

    await feed(tracker, caller.new_channel(), caller.ringing(), caller.hangup(cause="34"))

    call = row(db, caller.uniqueid)
    assert call.disposition == Disposition.FAILED
    assert call.answered_at is None
    assert call.hangup_cause == "Circuit/channel congestion"


async def test_given_every_channel_busy_when_the_call_is_turned_away_then_the_row_is_overflow(tracker, db):
    caller = Caller()

    await feed(
        tracker,
        caller.new_channel(),
        caller.answered(),
        caller.enters("Playback", "hotline/all-busy"),
        caller.hangup({"HOTLINE_OVERFLOW": "1", "HOTLINE_TRUNK": "carrier"}, cause="17"),
    )

    call = row(db, caller.uniqueid)
    assert call.disposition == Disposition.OVERFLOW
    assert call.hangup_cause == "User busy"


async def test_given_a_queue_that_gave_up_on_the_caller_when_the_call_ends_then_the_row_says_why(tracker, db):
    caller = Caller()

    await feed(
        tracker,
        caller.new_channel(),
        caller.answered(),
        caller.enters("Queue", "main"),
        caller.joins_queue("main"),
        caller.hangup({"HOTLINE_QUEUE_OVERFLOW": "timeout", "HOTLINE_IVR_PATH": "sorry,leave_message"}),
    )

    call = row(db, caller.uniqueid)
    assert call.disposition == Disposition.OVERFLOW
    assert call.end_reason == "queue main: nobody answered within max_wait; the queue's overflow flow ran"


async def test_given_a_voicemail_recorded_for_the_call_when_it_ends_then_the_row_is_voicemail(tracker, db):
    caller = Caller()
    other = Caller("1732178400.7", channel="PJSIP/carrier-00000007")
    with db.unit_of_work() as session:
        for uid in (caller.uniqueid, "1732178400.99"):
            session.add(
                Recording(
                    kind=RecordingKind.VOICEMAIL,
                    call_uniqueid=uid,
                    path=f"/var/voicemail/{uid}.wav",
                    format="wav",
                    created_at=utcnow(),
                )
            )
        session.add(
            Recording(
                kind=RecordingKind.CALL,
                call_uniqueid=other.uniqueid,
                path=f"/var/recordings/{other.uniqueid}.wav",
                format="wav",
                created_at=utcnow(),
            )
        )

    await feed(
        tracker,
        caller.new_channel(),
        other.new_channel(),
        caller.answered(),
        other.answered(),
        caller.enters("AGI"),
        other.enters("AGI"),
        caller.hangup({"HOTLINE_IVR_PATH": "after_hours,voicemail", "HOTLINE_ROUTE": "hangup"}),
        other.hangup({"HOTLINE_IVR_PATH": "greeting"}),
    )

    assert row(db, caller.uniqueid).disposition == Disposition.VOICEMAIL
    assert row(db, caller.uniqueid).ivr_path == "after_hours,voicemail"
    assert row(db, other.uniqueid).disposition == Disposition.IVR_ONLY


async def test_given_agent_and_local_legs_of_a_call_when_their_events_arrive_then_they_get_no_rows(
    tracker, db
):
    caller = Caller()
    agent = Caller(
        "1732178400.2", channel="PJSIP/seat2001-00000002", number="12345", linkedid=caller.uniqueid
    )
    local = Caller("1732178400.3", channel="Local/2001@hotline-seats-00000001;1", linkedid=caller.uniqueid)

    await feed(
        tracker,
        caller.new_channel(),
        caller.answered(),
        caller.joins_queue(),
        agent.new_channel(context="hotline-seats", exten="s"),
        local.new_channel(context="default", exten="2001"),
        agent.answered(),
        agent.enters("AGI"),
        caller.agent_connects(),
        agent.hangup(),
        local.hangup(),
    )

    assert [c.uniqueid for c in rows(db)] == [caller.uniqueid]
    assert row(db, caller.uniqueid).ended_at is None
    assert set(tracker.tracked) == {caller.uniqueid}
    assert tracker.in_agi == {}


async def test_given_a_hostile_caller_id_when_the_call_starts_then_it_is_stored_verbatim_but_clipped(
    tracker, db
):
    number = "1381234'); DROP TABLE calls;-- <script>alert(1)</script> ${SHELL(id)} \x1b[31m" + "9" * 100
    name = "张三\"' OR 1=1 --" + "名" * 200
    caller = Caller(number=number, name=name)

    await feed(tracker, caller.new_channel(), caller.hangup())

    call = row(db, caller.uniqueid)
    assert call.caller_number == number[:64]
    assert call.caller_name == name[:128]
    assert len(rows(db)) == 1


async def test_given_the_trunk_variable_when_the_call_starts_then_it_wins_over_the_context_name(tracker, db):
    caller = Caller()
    event = caller.event(
        "Newchannel", variables={"HOTLINE_TRUNK": "unicom"}, Context="hotline-trunk-carrier", Exten="12345"
    )

    await feed(tracker, event)

    assert row(db, caller.uniqueid).trunk == "unicom"


async def test_given_repeated_and_late_events_when_applied_then_the_first_answer_and_the_first_end_stand(
    tracker, db
):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.answered())
    first_answer = row(db, caller.uniqueid).answered_at

    await feed(
        tracker, caller.new_channel(), caller.answered(), caller.hangup({"HOTLINE_IVR_PATH": "greeting"})
    )
    ended = row(db, caller.uniqueid)
    await feed(
        tracker, caller.joins_queue(), caller.agent_connects(), caller.hangup({"HOTLINE_OVERFLOW": "1"})
    )

    call = row(db, caller.uniqueid)
    assert call.answered_at == first_answer
    assert call.ended_at == ended.ended_at
    assert call.disposition == Disposition.IVR_ONLY
    assert call.queued_at is None
    assert len(rows(db)) == 1


async def test_given_many_events_when_the_worker_applies_them_then_each_is_counted(tracker, db):
    callers = [Caller(f"1732178400.{i}", channel=f"PJSIP/carrier-{i:08x}") for i in range(1, 21)]

    await feed(tracker, *(c.new_channel() for c in callers), *(c.hangup() for c in callers))

    assert tracker.events_applied == 40
    assert {c.disposition for c in rows(db)} == {Disposition.FAILED}
    assert len(rows(db)) == 20


# ----- which calls sit in AGI, for the watchdog --------------------------------------------------


async def test_given_a_call_entering_agi_when_tracked_then_the_watchdog_sees_it_until_it_moves_on(
    tracker, db
):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.answered(), caller.enters("AGI"))
    entered = tracker.in_agi[caller.uniqueid]

    await feed(tracker, caller.enters("AGI"))
    assert tracker.in_agi[caller.uniqueid] is entered  # a second AGI step does not restart the clock
    assert entered.channel == CALLER

    await feed(tracker, caller.enters("GotoIf"))
    assert caller.uniqueid not in tracker.in_agi

    await feed(tracker, caller.enters("AGI"))
    assert caller.uniqueid in tracker.in_agi

    await feed(tracker, caller.hangup())
    assert tracker.in_agi == {}


async def test_given_an_untracked_channel_in_agi_when_seen_then_the_watchdog_ignores_it(tracker, db):
    agent = Caller("1732178400.2", channel="PJSIP/seat2001-00000002", linkedid="1732178400.1")

    await feed(tracker, agent.new_channel(context="hotline-seats"), agent.enters("AGI"))

    assert tracker.in_agi == {}
    assert tracker.tracked == {}


# ----- rebuilding from Asterisk after a (re)connection -------------------------------------------


async def test_given_open_rows_for_calls_asterisk_no_longer_has_when_rebuilt_then_they_close_as_abnormal(
    tracker, db
):
    open_row(db, "1732170000.1")
    open_row(db, "1732170000.2", node="media2")

    tracker.rebuild([], known_before=set())
    await asyncio.wait_for(tracker.drain(), 5)

    gone = row(db, "1732170000.1")
    assert gone.disposition == Disposition.ABNORMAL
    assert gone.ended_at is not None
    assert "not live" in gone.end_reason
    other_node = row(db, "1732170000.2")
    assert other_node.ended_at is None
    assert other_node.disposition == Disposition.IN_PROGRESS


async def test_given_live_calls_without_rows_when_rebuilt_then_they_are_adopted_and_tracked(tracker, db):
    caller = Caller("1732178400.5", channel="PJSIP/carrier-00000005")
    agent_leg = Caller("1732178400.6", channel="PJSIP/seat2001-00000006", linkedid=caller.uniqueid)
    seat_call = Caller("1732178400.8", channel="PJSIP/seat2002-00000008")
    other_app = Caller("1732178400.9", channel="PJSIP/other-00000009")
    before = utcnow()

    tracker.rebuild(
        [
            caller.live(application="Queue", duration="00:01:05"),
            agent_leg.live(application="AppQueue", context="hotline-seats"),
            seat_call.live(application="Dial", context="hotline-seats"),
            other_app.live(application="Dial", context="from-internal"),
            {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "4"},
        ],
        known_before=set(),
    )
    await asyncio.wait_for(tracker.drain(), 5)

    assert [c.uniqueid for c in rows(db)] == [caller.uniqueid]
    adopted = row(db, caller.uniqueid)
    assert adopted.ended_at is None
    assert adopted.channel == "PJSIP/carrier-00000005"
    assert adopted.caller_number == "13812345678"
    assert before - timedelta(seconds=66) <= adopted.started_at <= utcnow() - timedelta(seconds=64)
    assert tracker.tracked == {caller.uniqueid: "PJSIP/carrier-00000005"}

    await feed(tracker, caller.joins_queue(), caller.agent_connects(), caller.hangup())
    assert row(db, caller.uniqueid).disposition == Disposition.ANSWERED


async def test_given_a_live_call_that_already_has_a_row_when_rebuilt_then_the_row_stays_open(tracker, db):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.answered())
    started = row(db, caller.uniqueid).started_at

    tracker.rebuild([caller.live(application="Queue")], known_before=set(tracker.tracked))
    await asyncio.wait_for(tracker.drain(), 5)

    assert len(rows(db)) == 1
    call = row(db, caller.uniqueid)
    assert call.ended_at is None
    assert call.started_at == started


async def test_given_a_call_that_ended_unseen_and_one_that_began_during_the_request_when_rebuilt_then_only_the_first_closes(  # noqa: E501
    tracker, db
):
    ended_unseen = Caller("1732178400.1", channel="PJSIP/carrier-00000001")
    began_meanwhile = Caller("1732178400.2", channel="PJSIP/carrier-00000002")
    await feed(tracker, ended_unseen.new_channel(), ended_unseen.answered(), ended_unseen.enters("AGI"))
    known_before = set(tracker.tracked)
    # CoreShowChannels was sent; while its answer travels, a new call arrives.
    await feed(tracker, began_meanwhile.new_channel())

    tracker.rebuild([], known_before=known_before)
    await asyncio.wait_for(tracker.drain(), 5)

    assert row(db, ended_unseen.uniqueid).disposition == Disposition.ABNORMAL
    assert row(db, began_meanwhile.uniqueid).ended_at is None
    assert set(tracker.tracked) == {began_meanwhile.uniqueid}
    assert tracker.in_agi == {}

    await feed(tracker, began_meanwhile.answered(), began_meanwhile.hangup({"HOTLINE_IVR_PATH": "greeting"}))
    assert row(db, began_meanwhile.uniqueid).disposition == Disposition.IVR_ONLY


async def test_given_a_live_call_inside_agi_when_rebuilt_then_the_watchdog_watches_it_from_now(tracker, db):
    caller = Caller()
    before = time.monotonic()

    tracker.rebuild([caller.live(application="AGI", duration="00:10:00")], known_before=set())
    await asyncio.wait_for(tracker.drain(), 5)

    stuck = tracker.in_agi[caller.uniqueid]
    assert stuck.channel == CALLER
    assert before <= stuck.since <= time.monotonic()


async def test_given_a_call_that_left_agi_while_disconnected_when_rebuilt_then_the_watchdog_forgets_it(
    tracker, db
):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.answered(), caller.enters("AGI"))
    # AMI drops; meanwhile the flow finished and the caller now talks to an agent in the queue.

    tracker.rebuild([caller.live(application="Queue")], known_before=set(tracker.tracked))
    await asyncio.wait_for(tracker.drain(), 5)

    assert tracker.in_agi == {}
    assert caller.uniqueid in tracker.tracked
    assert row(db, caller.uniqueid).ended_at is None


async def test_given_a_call_still_in_agi_when_rebuilt_then_its_time_in_agi_is_kept(tracker, db):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.answered(), caller.enters("AGI"))
    entered = tracker.in_agi[caller.uniqueid]

    tracker.rebuild([caller.live(application="AGI")], known_before=set(tracker.tracked))
    await asyncio.wait_for(tracker.drain(), 5)

    assert tracker.in_agi[caller.uniqueid] is entered


# ----- the AGI watchdog --------------------------------------------------------------------------


class RecordingAmi:
    """Stands in for AmiClient.send: records each action, or fails like a lost AMI link."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[AmiAction] = []
        self.fail = fail

    async def send(self, action: AmiAction) -> list[dict[str, Any]]:
        if self.fail is not None:
            raise self.fail
        self.sent.append(action)
        return [{"Response": "Success"}]


def watchdog(tracker: CallTracker, ami: RecordingAmi, limit: float) -> AgiWatchdog:
    return AgiWatchdog(tracker, cast(AmiClient, ami), idle_limit=limit, total_limit=limit)


async def test_given_a_call_stuck_in_agi_when_the_watchdog_checks_then_it_is_redirected_once(tracker, db):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.answered(), caller.enters("AGI"))
    ami = RecordingAmi()
    dog = watchdog(tracker, ami, limit=0)

    await dog.check()
    await dog.check()

    assert [a.fields() for a in ami.sent] == [
        Redirect(channel=CALLER, context=FALLBACK_CONTEXT, exten="s").fields()
    ]
    assert ami.sent[0].fields() == {
        "Action": "Redirect",
        "Channel": CALLER,
        "Context": "hotline-fallback",
        "Exten": "s",
        "Priority": "1",
    }
    assert dog.redirected == 1
    assert tracker.in_agi == {}
    assert caller.uniqueid in tracker.tracked


async def test_given_a_call_young_in_agi_when_the_watchdog_checks_then_it_is_left_alone(tracker, db):
    young, old = Caller("1732178400.1"), Caller("1732178400.2", channel="PJSIP/carrier-00000002")
    await feed(tracker, young.new_channel(), old.new_channel(), young.enters("AGI"), old.enters("AGI"))
    # The old call has a command running (idle_since None), but has been in AGI past the ceiling.
    tracker.in_agi[old.uniqueid] = StuckCall(old.channel, time.monotonic() - 200, None)
    ami = RecordingAmi()

    await watchdog(tracker, ami, limit=130).check()

    assert [a.fields()["Channel"] for a in ami.sent] == ["PJSIP/carrier-00000002"]
    assert set(tracker.in_agi) == {young.uniqueid}


async def test_given_ami_down_when_the_watchdog_redirects_then_it_gives_up_on_that_call_quietly(tracker, db):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.enters("AGI"))
    ami = RecordingAmi(fail=AmiUnavailable("Redirect: AMI is not connected"))
    dog = watchdog(tracker, ami, limit=0)

    await dog.check()

    assert dog.redirected == 0
    assert tracker.in_agi == {}


async def test_given_a_hostile_channel_name_when_the_watchdog_redirects_then_nothing_is_sent(tracker, db):
    caller = Caller(channel="PJSIP/x\r\nAction: Originate\r\nChannel: PJSIP/premium")
    await feed(tracker, caller.new_channel(), caller.enters("AGI"))
    ami = RecordingAmi()
    dog = watchdog(tracker, ami, limit=0)

    await dog.check()

    assert ami.sent == []
    assert dog.redirected == 0
    assert tracker.in_agi == {}


async def test_given_a_long_prompt_playing_when_the_watchdog_checks_then_only_silence_counts(tracker, db):
    caller = Caller()
    await feed(tracker, caller.new_channel(), caller.enters("AGI"))
    started = {"Event": "AGIExecStart", "Uniqueid": caller.uniqueid, "Command": "STREAM FILE x"}
    await feed(tracker, started)
    tracker.in_agi[caller.uniqueid].since = time.monotonic() - 50
    ami = RecordingAmi()
    dog = AgiWatchdog(tracker, cast(AmiClient, ami), idle_limit=5, total_limit=600)

    await dog.check()
    assert ami.sent == []  # Asterisk is playing a prompt: working, not stuck

    await feed(tracker, {"Event": "AGIExecEnd", "Uniqueid": caller.uniqueid})
    tracker.in_agi[caller.uniqueid].idle_since = time.monotonic() - 6
    await dog.check()
    assert [a.fields()["Context"] for a in ami.sent] == ["hotline-fallback"]
