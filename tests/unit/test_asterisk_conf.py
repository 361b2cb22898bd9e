"""Generated Asterisk config: golden files plus the safety properties stated one by one.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit``
and review the diff like code.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from asterisk_conf import ini
from asterisk_conf.layout import InstanceLayout
from asterisk_conf.pjsip import WebSeat
from asterisk_conf.render import render_all, write_config
from hotline.settings import (
    AsteriskSettings,
    CapacitySettings,
    E1SpanSettings,
    QueueSettings,
    SeatSettings,
    Settings,
    SiteSettings,
    TrunkSettings,
)
from telephony import channel_vars as cv

GOLDEN_DIR = Path(__file__).parent / "golden" / "asterisk_conf"
SECRET = "golden-secret-not-a-real-one"


def make_settings(**overrides: object) -> Settings:
    data: dict[str, object] = {
        "site": SiteSettings(state_dir=Path("/srv/hotline")),
        "capacity": CapacitySettings(channels=120, overflow="announcement"),
        "trunks": (
            TrunkSettings(name="carrier", host="127.0.0.1", port=5080, max_channels=60),
            TrunkSettings(
                name="unicom",
                host="10.20.30.40",
                port=5060,
                transport="tcp",
                max_channels=30,
                codecs=("alaw", "g722"),
            ),
        ),
        "e1_spans": (
            E1SpanSettings(span=1, timing=1),
            E1SpanSettings(span=2, timing=2),
            E1SpanSettings(span=3, timing=0),
        ),
        "queues": (
            QueueSettings(name="main", title="综合受理"),
            QueueSettings(name="complaints", title="投诉督办", strategy="leastrecent", max_wait=300),
        ),
        "seats": (
            SeatSettings(extension="1001", contact="127.0.0.1:5071"),
            SeatSettings(
                extension="1002", contact="127.0.0.1:5072", queues=("main", "complaints"), penalty=1
            ),
        ),
    }
    data.update(overrides)
    return Settings.model_validate(data)


WEB_SEATS = (WebSeat("2001", "li.na", "derived-password-2001"),)


def render(settings: Settings | None = None, web_seats: tuple[WebSeat, ...] = WEB_SEATS) -> dict[str, str]:
    settings = settings or make_settings()
    return render_all(settings, InstanceLayout.for_settings(settings), SECRET, web_seats)


def parse(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Sections and options as Asterisk sees them (comments dropped, ``=>`` and ``=`` alike)."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        line = re.sub(r"(?<!\\);.*$", "", raw).strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append((line[1 : line.index("]")], []))
            continue
        key, _, value = line.partition("=")
        sections[-1][1].append((key.strip(), value.removeprefix(">").strip()))
    return sections


def options(text: str, section: str, type_: str | None = None) -> list[list[tuple[str, str]]]:
    found = [opts for name, opts in parse(text) if name == section]
    if type_ is not None:
        found = [opts for opts in found if ("type", type_) in opts]
    return found


def values(opts: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in opts if k == key]


def dialplan(text: str, context: str) -> list[str]:
    """The exten/same lines of one extensions.conf context."""
    (opts,) = options(text, context)
    return [f"{k} => {v}" for k, v in opts if k in ("exten", "same")]


# --- golden files -------------------------------------------------------------------------------


def test_golden_files_match() -> None:
    files = render()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        for old in GOLDEN_DIR.iterdir():
            if old.name not in files:
                old.unlink()
        for name, text in files.items():
            (GOLDEN_DIR / name).write_text(text, encoding="utf-8")
    assert sorted(p.name for p in GOLDEN_DIR.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (GOLDEN_DIR / name).read_text(encoding="utf-8") == text, f"{name} differs from its golden file"


def test_rendering_is_deterministic() -> None:
    assert render() == render()


# --- pjsip.conf ---------------------------------------------------------------------------------


def test_every_trunk_is_identified_by_ip_and_port() -> None:
    text = render()["pjsip.conf"]
    expected = {"carrier": "127.0.0.1:5080", "unicom": "10.20.30.40:5060"}
    for name, peer in expected.items():
        (identify,) = options(text, name, "identify")
        assert values(identify, "endpoint") == [name]
        assert values(identify, "match") == [peer]
    for name, opts in parse(text):
        if ("type", "identify") in opts:
            for match in values(opts, "match"):
                assert re.fullmatch(r"(\d+\.){3}\d+:\d+|\[[0-9a-f:]+\]:\d+", match), (name, match)


def test_ipv6_trunk_match_is_bracketed() -> None:
    settings = make_settings(trunks=(TrunkSettings(name="v6", host="2001:db8::5", port=5080),))
    (identify,) = options(render(settings)["pjsip.conf"], "v6", "identify")
    assert values(identify, "match") == ["[2001:db8::5]:5080"]


def test_no_anonymous_endpoint_and_only_web_seats_identified_by_user() -> None:
    files = render()
    for name, text in files.items():
        assert "anonymous" not in text.lower(), name
    (glob,) = options(files["pjsip.conf"], "global", "global")
    assert values(glob, "endpoint_identifier_order") == ["ip,username"]
    assert "load => res_pjsip_endpoint_identifier_user.so" in files["modules.conf"]
    text = files["pjsip.conf"]
    for name, opts in parse(text):
        if ("type", "endpoint") not in opts:
            continue
        if name == "seat2001":
            # Named by its user, so it must prove it: an auth section with the derived password.
            assert values(opts, "identify_by") == ["username"]
            assert values(opts, "auth") == ["seat2001"]
        else:
            assert values(opts, "identify_by") == ["ip"], name
    (auth,) = options(text, "seat2001", "auth")
    assert values(auth, "password") == ["derived-password-2001"]


def test_trunk_endpoints_keep_media_and_send_rfc4733() -> None:
    text = render()["pjsip.conf"]
    endpoints = [(name, opts) for name, opts in parse(text) if ("type", "endpoint") in opts]
    assert {name for name, _ in endpoints} == {"carrier", "unicom", "seat1001", "seat1002", "seat2001"}
    for name, opts in endpoints:
        assert values(opts, "direct_media") == ["no"], name
        assert values(opts, "rtp_symmetric") == ["yes"], name
        assert values(opts, "force_rport") == ["yes"], name
        assert values(opts, "rewrite_contact") == ["yes"], name
        assert values(opts, "dtmf_mode") == ["rfc4733"], name
        assert int(values(opts, "rtp_timeout")[0]) > 0, name
    (carrier,) = options(text, "carrier", "endpoint")
    assert values(carrier, "context") == ["hotline-trunk-carrier"]
    (unicom,) = options(text, "unicom", "endpoint")
    assert values(unicom, "allow") == ["alaw,g722"]
    assert values(unicom, "transport") == ["transport-tcp"]
    (unicom_aor,) = options(text, "unicom", "aor")
    assert values(unicom_aor, "contact") == ["sip:10.20.30.40:5060\\;transport=tcp"]


def test_seats_land_in_a_context_without_a_path_to_the_trunks() -> None:
    files = render()
    for ext in ("1001", "1002"):
        (endpoint,) = options(files["pjsip.conf"], f"seat{ext}", "endpoint")
        assert values(endpoint, "context") == ["hotline-seats"]
    (seats,) = options(files["extensions.conf"], "hotline-seats")
    code = " ".join(value for _, value in seats)
    assert "hotline-inbound" not in code and "hotline-trunk" not in code
    # Transfers to a queue enter it the way the IVR does, through hotline-queues.
    assert ("exten", "queue-complaints,1,Goto(hotline-queues,complaints,1)") in seats


def test_transports_bind_the_configured_address() -> None:
    text = render()["pjsip.conf"]
    for name, protocol in (("transport-udp", "udp"), ("transport-tcp", "tcp"), ("transport-ws", "ws")):
        (opts,) = options(text, name, "transport")
        assert values(opts, "protocol") == [protocol]
        assert values(opts, "bind")[0].startswith("127.0.0.1:")


# --- extensions.conf ----------------------------------------------------------------------------

ALLOWED_DIALPLAN_VARS = {
    cv.RECORDING,  # a path made of state_dir, the local date and the uniqueid
    "UNIQUEID",  # Asterisk's own: digits, dots and the instance name
    "EPOCH",
    "STRFTIME",
    cv.TRUNK,
    cv.FLOW_DONE,
    cv.ROUTE,
    cv.QUEUE,
    cv.FLOW,
    cv.IVR_MODE,
    cv.QUEUE_OVERFLOW,
    cv.LANGUAGE,  # set from site.language, part of a prompt path only
    "QUEUESTATUS",  # app_queue's result: one of its own fixed words
    "GROUP_COUNT",
    "FILTER",
}


def test_dialplan_reads_only_platform_variables() -> None:
    text = render()["extensions.conf"]
    # A seat's dialled digits are the only dialled text used, and only through FILTER(0-9, ...).
    text = re.sub(r"\$\{FILTER\(0-9,\$\{EXTEN(:\d+)?\}\)\}", "", text)
    code = [line for line in text.splitlines() if not line.lstrip().startswith(";")]
    assert "${EXTEN" not in text
    assert "${CALLERID" not in text
    used = {m.group(1) for line in code for m in re.finditer(r"\$\{([A-Za-z_]+)", line)}
    assert used <= ALLOWED_DIALPLAN_VARS, used - ALLOWED_DIALPLAN_VARS


def test_goto_targets_are_literals_or_filtered_queue_name() -> None:
    filtered_queue = f"${{FILTER(-a-z0-9_,${{{cv.QUEUE}}})}}"
    text = render()["extensions.conf"]
    targets = [t for line in text.splitlines() for t in re.findall(r"\bGoto(?:If)?\((.*)\)$", line)]
    assert len(targets) > 10
    for target in targets:
        assert "${" not in target.split("?")[-1].replace(filtered_queue, ""), target


def test_trunk_contexts_tag_the_trunk_and_join_the_inbound_path() -> None:
    text = render()["extensions.conf"]
    for trunk in ("carrier", "unicom", "e1"):
        lines = dialplan(text, f"hotline-trunk-{trunk}")
        patterns = [line.split("=> ")[1].split(",")[0] for line in lines if line.startswith("exten")]
        assert patterns == ["_X", "_X.", "_+X.", "s"]
        assert lines.count(f"exten => {patterns[0]},1,Set(__{cv.TRUNK}={trunk})") == 1
        jumps = [line for line in lines if "Goto(" in line]
        assert len(jumps) == 4
        assert all(line.endswith("Goto(hotline-inbound,s,1)") for line in jumps)
        modes = {line.split("=")[-1].rstrip(")") for line in lines if f"Set({cv.IVR_MODE}=" in line}
        assert modes == {"fastagi"}


def test_inbound_enforces_trunk_and_total_limits_before_answering() -> None:
    lines = dialplan(render()["extensions.conf"], "hotline-inbound")
    s = [line for line in lines[: lines.index("same => n(route-hangup),Hangup()") + 1]]
    answer = s.index("same => n,Answer()")
    before = "\n".join(s[:answer])
    assert f"Set(GROUP()={cv.GROUP_INBOUND})" in before
    assert '"carrier" & ${GROUP_COUNT(carrier@hotline_trunk)} > 60]?trunk-full,1)' in before
    assert '"unicom" & ${GROUP_COUNT(unicom@hotline_trunk)} > 30]?trunk-full,1)' in before
    assert '"e1" & ${GROUP_COUNT(e1@hotline_trunk)} > 90]?trunk-full,1)' in before
    assert f"${{GROUP_COUNT({cv.GROUP_INBOUND})}} > 120]?capacity-full,1)" in before
    assert any(f"Set({cv.OVERFLOW}=trunk)" in line for line in lines)
    assert any(f"Set({cv.OVERFLOW}=capacity)" in line for line in lines)


def test_after_agi_the_fall_through_path_is_the_fallback() -> None:
    lines = dialplan(render()["extensions.conf"], "hotline-inbound")
    agi = next(i for i, line in enumerate(lines) if "AGI(agi://127.0.0.1:4573/" in line)
    assert lines[agi] == f"same => n,AGI(agi://127.0.0.1:4573/${{FILTER(-a-z0-9_,${{{cv.FLOW}}})}})"
    assert lines[agi - 5 : agi - 2] == [
        f"same => n(run-flow),Set({cv.FLOW_DONE}=)",
        f"same => n,Set({cv.ROUTE}=)",
        f"same => n,Set({cv.QUEUE}=)",
    ]
    assert lines[agi + 1] == "same => n(after-agi),NoOp(flow returned)"
    agi += 1
    assert lines[agi + 1] == f'same => n,GotoIf($["${{FILTER(0-9,${{{cv.FLOW_DONE}}})}}" = "1"]?flow-done)'
    assert lines[agi + 2] == "same => n,Goto(hotline-fallback,s,1)"
    assert lines[agi + 3].startswith("same => n(flow-done),GotoIf(")
    assert '= "hangup"]?route-hangup)' in lines[agi + 3]
    assert lines[agi + 4] == f"same => n,Goto(hotline-queues,${{FILTER(-a-z0-9_,${{{cv.QUEUE}}})}},1)"
    assert lines[agi + 5] == "same => n(route-hangup),Hangup()"


def test_every_queue_has_an_extension_and_strays_reach_the_main_queue() -> None:
    files = render()
    lines = dialplan(files["extensions.conf"], "hotline-queues")
    start = lines.index(f"same => n,Set(__{cv.QUEUE}=main)")
    assert lines[start : start + 3] == [
        f"same => n,Set(__{cv.QUEUE}=main)",
        "same => n,Queue(main)",
        'same => n,GotoIf($["${QUEUESTATUS}" = "TIMEOUT"]?overflow-timeout)',
    ]
    complaints = lines.index(f"same => n,Set(__{cv.QUEUE}=complaints)")
    assert lines[complaints + 1] == "same => n,Queue(complaints,,,,300)"
    assert "exten => s,1,Goto(main,1)" in lines
    assert "exten => i,1,Goto(main,1)" in lines
    for queue in ("main", "complaints"):
        assert options(files["queues.conf"], queue)


def test_a_queue_that_gives_up_runs_its_overflow_flow_once() -> None:
    settings = make_settings(
        queues=[{"name": "main", "max_wait": 60, "overflow_flow": "night_desk"}, {"name": "complaints"}],
    )
    lines = dialplan(render(settings)["extensions.conf"], "hotline-queues")
    main = lines[: lines.index("exten => s,1,Goto(main,1)")]
    main = main[main.index(f"same => n,Set(__{cv.QUEUE}=main)") :]
    assert main[1] == "same => n,Queue(main,,,,60)"
    # Only app_queue's give-ups overflow; a finished or abandoned call just ends.
    assert main[2:5] == [
        'same => n,GotoIf($["${QUEUESTATUS}" = "TIMEOUT"]?overflow-timeout)',
        'same => n,GotoIf($["${QUEUESTATUS}" = "FULL"]?overflow-full)',
        "same => n,Hangup()",
    ]
    # Each give-up is marked for the call row, then the flow runs from the inbound path's flow start.
    for why in ("timeout", "full"):
        at = next(i for i, line in enumerate(main) if line.startswith(f"same => n(overflow-{why})"))
        assert f'$["${{{cv.QUEUE_OVERFLOW}}}" != ""]?given-up' in main[at]
        assert main[at + 1] == f"same => n,Set({cv.QUEUE_OVERFLOW}={why})"
    run = main.index(f"same => n(run-overflow),Set({cv.FLOW}=night_desk)")
    assert main[run + 1] == "same => n,Goto(hotline-inbound,s,run-flow)"
    # A second give-up (the overflow flow queued again) says goodbye instead of looping.
    assert main[-2].startswith("same => n(given-up),Playback(") and main[-2].endswith("/goodbye)")
    assert main[-1] == "same => n,Hangup()"


def test_fallback_marks_the_route_and_goes_to_the_main_queue() -> None:
    settings = make_settings(ivr={"main_queue": "complaints"})
    lines = dialplan(render(settings)["extensions.conf"], "hotline-fallback")
    assert lines == [
        f"exten => s,1,Set(__{cv.ROUTE}=fallback)",
        "same => n,Goto(hotline-queues,complaints,1)",
    ]


def test_overflow_busy_does_not_answer_and_announcement_does() -> None:
    busy = make_settings(capacity=CapacitySettings(channels=120, overflow="busy"))
    lines = dialplan(render(busy)["extensions.conf"], "hotline-inbound")
    overflow = lines[next(i for i, line in enumerate(lines) if line.startswith("exten => overflow")) :]
    assert overflow == [
        "exten => overflow,1,Set(GROUP()=)",
        "same => n,Busy(5)",
        "same => n,Hangup(17)",
    ]
    lines = dialplan(render()["extensions.conf"], "hotline-inbound")
    overflow = lines[next(i for i, line in enumerate(lines) if line.startswith("exten => overflow")) :]
    assert overflow == [
        "exten => overflow,1,Set(GROUP()=)",
        "same => n,Answer()",
        "same => n,Playback(/srv/hotline/prompts/zh-CN/overflow)",
        "same => n,Hangup()",
    ]


def test_no_e1_context_without_spans() -> None:
    text = render(make_settings(e1_spans=()))["extensions.conf"]
    assert "hotline-trunk-e1" not in text
    assert "e1@hotline_trunk" not in text


# --- queues.conf --------------------------------------------------------------------------------


def test_queues_let_callers_wait_and_list_static_members() -> None:
    text = render()["queues.conf"]
    (main,) = options(text, "main")
    assert values(main, "joinempty") == ["yes"]
    assert values(main, "leavewhenempty") == ["no"]
    assert values(main, "musicclass") == ["default"]
    assert values(main, "member") == ["PJSIP/seat1001,0,1001", "PJSIP/seat1002,1,1002"]
    (complaints,) = options(text, "complaints")
    assert values(complaints, "member") == ["PJSIP/seat1002,1,1002"]
    assert values(complaints, "strategy") == ["leastrecent"]


# --- manager.conf -------------------------------------------------------------------------------


def test_manager_is_loopback_only_with_least_privilege() -> None:
    text = render()["manager.conf"]
    (general,) = options(text, "general")
    assert values(general, "bindaddr") == ["127.0.0.1"]
    assert values(general, "displayconnects") == ["no"]
    assert values(general, "channelvars") == [",".join(cv.AMI_CHANNEL_VARS)]
    (user,) = options(text, "hotline")
    keys = [k for k, _ in user]
    assert keys.index("deny") < keys.index("permit")
    assert values(user, "deny") == ["0.0.0.0/0.0.0.0"]
    assert values(user, "permit") == ["127.0.0.1/255.255.255.255"]
    assert values(user, "secret") == [SECRET]
    assert set(values(user, "read")[0].split(",")) == {"system", "call", "agent", "dialplan", "agi"}
    assert set(values(user, "write")[0].split(",")) == {"system", "call", "agent", "originate"}


def test_channelvars_cover_every_ami_variable() -> None:
    (general,) = options(render()["manager.conf"], "general")
    assert set(values(general, "channelvars")[0].split(",")) == set(cv.AMI_CHANNEL_VARS)


# --- modules.conf, cdr, logger --------------------------------------------------------------------


def test_modules_are_explicit_and_chan_dahdi_needs_hardware() -> None:
    (modules,) = options(render()["modules.conf"], "modules")
    assert modules[0] == ("autoload", "no")
    loads = values(modules, "load")
    assert all(name.endswith(".so") for name in loads)
    assert len(loads) == len(set(loads))
    for needed in ("chan_pjsip.so", "res_pjsip_endpoint_identifier_ip.so", "res_agi.so", "app_queue.so"):
        assert needed in loads
    assert "chan_dahdi.so" not in loads
    with_cards = AsteriskSettings(dahdi_hardware=True)
    (modules,) = options(render(make_settings(asterisk=with_cards))["modules.conf"], "modules")
    assert "chan_dahdi.so" in values(modules, "load")
    (modules,) = options(render(make_settings(e1_spans=(), asterisk=with_cards))["modules.conf"], "modules")
    assert "chan_dahdi.so" not in values(modules, "load")


def test_cdr_is_written_per_call() -> None:
    files = render()
    (general,) = options(files["cdr.conf"], "general")
    assert values(general, "batch") == ["no"]
    assert values(general, "enable") == ["yes"]
    assert values(general, "unanswered") == ["yes"]
    assert "load => cdr_custom.so" in files["modules.conf"]


def test_logger_has_security_channel_and_queue_log() -> None:
    text = render()["logger.conf"]
    (general,) = options(text, "general")
    assert values(general, "queue_log") == ["yes"]
    (logfiles,) = options(text, "logfiles")
    assert ("security.log", "security") in logfiles


def test_asterisk_conf_points_into_the_instance() -> None:
    (dirs,) = options(render()["asterisk.conf"], "directories")
    found = dict(dirs)
    assert found["astetcdir"] == "/srv/hotline/asterisk/main/etc"
    assert found["astrundir"] == "/srv/hotline/asterisk/main/run"
    assert "astmoddir" not in found
    (opts,) = options(render()["asterisk.conf"], "options")
    assert not values(opts, "runuser")


# --- E1 / DAHDI ---------------------------------------------------------------------------------


def test_e1_channels_are_numbered_31_per_span() -> None:
    text = render()["dahdi-system.conf"]
    assert "span=2,2,0,ccs,hdb3,crc4\nbchan=32-46,48-62\ndchan=47" in text
    assert "span=3,0,0,ccs,hdb3,crc4\nbchan=63-77,79-93\ndchan=78" in text
    assert "/etc/dahdi/system.conf" in text
    (channels,) = options(render()["chan_dahdi.conf"], "channels")
    assert values(channels, "channel") == ["1-15,17-31", "32-46,48-62", "63-77,79-93"]
    assert values(channels, "context") == ["hotline-trunk-e1"]


@pytest.mark.parametrize(
    ("spans", "capacity", "key"),
    [
        ((E1SpanSettings(span=1, timing=0), E1SpanSettings(span=2, timing=0)), 120, "e1_spans[*].timing"),
        ((E1SpanSettings(span=1, timing=1), E1SpanSettings(span=2, timing=1)), 120, "e1_spans[0].timing"),
        ((E1SpanSettings(span=1, timing=1), E1SpanSettings(span=2, timing=2)), 59, "capacity.channels"),
    ],
)
def test_e1_rules_name_the_key(spans: tuple[E1SpanSettings, ...], capacity: int, key: str) -> None:
    settings = make_settings(e1_spans=spans, capacity=CapacitySettings(channels=capacity))
    with pytest.raises(ini.ConfigError, match=re.escape(key)):
        render(settings)


# --- injection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["综合\n[evil]\nexten => _X.,1,System(id)", "a\rb", "x\x00"])
def test_queue_title_with_line_break_is_rejected(bad: str) -> None:
    settings = make_settings(queues=(QueueSettings(name="main", title=bad),), seats=())
    with pytest.raises(ini.ConfigError, match=r"queues\[0\]\.title"):
        render(settings)


def test_site_name_with_line_break_is_rejected() -> None:
    settings = make_settings(site=SiteSettings(name="12345\n#exec /bin/id", state_dir=Path("/srv/hotline")))
    with pytest.raises(ini.ConfigError, match=r"site\.name"):
        render(settings)


def test_semicolons_in_free_text_stay_inside_one_escaped_comment() -> None:
    settings = make_settings(
        site=SiteSettings(name="12345;-- 热线", state_dir=Path("/srv/hotline")),
        queues=(QueueSettings(name="main", title="综合;--受理"),),
        seats=(),
    )
    files = render(settings)
    assert "; 综合\\;--受理\n[main]\n" in files["queues.conf"]
    for text in files.values():
        assert ";--" not in text.replace("\\;--", "")
    assert [name for name, _ in parse(files["queues.conf"])] == ["general", "main"]


def test_values_with_comment_or_line_break_are_rejected() -> None:
    for bad in ("a;b", "a\nb", "a\rb", " padded"):
        with pytest.raises(ini.ConfigError):
            ini.check_value(bad, source="x")
    section = ini.Section("s")
    with pytest.raises(ini.ConfigError, match="secret"):
        section.set("secret", "abc;def")
    with pytest.raises(ini.ConfigError):
        section.set("bad key", "v")


@pytest.mark.parametrize("bad", ["${SHELL(id)}", "a,b", "q(1)", 'x"y', "a b", "a\\b", ""])
def test_dialplan_literal_rejects_syntax(bad: str) -> None:
    with pytest.raises(ini.ConfigError):
        ini.dialplan_literal(bad, source="x")


def test_state_dir_that_would_break_the_dialplan_is_rejected() -> None:
    settings = make_settings(site=SiteSettings(state_dir=Path("/srv/a,b")))
    with pytest.raises(ini.ConfigError, match=r"site\.state_dir"):
        render(settings)


@pytest.mark.parametrize("name", ["h", "i", "s", "t"])
def test_queue_named_like_a_special_extension_is_rejected(name: str) -> None:
    settings = make_settings(queues=(QueueSettings(name=name),), ivr={"main_queue": name}, seats=())
    with pytest.raises(ini.ConfigError, match=r"queues\[0\]\.name"):
        render(settings)


def test_queue_named_general_is_rejected() -> None:
    settings = make_settings(queues=(QueueSettings(name="general"),), ivr={"main_queue": "general"}, seats=())
    with pytest.raises(ini.ConfigError, match=r"queues\[0\]\.name"):
        render(settings)


@pytest.mark.parametrize("name", ["transport-udp", "global", "seat1001"])
def test_trunk_name_colliding_with_pjsip_sections_is_rejected(name: str) -> None:
    settings = make_settings(trunks=(TrunkSettings(name=name, host="127.0.0.1", port=5080),))
    with pytest.raises(ini.ConfigError, match=r"trunks\[0\]\.name"):
        render(settings)


def test_sip_trunk_named_e1_is_rejected_while_e1_spans_exist() -> None:
    settings = make_settings(trunks=(TrunkSettings(name="e1", host="127.0.0.1", port=5080),))
    with pytest.raises(ini.ConfigError, match=r"trunks\[0\]\.name"):
        render(settings)
    render(make_settings(trunks=settings.trunks, e1_spans=()))


# --- write_config -------------------------------------------------------------------------------


def test_write_config_reports_only_changed_files(tmp_path: Path) -> None:
    settings = make_settings(site=SiteSettings(state_dir=tmp_path))
    layout = InstanceLayout.for_settings(settings)
    first = write_config(settings, layout)
    assert sorted(first) == sorted(render_all(settings, layout, layout.ami_secret()))
    assert write_config(settings, layout) == []
    assert stat.S_IMODE((layout.etc / "manager.conf").stat().st_mode) == 0o600
    # pjsip.conf holds the web seats' passwords.
    assert stat.S_IMODE((layout.etc / "pjsip.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE((layout.etc / "queues.conf").stat().st_mode) == 0o644
    assert (layout.log / "cdr-custom").is_dir()

    louder = settings.model_copy(update={"capacity": CapacitySettings(channels=150)})
    assert write_config(louder, layout) == ["extensions.conf"]
    assert "> 150]?capacity-full" in (layout.etc / "extensions.conf").read_text(encoding="utf-8")
    assert not [p for p in layout.etc.iterdir() if p.name.startswith(".")]


def test_write_config_leaves_files_alone_when_settings_are_bad(tmp_path: Path) -> None:
    settings = make_settings(site=SiteSettings(state_dir=tmp_path))
    layout = InstanceLayout.for_settings(settings)
    write_config(settings, layout)
    before = {p.name: p.read_text(encoding="utf-8") for p in layout.etc.iterdir()}
    bad = settings.model_copy(update={"queues": (QueueSettings(name="main", title="a\nb"),)})
    with pytest.raises(ini.ConfigError):
        write_config(bad, layout)
    assert {p.name: p.read_text(encoding="utf-8") for p in layout.etc.iterdir()} == before


def test_every_queued_call_is_recorded_once_from_the_agents_answer() -> None:
    lines = dialplan(render()["extensions.conf"], "hotline-queues")
    main = lines[: lines.index("same => n,Queue(main)")]
    base = f"${{{cv.RECORDING}}}"
    assert main == [
        f'exten => main,1,GotoIf($["${{{cv.RECORDING}}}" != ""]?recording)',
        f"same => n,Set({cv.RECORDING}=/srv/hotline/recordings/"
        "${STRFTIME(${EPOCH},Asia/Shanghai,%Y/%m/%d)}/${UNIQUEID})",
        # b: nothing is written until the caller is bridged to an agent.
        # The end command runs after MixMonitor closed the files: the worker waits for its mark.
        f"same => n,MixMonitor({base}.wav,br({base}-caller.wav)t({base}-agent.wav),/bin/touch {base}.closed)",
        "same => n(recording),NoOp(recording)",
        f"same => n,Set(__{cv.QUEUE}=main)",
    ]


def test_recording_switched_off_leaves_no_mixmonitor() -> None:
    settings = make_settings(recording={"enabled": False})
    assert "MixMonitor" not in render(settings)["extensions.conf"]
