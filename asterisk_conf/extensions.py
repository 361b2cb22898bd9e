"""extensions.conf: the path of every citizen's call, written so that no call is lost to our code.

    hotline-trunk-<name>  ->  hotline-inbound  ->  AGI flow  ->  hotline-queues
                                   |                  |
                                   | over a limit     | flow did not finish
                                   v                  v
                               overflow           hotline-fallback -> main queue

Nothing the caller controls (the dialed number, caller ID) is ever used in an expression or a
Goto target: Asterisk's $[...] parser can call dialplan functions, so caller text there is code.
Everything substituted into the dialplan from settings passes ``dialplan_literal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asterisk_conf import dahdi
from asterisk_conf.ini import ConfigError, ConfigFile, Section, dialplan_literal
from asterisk_conf.layout import InstanceLayout
from asterisk_conf.pjsip import SEATS_CONTEXT, trunk_context
from hotline.settings import Settings
from telephony import channel_vars as cv

INBOUND = "hotline-inbound"
QUEUES = "hotline-queues"
FALLBACK = "hotline-fallback"
GROUP_TRUNK_CATEGORY = cv.GROUP_TRUNK
ROUTE_FALLBACK = cv.ROUTE_FALLBACK
OVERFLOW_TRUNK = cv.OVERFLOW_TRUNK
OVERFLOW_CAPACITY = cv.OVERFLOW_CAPACITY
CLASSIC_AGI_SCRIPT = "hotline-flow.agi"
# Extensions Asterisk gives a meaning of its own; a queue of that name would hijack it.
RESERVED_EXTENSIONS = frozenset({"a", "e", "h", "i", "o", "s", "t", "T", "fax", "talk"})
# Queue() options; none (recording is MixMonitor on the caller's channel, started just before).
QUEUE_OPTIONS = ""
# A seat reaches a queue (e.g. to transfer a caller to it) by dialling queue-<name>.
TRANSFER_QUEUE_PREFIX = "queue-"
# The label in hotline-inbound where a flow starts; queues' overflow flows jump to it.
RUN_FLOW = "run-flow"
# Characters a queue name can have (settings.NAME_PATTERN). '-' comes first because FILTER()
# reads "x-y" as a range.
_QUEUE_NAME_CHARS = "-a-z0-9_"


@dataclass(frozen=True)
class Why:
    """A comment line placed between dialplan steps, explaining the guard that follows."""

    text: str


Step = str | tuple[str, str] | Why


def _extension(section: Section, name: str, steps: Sequence[Step]) -> None:
    """Write ``exten => name,1,...`` then ``same => n,...``; a (label, app) step gets ``n(label)``."""
    first = True
    for step in steps:
        if isinstance(step, Why):
            section.comment(step.text)
            continue
        label, app = step if isinstance(step, tuple) else ("", step)
        priority = ("1" if first else "n") + (f"({label})" if label else "")
        section.raw(f"exten => {name},{priority},{app}" if first else f"same => {priority},{app}")
        first = False


def _inherit(var: str) -> str:
    return f"__{var}"


def _trunk_context(conf: ConfigFile, trunk: str, description: str, flow: str, mode: str) -> None:
    section = conf.section(trunk_context(trunk), description)
    section.comment("Whatever number was dialed, the call takes the one inbound path. _X. needs two")
    section.comment("characters, so one-digit numbers get _X. (_. would also match h, i and t.)")
    for pattern in ("_X", "_X.", "_+X.", "s"):
        _extension(
            section,
            pattern,
            [
                f"Set({_inherit(cv.TRUNK)}={trunk})",
                f"Set({cv.FLOW}={flow})",
                f"Set({cv.IVR_MODE}={mode})",
                f"Goto({INBOUND},s,1)",
            ],
        )


def _limits(settings: Settings) -> list[tuple[str, int]]:
    limits = [(t.name, t.max_channels) for t in settings.trunks]
    if settings.e1_spans:
        limits.append((dahdi.E1_TRUNK, dahdi.b_channel_count(settings)))
    return limits


def _inbound(conf: ConfigFile, settings: Settings, layout: InstanceLayout) -> None:
    section = conf.section(
        INBOUND,
        "Every citizen's call: channel limits, then the IVR flow over FastAGI, then a queue.",
    )
    agi = settings.agi
    host = dialplan_literal(f"[{agi.host}]" if ":" in agi.host else agi.host, source="agi.host")
    language = dialplan_literal(settings.site.language, source="site.language")
    trunk = f"${{{cv.TRUNK}}}"
    classic_script = dialplan_literal(str(layout.agi_bin / CLASSIC_AGI_SCRIPT), source="site.state_dir")
    state_dir = dialplan_literal(str(layout.state_dir), source="site.state_dir")
    welcome = dialplan_literal(str(layout.prompts / language / "welcome"), source="site.state_dir")
    steps: list[Step] = [
        Why("Limits: each group is set before it is counted, so two calls racing for the last"),
        Why("channel can both be refused but never both admitted."),
        f"Set(GROUP({GROUP_TRUNK_CATEGORY})={trunk})",
        f"Set(GROUP()={cv.GROUP_INBOUND})",
    ]
    for name, limit in _limits(settings):
        count = f"${{GROUP_COUNT({name}@{GROUP_TRUNK_CATEGORY})}}"
        steps.append(f'GotoIf($["{trunk}" = "{name}" & {count} > {limit}]?trunk-full,1)')
    steps += [
        f"GotoIf($[${{GROUP_COUNT({cv.GROUP_INBOUND})}} > {settings.capacity.channels}]?capacity-full,1)",
        f"Set({cv.LANGUAGE}={language})",
        Why("The channel's own language reaches the flow as agi_language; Asterisk's default is en."),
        f"Set(CHANNEL(language)={language})",
        "Answer()",
        Why("Cleared so nothing but this call's flow can mark it finished or choose its route."),
        Why(f"A queue's overflow flow (its {cv.FLOW} set by {QUEUES}) enters here too."),
        (RUN_FLOW, f"Set({cv.FLOW_DONE}=)"),
        f"Set({cv.ROUTE}=)",
        f"Set({cv.QUEUE}=)",
        Why("The trunk's context chose the mode and flow from the settings, never from the caller."),
        f'GotoIf($["${{{cv.IVR_MODE}}}" = "dialplan"]?plain)',
        f'GotoIf($["${{{cv.IVR_MODE}}}" = "classic_agi"]?classic)',
        f"AGI(agi://{host}:{agi.port}/${{FILTER({_QUEUE_NAME_CHARS},${{{cv.FLOW}}})}})",
        ("after-agi", "NoOp(flow returned)"),
        Why(f"Only {cv.FLOW_DONE}=1 proves the flow finished: a FastAGI socket that just closes"),
        Why("(crash, restart) leaves AGISTATUS=SUCCESS and an unreachable server FAILURE, so the"),
        Why("path that falls through is the fallback. Only a finished flow jumps over it."),
        Why("FILTER() hands the expression parser plain digits/letters even if a flow stored odd text."),
        f'GotoIf($["${{FILTER(0-9,${{{cv.FLOW_DONE}}})}}" = "1"]?flow-done)',
        f"Goto({FALLBACK},s,1)",
        ("flow-done", f'GotoIf($["${{FILTER(a-z,${{{cv.ROUTE}}})}}" = "{cv.ROUTE_HANGUP}"]?route-hangup)'),
        Why("Only queue-name characters survive FILTER(). An empty or unknown name lands on"),
        Why(f"{QUEUES}' s or i extension, i.e. the main queue."),
        f"Goto({QUEUES},${{FILTER({_QUEUE_NAME_CHARS},${{{cv.QUEUE}}})}},1)",
        ("route-hangup", "Hangup()"),
        Why("Classic AGI: the same flow as a process per call (pyst2), for comparison and old sites."),
        (
            "classic",
            f"AGI({classic_script},${{FILTER({_QUEUE_NAME_CHARS},${{{cv.FLOW}}})}},{state_dir})",
        ),
        "Goto(after-agi)",
        Why("Pure dialplan: greeting and main queue, no Python on the call's path (the benchmark floor)."),
        ("plain", f"Playback({welcome})"),
        f"Set({cv.FLOW_DONE}=1)",
        f"Goto({QUEUES},{settings.ivr.main_queue},1)",
    ]
    _extension(section, "s", steps)

    section.blank()
    section.comment("Over a limit: mark the call for the tracker, then the configured overflow treatment.")
    _extension(section, "trunk-full", [f"Set({cv.OVERFLOW}={OVERFLOW_TRUNK})", "Goto(overflow,1)"])
    _extension(section, "capacity-full", [f"Set({cv.OVERFLOW}={OVERFLOW_CAPACITY})", "Goto(overflow,1)"])
    overflow: list[Step] = [
        Why("capacity.channels counts calls in the IVR and queues. A refused call is in neither, so"),
        Why("it leaves that group at once (it keeps its trunk channel until it hangs up)."),
        "Set(GROUP()=)",
    ]
    if settings.capacity.overflow == "busy":
        overflow += [
            Why("Busy() on an unanswered channel sends 486 (SIP) / user busy (PRI) without answering,"),
            Why("so nobody is billed for a call nobody took."),
            "Busy(5)",
            "Hangup(17)",
        ]
    else:
        prompt = dialplan_literal(str(layout.prompts / language / "overflow"), source="site.state_dir")
        overflow += ["Answer()", f"Playback({prompt})", "Hangup()"]
    _extension(section, "overflow", overflow)


def _queues(conf: ConfigFile, settings: Settings, layout: InstanceLayout) -> None:
    main = settings.ivr.main_queue
    prompts = dialplan_literal(str(layout.prompts), source="site.state_dir")
    # The call's own language (set in hotline-inbound from the settings, never by the caller).
    goodbye = f"{prompts}/${{{cv.LANGUAGE}}}/goodbye"
    section = conf.section(QUEUES, "One extension per queue. Anything else reaches the main queue.")
    for index, queue in enumerate(settings.queues):
        if queue.name in RESERVED_EXTENSIONS:
            raise ConfigError(
                f"queues[{index}].name: {queue.name!r} is a special extension in Asterisk's "
                "dialplan; choose another queue name"
            )
        name = dialplan_literal(queue.name, source=f"queues[{index}].name")
        overflow_flow = dialplan_literal(queue.overflow_flow, source=f"queues[{index}].overflow_flow")
        args = [name]
        if queue.max_wait:
            args += [QUEUE_OPTIONS, "", "", str(queue.max_wait)]
        steps: list[Step] = [*_record(settings, layout), f"Set({_inherit(cv.QUEUE)}={name})"]
        steps.append(f"Queue({','.join(args)})")
        _extension(section, name, steps + _overflow(overflow_flow, goodbye))
    section.comment(
        "s: an empty queue name (Goto keeps the current extension, s). i: a name that is not a queue."
    )
    section.comment("Both go to the main queue so a flow's bad choice still reaches people.")
    _extension(section, "s", [f"Goto({main},1)"])
    _extension(section, "i", [f"Goto({main},1)"])


def _record(settings: Settings, layout: InstanceLayout) -> list[Step]:
    """Start the call's recording on the caller's channel, before its first Queue().

    MixMonitor's b option writes nothing until the caller is bridged to someone, so the files
    hold the conversation from the agent's answer to hang-up (hold and transfers included) and a
    caller who gives up in the queue leaves no file. r() is what the caller said, t() what the
    caller heard (the agent); the worker turns them into the archive copy (recording/).
    """
    if not settings.recording.enabled:
        return []
    recordings = dialplan_literal(str(layout.recordings), source="site.state_dir")
    zone = dialplan_literal(settings.site.timezone, source="site.timezone")
    base = f"${{{cv.RECORDING}}}"
    return [
        Why(f"Once per call: a caller queued again (overflow flow, transfer) has {cv.RECORDING} set."),
        f'GotoIf($["${{{cv.RECORDING}}}" != ""]?recording)',
        Why("Files by the local date and Asterisk's uniqueid (digits, dots, the instance name)."),
        f"Set({cv.RECORDING}={recordings}/${{STRFTIME(${{EPOCH}},{zone},%Y/%m/%d)}}/${{UNIQUEID}})",
        Why("The command runs once MixMonitor has closed every file: the worker's sign they are final."),
        f"MixMonitor({base}.wav,br({base}-caller.wav)t({base}-agent.wav),/bin/touch {base}.closed)",
        ("recording", "NoOp(recording)"),
    ]


def _overflow(flow: str, goodbye: str) -> list[Step]:
    """After Queue() returns: a caller the queue gave up on runs the overflow flow, once per call."""
    status = '"${QUEUESTATUS}"'
    done = f'"${{{cv.QUEUE_OVERFLOW}}}"'
    return [
        Why("QUEUESTATUS is app_queue's own word. TIMEOUT when max_wait passed, FULL at max_callers."),
        Why("Anything else (the caller or agent hung up, a transfer) ends the call here."),
        f'GotoIf($[{status} = "TIMEOUT"]?overflow-{cv.QUEUE_OVERFLOW_TIMEOUT})',
        f'GotoIf($[{status} = "FULL"]?overflow-{cv.QUEUE_OVERFLOW_FULL})',
        "Hangup()",
        (f"overflow-{cv.QUEUE_OVERFLOW_TIMEOUT}", f'GotoIf($[{done} != ""]?given-up)'),
        f"Set({cv.QUEUE_OVERFLOW}={cv.QUEUE_OVERFLOW_TIMEOUT})",
        "Goto(run-overflow)",
        (f"overflow-{cv.QUEUE_OVERFLOW_FULL}", f'GotoIf($[{done} != ""]?given-up)'),
        f"Set({cv.QUEUE_OVERFLOW}={cv.QUEUE_OVERFLOW_FULL})",
        Why("The overflow flow runs like any flow (FastAGI, completion check, fallback)."),
        ("run-overflow", f"Set({cv.FLOW}={flow})"),
        f"Goto({INBOUND},s,{RUN_FLOW})",
        Why("A second give-up in the same call (the overflow flow queued again): no loop."),
        ("given-up", f"Playback({goodbye})"),
        "Hangup()",
    ]


def _fallback(conf: ConfigFile, settings: Settings) -> None:
    section = conf.section(
        FALLBACK,
        "Calls whose flow did not finish, and calls the AGI watchdog redirects out of a stuck flow.",
    )
    _extension(
        section,
        "s",
        [f"Set({_inherit(cv.ROUTE)}={ROUTE_FALLBACK})", f"Goto({QUEUES},{settings.ivr.main_queue},1)"],
    )


def render(settings: Settings, layout: InstanceLayout) -> ConfigFile:
    conf = ConfigFile("extensions.conf")
    general = conf.section("general")
    general.set("static", True)
    # 'dialplan save' from the CLI must not overwrite the generated file.
    general.set("writeprotect", True)
    general.set("clearglobalvars", True)
    general.set("autofallthrough", True)
    conf.section("globals")

    for index, trunk in enumerate(settings.trunks):
        if settings.e1_spans and trunk.name == dahdi.E1_TRUNK:
            raise ConfigError(
                f"trunks[{index}].name: {dahdi.E1_TRUNK!r} is the name of the E1 spans' trunk; "
                "choose another name"
            )
        flow = dialplan_literal(trunk.flow or settings.ivr.flow, source=f"trunks[{index}].flow")
        _trunk_context(conf, trunk.name, f"SIP trunk {trunk.name}", flow, trunk.ivr_mode)
    if settings.e1_spans:
        flow = dialplan_literal(settings.ivr.flow, source="ivr.flow")
        _trunk_context(
            conf, dahdi.E1_TRUNK, "E1 spans (chan_dahdi.conf sends every B channel here)", flow, "fastagi"
        )
    _inbound(conf, settings, layout)
    _queues(conf, settings, layout)
    _fallback(conf, settings)
    _seats(conf, settings)
    return conf


def _seats(conf: ConfigFile, settings: Settings) -> None:
    """What a seat (desk phone or browser) may dial, and where its transfers go.

    A blind or attended transfer (SIP REFER) lands here too, so these are also the transfer
    targets. The dialled text comes from a person's softphone: it is only ever passed through
    FILTER() to digits, never into an expression or a Goto.
    """
    section = conf.section(
        SEATS_CONTEXT,
        "Seats dial each other by extension, a queue as queue-<name>, an outside number after the",
        "prefix. There is no way into the trunks' inbound path: a seat cannot pose as a citizen.",
    )
    prefix = dialplan_literal(settings.agents.external_prefix, source="agents.external_prefix")
    sip_trunks = [t for t in settings.trunks if t.kind == "sip"]
    if sip_trunks:
        trunk = sip_trunks[0].name
        _extension(
            section,
            f"_{prefix}X.",
            [f"Dial(PJSIP/${{FILTER(0-9,${{EXTEN:{len(prefix)}}})}}@{trunk},60)", "Hangup()"],
        )
    _extension(section, "_X.", ["Dial(PJSIP/seat${FILTER(0-9,${EXTEN})},30)", "Hangup()"])
    for index, queue in enumerate(settings.queues):
        name = dialplan_literal(queue.name, source=f"queues[{index}].name")
        _extension(section, f"{TRANSFER_QUEUE_PREFIX}{name}", [f"Goto({QUEUES},{name},1)"])
    _extension(section, "i", ["Hangup()"])
