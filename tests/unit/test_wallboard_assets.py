"""The wallboard page's assets: its words, the DOM its script and its tests rely on, valid JS.

The page is rendered straight from the Jinja2 environment the web app uses, with the context the
route gives it; the browser behaviour itself is covered by the integration tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agents_ui.deps import templates
from agents_ui.i18n import LANGUAGES, translator
from agents_ui.i18n_wallboard import TEXT

UI = Path(__file__).resolve().parents[2] / "agents_ui"
SCRIPT = UI / "static" / "wallboard" / "wallboard.js"
STYLE = UI / "static" / "wallboard" / "wallboard.css"

AGENT_STATES = ("available", "ringing", "on_call", "wrap_up", "paused", "logged_out")
QUEUE_AGENT_STATES = AGENT_STATES[:-1]
SIP_STATES = ("none", "connecting", "registered", "unregistered", "failed")
MODES = ("listen", "whisper", "barge")

# The page's promises to the lead's tests and to the script (see the report in the commit).
PAGE_IDS = (
    "ws-status",
    "sip-status",
    "spy-status",
    "btn-spy-hangup",
    "remote-audio",
    "error",
    "error-text",
    "error-dismiss",
    "queues",
    "no-queues",
    "agents",
    "no-agents",
    "clock",
    "words",
    "queue-tile-template",
    "agent-row-template",
)
TILE_CLASSES = (
    "queue-tile",
    "queue-title",
    "waiting",
    "longest-wait",
    "answered-today",
    "abandoned-today",
    "service-level",
    "service-level-label",
    *(f"agents-{s}" for s in QUEUE_AGENT_STATES),
)
ROW_CLASSES = (
    "name",
    "extension",
    "state",
    "time-in-state",
    "caller",
    "agent-queues",
    "calls-today",
    "supervise",
)


class Elements(HTMLParser):
    """Every start tag as (tag, attributes), <template> contents included."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        script_id = attributes.get("id")
        if tag == "script" and script_id:
            self._script_id = script_id
            self.scripts[script_id] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_id = None

    def handle_data(self, data: str) -> None:
        if self._script_id is not None:
            self.scripts[self._script_id] += data

    def by_id(self, element_id: str) -> tuple[str, dict[str, str | None]]:
        found = [t for t in self.tags if t[1].get("id") == element_id]
        assert len(found) == 1, f"#{element_id} appears {len(found)} times"
        return found[0]

    def classes(self) -> set[str]:
        return {c for _, a in self.tags for c in (a.get("class") or "").split()}


def render(language: str = "zh-CN", *, extension: str | None = "9001", is_admin: bool = False) -> str:
    context: dict[str, Any] = {
        "request": None,
        "lang": language,
        "t": translator(language),
        "site": "12345 政务服务便民热线",
        "me": SimpleNamespace(username="zhang.wei", display_name="张伟", extension=extension),
        "zone": "Asia/Shanghai",
        "is_admin": is_admin,
    }
    return templates.env.get_template("wallboard.html").render(context)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def script() -> str:
    return SCRIPT.read_text(encoding="utf-8")


# ----- words -------------------------------------------------------------------------------------


def test_every_wallboard_word_is_prefixed_and_in_both_languages():
    assert TEXT, "the wallboard has no words"
    for key, words in TEXT.items():
        assert key.startswith("w_"), key
        assert set(words) == set(LANGUAGES), key
        assert all(text.strip() for text in words.values()), key


def test_every_wallboard_word_has_the_same_placeholders_in_both_languages():
    for key, words in TEXT.items():
        names = {language: set(re.findall(r"\{(\w+)\}", text)) for language, text in words.items()}
        assert names["zh-CN"] == names["en"], key


def test_every_word_the_template_uses_exists():
    source = (UI / "templates" / "wallboard.html").read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\.(w_\w+)", source))
    assert used
    assert used <= TEXT.keys(), sorted(used - TEXT.keys())


def test_every_word_the_script_asks_for_exists(script):
    literal = set(re.findall(r"""say\(\s*['"](w_\w+)['"]""", script))
    assert {"w_ws_open", "w_spy_idle", "w_err_supervise"} <= literal
    assert literal <= TEXT.keys(), sorted(literal - TEXT.keys())
    # Keys built from a value: every value the script can meet has its word.
    assert "say(`w_state_${message.state}`)" in script
    assert "say(`w_sip_${sipState}`)" in script
    assert "say(`w_spy_${mode}`" in script
    assert "say(`w_${mode}`)" in script
    assert "say(`w_${button.className}_help`)" in script
    built = (
        [f"w_state_{s}" for s in AGENT_STATES]
        + [f"w_sip_{s}" for s in SIP_STATES]
        + [f"w_spy_{m}" for m in MODES]
        + [f"w_{m}" for m in MODES]
        + [f"w_{m}_help" for m in MODES]
    )
    assert set(built) <= TEXT.keys(), sorted(set(built) - TEXT.keys())


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_hands_the_script_exactly_the_wallboard_words_of_its_language(language):
    page = parse(render(language))

    tag, attributes = page.by_id("words")
    assert tag == "script"
    assert attributes.get("type") == "application/json"
    words = json.loads(page.scripts["words"])
    assert words == {key: text[language] for key, text in TEXT.items()}


def test_a_word_that_looks_like_markup_cannot_end_the_words_script():
    t = {**translator("en"), "w_title": "</script><script>alert(1)</script>"}
    html = templates.env.get_template("wallboard.html").render(
        lang="en",
        t=t,
        site="s",
        me=SimpleNamespace(username="u", display_name="U", extension=None),
        zone="UTC",
        is_admin=False,
    )
    page = parse(html)

    assert json.loads(page.scripts["words"])["w_title"] == "</script><script>alert(1)</script>"
    assert [a.get("id") for tag, a in page.tags if tag == "script"] == [None, "words"]


# ----- the DOM contract --------------------------------------------------------------------------


def test_the_page_has_every_promised_element():
    page = parse(render())

    for element_id in PAGE_IDS:
        page.by_id(element_id)
    assert page.by_id("remote-audio")[0] == "audio"
    assert "autoplay" in page.by_id("remote-audio")[1]
    assert page.by_id("agents")[0] == "table"
    assert page.by_id("btn-spy-hangup")[0] == "button"
    assert page.by_id("ws-status")[1]["data-state"] == "closed"
    assert page.by_id("spy-status")[1]["data-state"] == "idle"
    assert set(TILE_CLASSES) | set(ROW_CLASSES) <= page.classes()


def test_the_tile_and_row_templates_carry_their_data_attributes():
    page = parse(render())

    tiles = [a for _, a in page.tags if "queue-tile" in (a.get("class") or "").split()]
    assert len(tiles) == 1
    assert "data-queue" in tiles[0]
    rows = [a for tag, a in page.tags if tag == "tr" and "data-agent" in a]
    assert len(rows) == 1
    state_cells = [a for _, a in page.tags if (a.get("class") or "").split() == ["state"]]
    assert state_cells
    assert all("data-state" in a for a in state_cells)


@pytest.mark.parametrize(("extension", "state"), [("9001", "connecting"), (None, "none")])
def test_the_softphone_status_starts_from_whether_the_supervisor_has_an_extension(extension, state):
    page = parse(render(extension=extension))

    assert page.by_id("sip-status")[1]["data-state"] == state


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_has_language_links_a_logout_form_and_its_zone(language):
    html = render(language, is_admin=True)
    page = parse(html)

    assert f'<html lang="{language}">' in html
    links = [a.get("href") for tag, a in page.tags if tag == "a"]
    # The page links come from agents_ui.nav (tested in test_web_pages with the app's routes).
    assert {"?lang=zh-CN", "?lang=en"} <= set(links)
    forms = [a for tag, a in page.tags if tag == "form"]
    assert forms == [{"method": "post", "action": f"/logout?lang={language}"}]
    body = next(a for tag, a in page.tags if tag == "body")
    assert body["data-zone"] == "Asia/Shanghai"


def test_the_page_loads_its_script_as_a_module_and_its_stylesheet():
    page = parse(render())

    assert ("script", {"type": "module", "src": "/static/wallboard/wallboard.js"}) in page.tags
    assert ("link", {"rel": "stylesheet", "href": "/static/wallboard/wallboard.css"}) in page.tags
    assert STYLE.is_file()


def test_the_script_keeps_its_side_of_the_contract(script):
    for needed in (
        "fetch('/api/wallboard'",
        "'/api/supervise'",
        "credentials: 'same-origin'",
        "/ws/wallboard",
        "window.location.protocol === 'https:' ? 'wss:' : 'ws:'",
        "message.type === 'snapshot'",
        "message.type === 'queue'",
        "message.type === 'agent'",
        "import('/static/softphone.js')",
        "phone.on('registration'",
        "phone.on('incoming'",
        "softphone.answer()",
        "softphone.hangup()",
        "window.hotlineWallboard = wallboard",
        "new Intl.DateTimeFormat(LANG, {",
        "timeZone: ZONE",
        "pause_reasons",
        "calls_today",
        "longest_wait_since",
    ):
        assert needed in script, needed
    for selector in (
        "#ws-status",
        "#sip-status",
        "#spy-status",
        "#btn-spy-hangup",
        "#remote-audio",
        "#error",
        "#agents tbody",
        "#queues",
        ".time-in-state",
        ".longest-wait",
        ".calls-today",
        ".caller",
        ".state",
    ):
        assert f"'{selector}'" in script, selector
    assert "['listen', 'whisper', 'barge']" in script
    # Updates come from the websocket only: the one timer redraws clocks, it never fetches.
    assert "setInterval(tick, 1000)" in script
    assert script.count("fetch(") == 3  # the first picture, a login probe after a refused socket, supervise


def test_node_accepts_the_script_as_an_es_module():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: scripts/bootstrap.sh installs nodejs")

    result = subprocess.run(
        [node, "--check", "--input-type=module"],
        input=SCRIPT.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
