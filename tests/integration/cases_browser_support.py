"""People and steps of the case pages' browser tests: accounts of every side of a case, a case
filed through the API, and what a person does on a case's page (click an action's button, fill
in what it asks, confirm, read the answer).

Every step on a page is a click or a keystroke where a person would make it; the API is used
only to set a case up (or to read a fact the page shows, to compare).
"""

from __future__ import annotations

import itertools
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from agents_ui.accounts import service
from case_bridge.departments import add_member
from telephony.sipp.runner import CallerId
from tests.integration.harness import Platform, place_calls

PASSWORD = "工单流转 is long enough"
_numbers = itertools.count(1)


def fresh_name(prefix: str) -> str:
    """A username no other test (or earlier run on the same platform) has taken."""
    return f"{prefix}{int(time.time() * 1000) % 10**8}{next(_numbers)}"


def add_person(
    platform: Platform,
    prefix: str,
    *roles: str,
    departments: tuple[str, ...] = (),
    extension: str | None = None,
    display_name: str = "",
) -> str:
    """An account with ``roles`` (department staff linked to ``departments``), as `hotline user
    add` and `hotline cases member` make them."""
    username = fresh_name(prefix)
    with platform.db.unit_of_work() as session:
        user = service.create_user(
            session,
            username=username,
            password=PASSWORD,
            roles=list(roles),
            display_name=display_name or username,
            extension=extension,
        )
        for code in departments:
            add_member(session, user_id=user.id, department_code=code)
    return username


def log_in(page: Page, platform: Platform, username: str, next_path: str) -> None:
    """The login form, as a person fills it; lands on ``next_path`` (or where it sends them)."""
    page.goto(f"{platform.web}/login?next={next_path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="登录").click()


@contextmanager
def api_as(platform: Platform, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.web, headers={"origin": platform.web}, timeout=15) as client:
        reply = client.post("/api/session", json={"username": username, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        yield client


def file_case(platform: Platform, agent: str, **fields: Any) -> dict[str, Any]:
    """A case filed by ``agent`` through the API (as the console's form files one): the case."""
    body = {
        "content": "主干道的路灯坏了，晚上一片漆黑",
        "title": "主干道路灯不亮",
        "category": "street_light",
        "caller_number": "13800138000",
        "caller_name": "张先生",
        "address": "主干道 18 号",
        **fields,
    }
    with api_as(platform, agent) as client:
        reply = client.post("/api/cases", json=body, headers={"Idempotency-Key": fresh_name("case-")})
    assert reply.status_code in (200, 201), reply.text
    made: dict[str, Any] = reply.json()
    return made


def case_of(platform: Platform, username: str, number: str) -> dict[str, Any]:
    with api_as(platform, username) as client:
        reply = client.get(f"/api/cases/{number}")
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def act_by_api(platform: Platform, username: str, number: str, action: str, **body: Any) -> None:
    with api_as(platform, username) as client:
        reply = client.post(f"/api/cases/{number}/actions/{action}", json=body)
    assert reply.status_code == 200, f"{action}: {reply.status_code} {reply.text}"


# ----- on a case's page ---------------------------------------------------------------------------


def action_button(page: Page, words: str) -> Locator:
    return page.locator("#action-buttons").get_by_role("button", name=words, exact=True)


def take(page: Page, words: str, **inputs: str | Path | list[Path]) -> None:
    """Click the action's button, give what its dialog asks (by the boxes' labels), confirm, and
    wait for the page to say it was done. ``inputs``: reason, department (its name), days, text,
    files, satisfaction (its words), target."""
    action_button(page, words).click()
    dialog = page.locator("#action-dialog")
    if inputs:
        expect(dialog).to_be_visible()
        fill_dialog(page, **inputs)
        dialog.get_by_role("button", name="确定").click()
        expect(dialog).to_be_hidden(timeout=15_000)
    expect(page.locator("#notice")).to_have_text(f"已完成：{words}", timeout=15_000)


def fill_dialog(page: Page, **inputs: str | Path | list[Path]) -> None:
    dialog = page.locator("#action-dialog")
    for name, value in inputs.items():
        if name == "department":
            dialog.get_by_label("派往单位").select_option(label=str(value))
        elif name == "satisfaction":
            dialog.get_by_label("满意度").select_option(label=str(value))
        elif name == "files":
            files = value if isinstance(value, list) else [value]
            dialog.get_by_label("附件（照片、文件）").set_input_files([str(f) for f in files])
        elif name == "days":
            dialog.get_by_label("延期天数（工作日）").fill(str(value))
        elif name == "text":
            dialog.locator("#f-text").fill(str(value))
        elif name == "target":
            dialog.get_by_label("合并到工单号").fill(str(value))
        elif name in ("reason", "note"):
            dialog.locator("#f-reason").fill(str(value))
        else:
            raise ValueError(f"no box for {name}")


def expect_status(page: Page, words: str) -> None:
    expect(page.locator("#case-status")).to_have_text(words, timeout=15_000)


def timeline_line(page: Page, action: str) -> Locator:
    """The latest timeline line of ``action`` (the lifecycle's name of it)."""
    return page.locator(f'#timeline tbody tr[data-action="{action}"]').last


# ----- things people send -------------------------------------------------------------------------


def small_png(path: Path, width: int = 16, height: int = 12) -> Path:
    """A real PNG (a blue and yellow street-light photo stand-in), written by hand: signature,
    IHDR, one IDAT of zlib'd scanlines, IEND, each chunk with its CRC."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(b"\x20\x40\xc0" if y < height // 2 else b"\xf0\xd0\x20" for _ in range(width))
        for y in range(height)
    )
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


class EnglishCaller:
    """A sipp caller on the "desk" trunk who waits ``quiet`` seconds (the queue ringing the
    browser, the agent answering), then says ``text`` in espeak-ng English (what the recording
    pipeline's pocketsphinx decodes), and stays on the line for ``seconds`` in all unless the
    agent hangs up first. In a thread of its own while the test drives the browser."""

    def __init__(
        self, platform: Platform, work: Path, *, caller: str, text: str, quiet: float, seconds: float
    ) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                place_calls(
                    platform,
                    "desk",
                    work,
                    callers=[CallerId(caller)],
                    text=text,
                    voice="en",
                    silence_first=quiet,
                    talk_seconds=seconds,
                )
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run, name="desk-caller", daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the sipp caller did not finish"
        if self.error is not None:
            raise AssertionError(f"the sipp caller failed: {self.error!r}") from self.error
