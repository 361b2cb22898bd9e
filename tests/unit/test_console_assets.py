"""The agent console's assets: its words, the element ids the browser tests click, scripts that
parse, and the JsSIP bundle built by scripts/build_assets.sh."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import get_args

import pytest
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agents_ui.i18n import LANGUAGES, translator
from agents_ui.i18n_console import TEXT
from case_bridge.lifecycle import CaseStatus
from case_bridge.schemas import CandidateOut
from telephony.agent_state import AgentState

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "agents_ui"
FRONTEND = UI / "frontend"
BUNDLE = UI / "static" / "vendor" / "jssip.js"
SCRIPTS = [
    UI / "static" / "softphone.js",
    UI / "static" / "agent" / "console.js",
    UI / "static" / "agent" / "case_form.js",
]

PROMISED_IDS = {
    "ws-status", "sip-status", "seat-state", "state-since", "btn-login", "btn-logout", "pause-reason",
    "btn-pause", "btn-unpause", "incoming", "incoming-number", "btn-answer", "btn-reject", "btn-hangup",
    "btn-hold", "btn-mute", "keypad", "transfer-target", "transfer-number", "btn-blind-transfer",
    "btn-consult", "btn-complete-transfer", "btn-cancel-consult", "pop", "pop-number", "pop-queue",
    "pop-wait", "pop-ivr", "pop-history", "pop-cases", "wrapup", "disposition", "wrapup-note",
    "btn-wrapup-done", "error", "remote-audio", "words",
    "case-card", "case-status", "case-form", "case-caller", "case-suggestion", "case-suggestion-text",
    "btn-case-apply-suggestion", "case-transcript", "case-category", "case-urgent", "case-title",
    "case-content", "case-caller-name", "case-address", "case-street", "case-grid", "case-department",
    "btn-case-file", "case-answer", "btn-case-resolve", "case-related", "case-knowledge",
}  # fmt: skip


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.digits: list[str] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if a.get("data-digit") is not None:
            self.digits.append(str(a["data-digit"]))
        self._script_id = str(a["id"]) if tag == "script" and a.get("id") else None

    def handle_data(self, data: str) -> None:
        if self._script_id:
            self.scripts[self._script_id] = self.scripts.get(self._script_id, "") + data


def render_console(lang: str) -> _Elements:
    env = Environment(loader=FileSystemLoader(UI / "templates"), autoescape=select_autoescape())
    me = type("Me", (), {"username": "alice", "display_name": "Alice <A&B>", "extension": "1001"})()
    html = env.get_template("agent.html").render(
        request=None, lang=lang, t=translator(lang), site="12345", me=me, zone="Asia/Shanghai", is_admin=False
    )
    page = _Elements()
    page.feed(html)
    return page


def node() -> str:
    path = shutil.which("node")
    assert path, "node is needed for the console's scripts: install nodejs (scripts/bootstrap.sh does)"
    return path


def test_console_words_are_prefixed_and_in_both_languages() -> None:
    for key, words in TEXT.items():
        assert key.startswith("c_"), key
        assert set(words) == set(LANGUAGES), key
        assert all(w.strip() for w in words.values()), key


def test_every_seat_state_and_registration_state_has_words() -> None:
    # console.js builds these keys from the values it receives.
    states = [f"c_state_{s.value}" for s in AgentState] + ["c_state_unknown"]
    registration = [f"c_sip_{s}" for s in ("connecting", "registered", "unregistered", "failed")]
    assert not [k for k in states + registration if k not in TEXT]


def test_every_case_status_and_duplicate_reason_has_words() -> None:
    # The console builds c_case_status_<status> and c_case_reason_<reason> from what the API returns.
    assert not [s for s in CaseStatus if f"c_case_status_{s.value}" not in TEXT]
    reasons = get_args(get_args(CandidateOut.model_fields["reasons"].annotation)[0])
    assert reasons, "the reasons are no longer a list of literals"
    assert not [r for r in reasons if f"c_case_reason_{r}" not in TEXT]


def test_words_the_page_and_script_name_exist() -> None:
    template = (UI / "templates" / "agent.html").read_text(encoding="utf-8")
    script = "".join(p.read_text(encoding="utf-8") for p in (UI / "static" / "agent").glob("*.js"))
    named = set(re.findall(r"\bt\.(c_\w+)", template)) | set(re.findall(r"'(c_\w+)'", script))
    assert named, "the patterns no longer find the words"
    assert sorted(named - TEXT.keys()) == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_has_every_promised_element_once(lang: str) -> None:
    page = render_console(lang)
    assert sorted(PROMISED_IDS - set(page.ids)) == []
    assert sorted({i for i in page.ids if page.ids.count(i) > 1}) == []
    assert sorted(page.digits) == sorted([*"0123456789", "*", "#"])


def test_the_script_gets_exactly_the_console_words_in_the_page_language() -> None:
    words = json.loads(render_console("en").scripts["words"])
    assert words == {key: value["en"] for key, value in TEXT.items()}
    page = json.loads(render_console("zh-CN").scripts["page"])
    assert page == {
        "lang": "zh-CN",
        "zone": "Asia/Shanghai",
        "me": {"username": "alice", "display_name": "Alice <A&B>", "extension": "1001"},
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_as_an_es_module(script: Path) -> None:
    # --input-type=module: the files are ES modules whatever node's default for a bare .js is.
    result = subprocess.run(
        [node(), "--input-type=module", "--check"],
        input=script.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_npm_dependencies_are_pinned_exactly() -> None:
    package = json.loads((FRONTEND / "package.json").read_text(encoding="utf-8"))
    pins = {**package["dependencies"], **package["devDependencies"]}
    assert set(pins) == {"jssip", "esbuild"}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values()), pins
    lock = json.loads((FRONTEND / "package-lock.json").read_text(encoding="utf-8"))
    assert {n: lock["packages"][f"node_modules/{n}"]["version"] for n in pins} == pins


def test_the_jssip_bundle_is_built_and_exports_jssip() -> None:
    if not BUNDLE.exists():
        node()
        subprocess.run(["bash", str(ROOT / "scripts" / "build_assets.sh")], check=True, timeout=300)
    assert BUNDLE.stat().st_size > 100_000
    # Load it the way the browser does (an ES module, default export) with just enough `window`.
    probe = (
        "globalThis.window = globalThis; globalThis.navigator = {userAgent: 'node'};"
        f"const m = await import({json.dumps(BUNDLE.as_uri())});"
        "console.log(JSON.stringify({v: m.default.version, ua: typeof m.default.UA}));"
    )
    result = subprocess.run(
        [node(), "--input-type=module", "-e", probe], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    lock = json.loads((FRONTEND / "package-lock.json").read_text(encoding="utf-8"))
    assert loaded == {"v": lock["packages"]["node_modules/jssip"]["version"], "ua": "function"}
