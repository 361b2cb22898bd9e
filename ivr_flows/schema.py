"""An IVR flow as typed data: a start step and named steps, each of one known kind.

A flow file says what a caller hears and where each key leads; it holds no code. Anything a
caller can influence is a choice among destinations written here, so no keypress can name a queue,
a file or a channel variable. Rules that look across steps (destinations exist, every step is
reachable, loops are bounded, queues are configured) live in ``ivr_flows.checks`` so that each
finding can be placed on a line of the file.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from hotline.settings import NAME_PATTERN

# The keys of a telephone keypad. Asterisk can also report A-D (from old test sets); no flow may
# use them, so a caller's equipment cannot reach a branch the flow's author never saw.
PHONE_KEYS = "0123456789*#"

_STEP_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
PROMPT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_NAME = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))
_CHANNEL_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
# Static values end up as an AGI command argument; no quotes, backslashes or control characters.
_STATIC_VALUE = re.compile(r"[^\x00-\x1f\x7f\"\\]{0,200}")
RESERVED_VARIABLE_PREFIX = "HOTLINE_"
MAX_STEPS_PER_FLOW = 500
MAX_COLLECTED_DIGITS = 32


def _step_id(value: str) -> str:
    if not _STEP_ID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a step id: lowercase letters, digits and _, starting with a letter, "
            "at most 40 characters"
        )
    return value


def _identifier(value: str) -> str:
    # Flow variables, features and exit names share the step-id alphabet.
    if not _STEP_ID.fullmatch(value):
        raise ValueError(f"{value!r}: use lowercase letters, digits and _, starting with a letter")
    return value


def _prompt(value: str) -> str:
    # Prompt names become file names, so the alphabet also rules out paths ("../") and extensions.
    if not PROMPT_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a prompt name: lowercase letters, digits and _, no path")
    return value


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r}: use lowercase letters, digits, _ and -, starting with a letter")
    return value


def _phone_key(value: str) -> str:
    if len(value) != 1 or value not in PHONE_KEYS:
        raise ValueError(f"{value!r} is not a phone key; use one of 0-9, * or #")
    return value


def _channel_variable(value: str) -> str:
    if not _CHANNEL_VARIABLE.fullmatch(value):
        raise ValueError(f"{value!r}: channel variables are uppercase letters, digits and _")
    if value.startswith(RESERVED_VARIABLE_PREFIX):
        # The platform's own variables (telephony.channel_vars) steer the dialplan; a flow that
        # could overwrite HOTLINE_ROUTE or HOTLINE_QUEUE could bypass the completion check.
        raise ValueError(f"{value!r}: names starting with {RESERVED_VARIABLE_PREFIX} are reserved")
    return value


StepId = Annotated[str, AfterValidator(_step_id)]
Identifier = Annotated[str, AfterValidator(_identifier)]
PromptName = Annotated[str, AfterValidator(_prompt)]
Name = Annotated[str, AfterValidator(_name)]
PhoneKey = Annotated[str, AfterValidator(_phone_key)]
ChannelVariable = Annotated[str, AfterValidator(_channel_variable)]

# Where inside a step a destination or prompt is written, relative to the step: ("choices", "1").
FieldPath = tuple[str, ...]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def destinations(self) -> list[tuple[FieldPath, str]]:
        """Every step this one can lead to, with the field it is written in."""
        return []

    def prompts(self) -> list[tuple[FieldPath, str]]:
        """Every prompt this step can play, with the field it is written in."""
        return []

    @staticmethod
    def _present(*pairs: tuple[FieldPath, str | None]) -> list[tuple[FieldPath, str]]:
        return [(where, value) for where, value in pairs if value is not None]


class KeyChoice(BaseModel):
    """A key a caller may press during a play step; ``feature`` makes it exist only when enabled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: StepId
    feature: Identifier | None = Field(None, description="Active only when listed in ivr.features")
    hint: PromptName | None = Field(None, description="Played after the step's prompt when active")


class PlayStep(_Step):
    """Say something; optional keys let the caller leave early, e.g. to self-service."""

    type: Literal["play"]
    prompt: PromptName
    next: StepId
    keys: dict[PhoneKey, KeyChoice] = {}
    key_wait_ms: int = Field(2000, ge=0, le=10000, description="Wait for a key after the last prompt")

    @field_validator("keys", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        # `"1": self_service` is the short form of `"1": {to: self_service}`.
        if isinstance(value, dict):
            return {k: {"to": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def destinations(self) -> list[tuple[FieldPath, str]]:
        keyed = [(("keys", key, "to"), choice.to) for key, choice in self.keys.items()]
        return [(("next",), self.next), *keyed]

    def prompts(self) -> list[tuple[FieldPath, str]]:
        hints = self._present(*((("keys", key, "hint"), c.hint) for key, c in self.keys.items()))
        return [(("prompt",), self.prompt), *hints]


class MenuStep(_Step):
    """A short voice menu. Wrong keys and silence are retried up to ``max_tries`` per call."""

    type: Literal["menu"]
    prompt: PromptName
    choices: dict[PhoneKey, StepId] = Field(min_length=1)
    timeout_ms: int = Field(5000, ge=1000, le=60000)
    max_tries: int = Field(3, ge=1, le=9)
    invalid_prompt: PromptName = "invalid"
    timeout_prompt: PromptName = "timeout"
    on_invalid: StepId | None = Field(None, description="After a wrong key; none: ask again")
    on_timeout: StepId | None = Field(None, description="After silence; none: ask again")
    on_failure: StepId | None = Field(None, description="After max_tries; none: the main queue")

    def destinations(self) -> list[tuple[FieldPath, str]]:
        chosen = [(("choices", key), target) for key, target in self.choices.items()]
        return chosen + self._present(
            (("on_invalid",), self.on_invalid),
            (("on_timeout",), self.on_timeout),
            (("on_failure",), self.on_failure),
        )

    def prompts(self) -> list[tuple[FieldPath, str]]:
        return [
            (("prompt",), self.prompt),
            (("invalid_prompt",), self.invalid_prompt),
            (("timeout_prompt",), self.timeout_prompt),
        ]


class CollectDigitsStep(_Step):
    """Ask for a number (a case number, say) and keep it in a flow variable for later steps."""

    type: Literal["collect_digits"]
    prompt: PromptName
    into: Identifier
    min_digits: int = Field(1, ge=1, le=MAX_COLLECTED_DIGITS)
    max_digits: int = Field(ge=1, le=MAX_COLLECTED_DIGITS)
    pattern: str | None = Field(None, description="Regular expression the whole input must match")
    timeout_ms: int = Field(8000, ge=1000, le=60000)
    max_tries: int = Field(3, ge=1, le=9)
    invalid_prompt: PromptName = "invalid"
    timeout_prompt: PromptName = "timeout"
    next: StepId
    on_failure: StepId | None = Field(None, description="After max_tries; none: the main queue")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _range(self) -> CollectDigitsStep:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits must not exceed max_digits")
        return self

    def destinations(self) -> list[tuple[FieldPath, str]]:
        return self._present((("next",), self.next), (("on_failure",), self.on_failure))

    def prompts(self) -> list[tuple[FieldPath, str]]:
        return [
            (("prompt",), self.prompt),
            (("invalid_prompt",), self.invalid_prompt),
            (("timeout_prompt",), self.timeout_prompt),
        ]


class BusinessHoursStep(_Step):
    """Branch on the business calendar (settings.business_hours) at the moment of the call."""

    type: Literal["business_hours"]
    open: StepId
    closed: StepId
    holiday: StepId | None = Field(None, description="None: same as closed")

    def destinations(self) -> list[tuple[FieldPath, str]]:
        return self._present((("open",), self.open), (("closed",), self.closed), (("holiday",), self.holiday))


class SetVariableStep(_Step):
    """Set a channel variable for the dialplan or the agent's screen pop."""

    type: Literal["set_variable"]
    name: ChannelVariable
    value: str | None = Field(None, description="Static text")
    from_digits: Identifier | None = Field(None, description="A flow variable filled by collect_digits")
    next: StepId

    @field_validator("value")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        if value is not None and not _STATIC_VALUE.fullmatch(value):
            raise ValueError("at most 200 characters, without quotes, backslashes or control characters")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SetVariableStep:
        if (self.value is None) == (self.from_digits is None):
            raise ValueError("give exactly one of value or from_digits")
        return self

    def destinations(self) -> list[tuple[FieldPath, str]]:
        return [(("next",), self.next)]


class QueueStep(_Step):
    """Hand the call to a queue of agents; the flow ends here."""

    type: Literal["queue"]
    queue: Name | None = Field(None, description="A configured queue; none: ivr.main_queue")
    prompt: PromptName | None = None

    def prompts(self) -> list[tuple[FieldPath, str]]:
        return self._present((("prompt",), self.prompt))


class VoicemailStep(_Step):
    """Record a message from the caller (after hours, or a survey answer), then go on."""

    type: Literal["voicemail"]
    prompt: PromptName
    keep_as: Literal["voicemail", "survey"] = Field(
        "voicemail", description="What the recording is kept as: its retention and its use differ"
    )
    max_seconds: int = Field(120, ge=5, le=600)
    silence_seconds: int = Field(5, ge=0, le=60, description="Stop after this much silence; 0: never")
    next: StepId

    def destinations(self) -> list[tuple[FieldPath, str]]:
        return [(("next",), self.next)]

    def prompts(self) -> list[tuple[FieldPath, str]]:
        return [(("prompt",), self.prompt)]


class HangupStep(_Step):
    """Say goodbye and end the call."""

    type: Literal["hangup"]
    prompt: PromptName | None = None

    def prompts(self) -> list[tuple[FieldPath, str]]:
        return self._present((("prompt",), self.prompt))


class PythonStep(_Step):
    """A named Python step (see ``ivr_flows.steps``): the escape hatch for logic data cannot say."""

    type: Literal["python"]
    step: Identifier
    exits: dict[Identifier, StepId] = Field(min_length=1)

    def destinations(self) -> list[tuple[FieldPath, str]]:
        return [(("exits", name), target) for name, target in self.exits.items()]


Step = Annotated[
    PlayStep
    | MenuStep
    | CollectDigitsStep
    | BusinessHoursStep
    | SetVariableStep
    | QueueStep
    | VoicemailStep
    | HangupStep
    | PythonStep,
    Field(discriminator="type"),
]
STEP_TYPES = (
    "play",
    "menu",
    "collect_digits",
    "business_hours",
    "set_variable",
    "queue",
    "voicemail",
    "hangup",
    "python",
)
# Steps that wait for the caller and count failed tries: only these may sit on a loop.
BOUNDED_STEPS = (MenuStep, CollectDigitsStep)


class Flow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    description: str = ""
    start: StepId
    steps: dict[StepId, Step] = Field(min_length=1, max_length=MAX_STEPS_PER_FLOW)
