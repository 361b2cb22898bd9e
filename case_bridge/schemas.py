"""The cases API's bodies and answers (agents_ui.cases_api), stated so that the OpenAPI document
holds the limits the code enforces.

Times are UTC ISO 8601 in every field named ``*_at``; ``local`` holds the same instants as the
site's zone writes them ("2026-09-24 00:00"), for pages that show them as they are. The service
checks every value again (case_bridge.service): these types say the rules where a client reads
them, they are not the only guard.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from case_bridge.lifecycle import CaseAction, CaseStatus
from case_bridge.models import Satisfaction, Urgency
from case_bridge.service import MAX_CONTENT, MAX_EXTENSION_DAYS
from telephony.channel_vars import UNIQUEID_PATTERN

# A catalogue code (case_bridge.catalogue_admin.CODE), or empty for "none": pages send the empty
# value of a select as it is.
CODE_OR_EMPTY = r"^([a-z][a-z0-9_]{0,39})?$"
# No control characters: a name or a line (PostgreSQL refuses NUL outright).
NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
# Text of several lines: tab, line feed and carriage return are the only controls.
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
CASE_NUMBER = r"^[0-9]{13,14}$"
CASE_NUMBER_OR_EMPTY = r"^([0-9]{13,14})?$"
# A call's Asterisk uniqueid, whole (a node's name may lead it).
CALL_ID = f"^{UNIQUEID_PATTERN}$"
ROW_ID_MAX = 2**31 - 1

CodeOrEmpty = Annotated[str, Field(pattern=CODE_OR_EMPTY, description="A catalogue code; empty: none")]
Line = Annotated[str, Field(pattern=NO_CONTROLS)]
Reason = Annotated[str, Field(max_length=2000, pattern=LINES)]


class Named(BaseModel):
    """A department or a category as a list shows it."""

    code: str
    name: str
    name_en: str


class LocalTimes(BaseModel):
    """The case's instants in the site's zone, minutes only ("2026-09-24 00:00"); null when the
    instant is."""

    created_at: str | None = None
    dispatched_at: str | None = None
    sign_due_at: str | None = None
    signed_at: str | None = None
    warn_at: str | None = None
    due_at: str | None = None
    replied_at: str | None = None
    closed_at: str | None = None


class CaseSummary(BaseModel):
    """A case as a list shows it."""

    number: str
    title: str
    status: CaseStatus
    source: str
    urgency: str
    category: Named | None
    department: Named | None = Field(description="Where the case is (or was last) dispatched")
    caller_number: str = Field(description="Masked (138****5678) unless the role may see it whole")
    caller_masked: bool
    street: str
    grid_cell: str
    address: str
    created_at: datetime
    dispatched_at: datetime | None
    sign_due_at: datetime | None = Field(description="When the department must have signed for it")
    signed_at: datetime | None
    due_at: datetime | None = Field(description="When the department must have answered")
    replied_at: datetime | None
    closed_at: datetime | None
    overdue: bool = Field(description="With the department, and its deadline passed")
    supervised: bool = Field(description="Pressed by a supervisor (督办)")
    extension_pending: bool = Field(description="The department asked for more time; undecided")
    extension_days: int = Field(description="Working days asked for, when pending; else 0")
    local: LocalTimes


class CasePageOut(BaseModel):
    cases: list[CaseSummary]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last")


class EventOut(BaseModel):
    """One line of the timeline: who did what, when, and what it changed."""

    id: int
    at: datetime
    at_local: str
    actor: str = Field(description="A username, or system:<what> (timer, voicemail, …)")
    party: str = Field(description="hotline, department, supervisor or system")
    action: str
    from_status: str
    to_status: str
    note: str = Field(description="The reason or note given")
    data: dict[str, Any] = Field(description="What the action carried (department, days, reply, …)")


class RecordingBrief(BaseModel):
    id: int
    kind: str = Field(description="call, voicemail or survey")
    status: str
    duration_ms: int | None
    asr_status: str


class PhraseOut(BaseModel):
    phrase: str
    category: str
    urgent: bool
    speaker: str
    start_ms: int


class TranscriptOut(BaseModel):
    engine: str
    created_at: datetime
    text: str = Field(description="Line by line, each line 'caller: …' or 'agent: …'")


class CallOut(BaseModel):
    """A call about the case (the first, or a repeat call linked later)."""

    uniqueid: str
    linked_at: datetime
    linked_by: str
    started_at: datetime | None = Field(description="Null when the call is not on record here")
    ended_at: datetime | None
    caller: str = Field(description="Masked as the case's caller is")
    agent: str
    queue: str
    recording: RecordingBrief | None = Field(description="The call's recording (or voicemail)")
    recordings: list[RecordingBrief]
    transcript: TranscriptOut | None
    key_phrases: list[PhraseOut]


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    event_id: int | None = Field(description="The timeline line it was given with (a reply), if any")
    url: str


class CaseOut(CaseSummary):
    """One case: everything about it, and what the user asking may do with it now."""

    content: str
    caller_name: str
    caller_email: str
    lat: float | None
    long: float | None
    created_by: str
    warn_at: datetime | None
    reply_text: str
    satisfaction: str
    evaluation_note: str
    supervision_reason: str
    extension_reason: str
    extensions_granted: int
    returns: int
    reopens: int
    merged_into: str | None = Field(description="The case this one was merged into, as a repeat")
    external_ref: str
    calendar_guessed: str = Field(description="Years whose holidays were not known when the deadline was set")
    zone: str = Field(description="The site's time zone, which ``local`` is written in")
    timeline: list[EventOut]
    calls: list[CallOut]
    attachments: list[AttachmentOut]
    actions: list[CaseAction] = Field(
        description="What the user asking may do now (the lifecycle's rules for their side): the "
        "page's buttons. POST /api/cases/{number}/actions/{action}"
    )


class CandidateOut(CaseSummary):
    reasons: list[Literal["same_caller", "same_place", "similar_text"]]
    similarity: float = Field(description="Share of the new text's weight this case's text holds (0-1)")


class CandidatesOut(BaseModel):
    candidates: list[CandidateOut]


class ResolvedOut(CaseSummary):
    """A closed case like the text asked about: how, by whom and how fast it was resolved."""

    reply_text: str
    similarity: float
    same_category: bool
    hours: float | None = Field(description="From dispatch to closing")
    working_days: int | None = Field(description="Working days from dispatch to closing")


class ResolvedListOut(BaseModel):
    cases: list[ResolvedOut]


class CategoryOut(BaseModel):
    code: str
    name: str
    name_en: str
    parent: str | None = Field(description="The parent's code; null at the top of the tree")
    kind: str = Field(description="event, component (city management, GB/T 30428) or service")
    description: str
    leaf: bool = Field(description="Cases are filed under leaves")
    limit_days: int = Field(description="Working days to complete a normal case")
    urgent_hours: int = Field(description="Clock hours to complete an urgent case")
    default_department: str | None = Field(description="Where its cases go when no rule says otherwise")
    open311: bool


class CategoriesOut(BaseModel):
    categories: list[CategoryOut]


class DepartmentsOut(BaseModel):
    departments: list[Named]


class Refusal(BaseModel):
    """The lifecycle refused the action now (someone moved the case meanwhile, or it is not the
    case's time for it); ``detail`` says why in words a user can act on."""

    detail: str
    action: str


# ----- what clients send --------------------------------------------------------------------------
class _Body(BaseModel):
    # A misspelt field is refused rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


class NewCaseIn(_Body):
    content: str = Field("", max_length=MAX_CONTENT, description="What the citizen asks or reports")
    title: Annotated[str, Field(max_length=200, pattern=NO_CONTROLS)] = Field(
        "", description="Empty: the content's first words"
    )
    category: CodeOrEmpty = Field("", description="A leaf of GET /api/case-categories")
    urgency: Urgency | None = Field(None, description="Empty: the site's cases.default_urgency")
    caller_number: Annotated[str, Field(max_length=32, pattern=NO_CONTROLS)] = ""
    caller_name: Annotated[str, Field(max_length=64, pattern=NO_CONTROLS)] = ""
    caller_email: Annotated[str, Field(max_length=128, pattern=NO_CONTROLS)] = ""
    address: Annotated[str, Field(max_length=256, pattern=NO_CONTROLS)] = ""
    street: Annotated[str, Field(max_length=64, pattern=NO_CONTROLS)] = ""
    grid_cell: Annotated[str, Field(max_length=32, pattern=NO_CONTROLS)] = ""
    lat: float | None = Field(None, ge=-90, le=90)
    long: float | None = Field(None, ge=-180, le=180)
    department: CodeOrEmpty = Field("", description="Empty: routed by category and place")
    calls: list[Annotated[str, Field(pattern=CALL_ID)]] = Field(
        default_factory=list, max_length=20, description="Uniqueids of the calls it came from"
    )
    dispatch: bool = Field(True, description="Send it to the department now (when one is known)")
    intake_only: bool = Field(False, description="Keep it in intake: not filed, not dispatched")


class CaseChangeIn(_Body):
    """Details to correct while the case is with the hotline (intake, filed, returned); a field
    left out stays as it is."""

    category: CodeOrEmpty | None = None
    title: Annotated[str, Field(max_length=200, pattern=NO_CONTROLS)] | None = None
    content: Annotated[str, Field(max_length=MAX_CONTENT)] | None = None
    address: Annotated[str, Field(max_length=256, pattern=NO_CONTROLS)] | None = None
    street: Annotated[str, Field(max_length=64, pattern=NO_CONTROLS)] | None = None
    grid_cell: Annotated[str, Field(max_length=32, pattern=NO_CONTROLS)] | None = None
    urgency: Urgency | None = None


class ActionIn(_Body):
    """What an action needs; each action reads its own fields and ignores the rest."""

    reason: Reason = Field("", description="Why, or a note (return, redispatch, extensions, reopen, …)")
    department: CodeOrEmpty = Field("", description="dispatch, redispatch: where to; empty: routed")
    days: int | None = Field(None, ge=1, le=MAX_EXTENSION_DAYS, description="request_extension")
    text: str = Field("", max_length=MAX_CONTENT, description="reply, resolve_on_call: what was done")
    satisfaction: Satisfaction | None = Field(None, description="evaluate")
    into: Annotated[str, Field(pattern=CASE_NUMBER_OR_EMPTY)] = Field(
        "", description="merge: the case this one repeats"
    )
    approve: bool | None = Field(
        None, description="approve_extension / refuse_extension: if given, must agree with the action"
    )
    attachments: list[Annotated[int, Field(ge=1, le=ROW_ID_MAX)]] = Field(
        default_factory=list,
        max_length=20,
        description="Ids of this case's uploads the action carries (a reply's photos)",
    )


class LinkCallIn(_Body):
    uniqueid: Annotated[str, Field(pattern=CALL_ID)]
