"""Playwright against Debian's Chromium and a live server on loopback.

Playwright's own browser download is not used: the tests drive the system Chromium. Outside
CI a missing Chromium skips these tests with the install command; with ``CI=true`` it fails.
"""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request

CHROMIUM = os.environ.get("BACKPROP_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM}; install it: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Pages open at 1280×800, the laptop size the page is designed to be legible at."""
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    return live_server


@dataclass
class PageWatch:
    """What a page did that it must not: console errors, uncaught errors, foreign requests."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def on_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if f"{parts.scheme.replace('ws', 'http')}://{parts.netloc}" != self.origin:
            self.foreign_requests.append(request.url)

    def assert_clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.page_errors == [], self.page_errors
        assert self.foreign_requests == [], self.foreign_requests


@pytest.fixture
def watch(page: Page, live_server: str) -> Iterator[PageWatch]:
    """Record console errors, page errors and requests to other hosts for one test's page."""
    watched = PageWatch(origin=live_server)
    page.on("console", watched.on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    page.on("request", watched.on_request)
    return watched


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


def change_catalog(page: Page, change: str) -> None:
    """Give the page another embedded catalog: ``change`` is a JavaScript function from the
    catalog in the page's JSON block to the one to embed instead, or to null to leave the
    block out (the page then has to fetch GET /api/catalog). The block is rewritten once the
    HTML is parsed, before the page's module scripts run (and read it)."""
    page.add_init_script(
        'document.addEventListener("readystatechange", () => {'
        '  if (document.readyState !== "interactive") return;'
        '  const block = document.getElementById("catalog");'
        f"  const changed = ({change})(JSON.parse(block.textContent));"
        "  if (changed === null) block.remove();"
        "  else block.textContent = JSON.stringify(changed);"
        "});"
    )
