"""A real browser for tests of the web pages: Debian's headless Chromium driven by Playwright.

Playwright's own browser downloads are never used (`playwright install` is not run anywhere):
the browser is the system package /usr/bin/chromium, started with the flags that work on the
lab machines (docs: TELEPHONY-LAB.md, "Web softphone (WebRTC) in a real browser") and an empty
profile of its own, so nothing a developer's browser keeps can change what a test sees.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.conftest import ARTIFACTS

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# A softphone page: a fake microphone (a steady tone) granted without asking, audio that plays
# without a click, and real host ICE candidates (no mDNS names Asterisk could not resolve).
MEDIA_FLAGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)
VIEWPORT = {"width": 1366, "height": 768}
SCREENSHOTS = ARTIFACTS / "screenshots"
TIMEOUT_MS = 10_000  # every wait of a page action or expect() unless it says otherwise


@contextmanager
def open_page(locale: str = "zh-CN", timezone: str = "Asia/Shanghai", media: bool = False) -> Iterator[Page]:
    """A page in a fresh headless Chromium (1366x768), closed with its profile afterwards."""
    with open_pages(1, locale, timezone, media) as (page,):
        yield page


@contextmanager
def open_pages(
    count: int, locale: str = "zh-CN", timezone: str = "Asia/Shanghai", media: bool = False
) -> Iterator[tuple[Page, ...]]:
    """``count`` pages, each its own Chromium with its own empty profile (two people, two
    browsers), driven by one Playwright: its sync API allows only one instance per thread."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: scripts/bootstrap.sh installs the chromium package")
    profiles = [Path(tempfile.mkdtemp(prefix="hotline-chromium-", dir="/tmp")) for _ in range(count)]
    try:
        with sync_playwright() as playwright:
            contexts = []
            try:
                for profile in profiles:
                    context = playwright.chromium.launch_persistent_context(
                        str(profile),
                        executable_path=str(CHROMIUM),
                        headless=True,
                        args=[*FLAGS, *(MEDIA_FLAGS if media else ())],
                        viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
                        locale=locale,
                        timezone_id=timezone,
                    )
                    contexts.append(context)
                    context.set_default_timeout(TIMEOUT_MS)
                    context.set_default_navigation_timeout(TIMEOUT_MS)
                yield tuple(c.pages[0] if c.pages else c.new_page() for c in contexts)
            finally:
                for context in contexts:
                    context.close()
    finally:
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)


def shot(page: Page, name: str, folder: Path = SCREENSHOTS) -> Path:
    """Save what the page shows now (the 1366x768 viewport) as test-artifacts/screenshots/<name>.png."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path))
    return path
