"""Every AMI action the platform sends, as a typed value that validates its own fields.

panoramisk writes ``Key: value`` lines without looking at the value, so a caller-supplied string
with CR/LF could append a second action (e.g. an Originate) to ours. Each action here checks every
value against the narrowest pattern it can have before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import ClassVar

_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/@._:;+-]{0,127}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_EXTEN = re.compile(r"^[A-Za-z0-9_+*#-]{1,80}$")
_MODULE = re.compile(r"^[a-z0-9_]{1,64}(\.so)?$")
_VAR_NAME = re.compile(r"^_{0,2}[A-Z][A-Z0-9_]{0,63}$")
_FORBIDDEN = re.compile(r"[\r\n\0]")
# A queue member's dial string: PJSIP/seat1001, Local/1001@hotline-agents/n. No ',' (queues.conf
# member syntax), ';' or '|' (app_queue stores persistent members in astdb joined by ';' and '|').
_INTERFACE = re.compile(
    r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.+*#-]{1,80}(@[A-Za-z0-9_-]{1,80})?(/[a-z]{1,4})?$"
)
# Custom device states (hints set from our own code) are also accepted as a state interface.
_STATE_INTERFACE = re.compile(rf"{_INTERFACE.pattern}|^Custom:[A-Za-z0-9_-]{{1,80}}$")
# Pause reasons and member names are shown to people, so Chinese letters are allowed (\w is
# Unicode-aware); the same ';' and '|' ban applies, and queue_log fields are '|'-separated.
_LABEL = re.compile(r"^[\w .:()（）·-]{1,64}$")


class UnsafeAmiValue(ValueError):
    """A value would change the meaning of the AMI message; nothing was sent."""


def check(field: str, value: str, pattern: re.Pattern[str]) -> str:
    if _FORBIDDEN.search(value) or not pattern.fullmatch(value):
        raise UnsafeAmiValue(f"AMI field {field} refused: {value[:40]!r}")
    return value


def check_free_text(field: str, value: str) -> str:
    """Text that may hold anything printable (a reason, a caller name) but never a line break."""
    if _FORBIDDEN.search(value) or len(value) > 256:
        raise UnsafeAmiValue(f"AMI field {field} refused: line break or too long")
    return value


@dataclass(frozen=True)
class AmiAction:
    name: ClassVar[str]
    # Actions whose reply is a list of events closed by a ...Complete event.
    is_list: ClassVar[bool] = False

    def fields(self) -> dict[str, str]:
        out = {"Action": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            # Asterisk reads booleans with ast_true(): send the spelling its docs use.
            out[_ami_key(f.name)] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in out.items():
            if _FORBIDDEN.search(key) or _FORBIDDEN.search(value):
                raise UnsafeAmiValue(f"AMI field {key} holds a line break")
        return out


def _ami_key(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@dataclass(frozen=True)
class CoreShowChannels(AmiAction):
    name: ClassVar[str] = "CoreShowChannels"
    is_list: ClassVar[bool] = True


@dataclass(frozen=True)
class Redirect(AmiAction):
    name: ClassVar[str] = "Redirect"
    channel: str
    context: str
    exten: str
    priority: int = 1

    def __post_init__(self) -> None:
        check("Channel", self.channel, _CHANNEL)
        check("Context", self.context, _NAME)
        check("Exten", self.exten, _EXTEN)
        if not 1 <= self.priority <= 999:
            raise UnsafeAmiValue("Priority out of range")


@dataclass(frozen=True)
class Hangup(AmiAction):
    name: ClassVar[str] = "Hangup"
    channel: str
    cause: int = 16

    def __post_init__(self) -> None:
        check("Channel", self.channel, _CHANNEL)


@dataclass(frozen=True)
class Setvar(AmiAction):
    name: ClassVar[str] = "Setvar"
    channel: str
    variable: str
    value: str

    def __post_init__(self) -> None:
        check("Channel", self.channel, _CHANNEL)
        check("Variable", self.variable, _VAR_NAME)
        check_free_text("Value", self.value)


@dataclass(frozen=True)
class ModuleReload(AmiAction):
    """Reload one module (or all, with module None). AMI calls this ModuleLoad with LoadType reload."""

    name: ClassVar[str] = "ModuleLoad"
    module: str | None = None
    load_type: str = "reload"

    def __post_init__(self) -> None:
        if self.module is not None:
            check("Module", self.module, _MODULE)


@dataclass(frozen=True)
class QueueStatus(AmiAction):
    name: ClassVar[str] = "QueueStatus"
    is_list: ClassVar[bool] = True
    queue: str | None = None

    def __post_init__(self) -> None:
        if self.queue is not None:
            check("Queue", self.queue, _NAME)


@dataclass(frozen=True)
class Ping(AmiAction):
    name: ClassVar[str] = "Ping"


# ----- queue membership: how a seat logs in, out and pauses --------------------------------------


def _check_penalty(penalty: int) -> None:
    if isinstance(penalty, bool) or not isinstance(penalty, int) or not 0 <= penalty <= 1000:
        raise UnsafeAmiValue("Penalty out of range")


@dataclass(frozen=True)
class QueueAdd(AmiAction):
    """Make an interface a dynamic member of one queue (a seat logging in)."""

    name: ClassVar[str] = "QueueAdd"
    queue: str
    interface: str
    penalty: int = 0
    paused: bool = False
    member_name: str | None = None
    state_interface: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        check("Queue", self.queue, _NAME)
        check("Interface", self.interface, _INTERFACE)
        _check_penalty(self.penalty)
        if self.member_name is not None:
            check("MemberName", self.member_name, _LABEL)
        if self.state_interface is not None:
            check("StateInterface", self.state_interface, _STATE_INTERFACE)
        if self.reason is not None:
            if not self.paused:
                raise UnsafeAmiValue("Reason given for a member added unpaused")
            check("Reason", self.reason, _LABEL)


@dataclass(frozen=True)
class QueueRemove(AmiAction):
    """Remove a dynamic member from one queue; app_queue refuses this for static members."""

    name: ClassVar[str] = "QueueRemove"
    queue: str
    interface: str

    def __post_init__(self) -> None:
        check("Queue", self.queue, _NAME)
        check("Interface", self.interface, _INTERFACE)


@dataclass(frozen=True)
class QueuePause(AmiAction):
    """Pause or unpause a member, in one queue or (queue None) in every queue it belongs to."""

    name: ClassVar[str] = "QueuePause"
    interface: str
    paused: bool
    queue: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        check("Interface", self.interface, _INTERFACE)
        if self.queue is not None:
            check("Queue", self.queue, _NAME)
        if self.reason is not None:
            check("Reason", self.reason, _LABEL)


def check_interface(value: str) -> str:
    return check("Interface", value, _INTERFACE)


def check_label(field: str, value: str) -> str:
    """A pause reason or member name: printable words (Chinese included), never a separator."""
    return check(field, value, _LABEL)


# ----- recording: the agent pauses it while a citizen reads out an ID or bank number -------------

MIXMONITOR_DIRECTIONS = frozenset({"read", "write", "both"})


@dataclass(frozen=True)
class MixMonitorMute(AmiAction):
    """Mute (or unmute) the MixMonitor running on one channel.

    Asterisk keeps writing while muted, silence in place of the voice, so the files keep their
    length and a transcript's times still match the call. ``both`` mutes what the channel says
    (read) and what it hears (write): on the caller's channel, the citizen and the agent. The
    State is sent as 1/0, the spelling its docs give (not the true/false of other booleans).
    Asterisk answers an error when no MixMonitor runs on the channel.
    """

    name: ClassVar[str] = "MixMonitorMute"
    channel: str
    muted: bool
    direction: str = "both"

    def __post_init__(self) -> None:
        check("Channel", self.channel, _CHANNEL)
        if self.direction not in MIXMONITOR_DIRECTIONS:
            raise UnsafeAmiValue("Direction must be read, write or both")

    def fields(self) -> dict[str, str]:
        return {
            "Action": self.name,
            "Channel": self.channel,
            "Direction": self.direction,
            "State": "1" if self.muted else "0",
        }


# ----- supervision: a supervisor's phone joins an agent's call -----------------------------------

SPY_MODES = {"listen": "", "whisper": "w", "barge": "B"}


@dataclass(frozen=True)
class SpyOn(AmiAction):
    """Ring the supervisor's seat; when answered, ChanSpy on one agent channel.

    Options: q (no beep or name announcement to the supervisor), E (end when the agent's channel
    hangs up), plus w (whisper: the agent hears the supervisor, the caller does not) or B (barge:
    both hear). The spied channel is the exact channel name, so only that call is joined.
    """

    name: ClassVar[str] = "Originate"
    channel: str  # the supervisor's seat, e.g. PJSIP/seat3001
    spied_channel: str
    mode: str = "listen"
    timeout_ms: int = 20000

    def __post_init__(self) -> None:
        check("Channel", self.channel, _INTERFACE)
        check("Data", self.spied_channel, _CHANNEL)
        if self.mode not in SPY_MODES:
            raise UnsafeAmiValue("spy mode must be listen, whisper or barge")
        if not 1000 <= self.timeout_ms <= 120000:
            raise UnsafeAmiValue("Timeout out of range")

    def fields(self) -> dict[str, str]:
        return {
            "Action": self.name,
            "Channel": self.channel,
            "Application": "ChanSpy",
            "Data": f"{self.spied_channel},qE{SPY_MODES[self.mode]}",
            "Timeout": str(self.timeout_ms),
            "CallerID": f"spy <{self.mode}>",
            # Async: the reply comes at once; the supervisor's phone may ring for a while.
            "Async": "true",
        }
