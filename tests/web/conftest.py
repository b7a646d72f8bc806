"""The web page in a real headless browser: Debian's Chromium driven by Playwright.

One browser for the run; each test opens its own contexts (separate storage, so separate
people). No browser download is involved: Playwright drives /usr/bin/chromium.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Playwright, async_playwright, expect

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Visit, Visitor
from tests.support.live import api, users  # noqa: F401 (shared fixtures)
from tests.support.server import LiveServer

REQUIRE_SERVICES = os.environ.get("PARLEY_TEST_REQUIRE_SERVICES") == "1"

# Assertions wait for the page (they never sleep); a loaded CI machine gets a little longer
# than Playwright's default 5 s, e.g. for a reconnect that is still backing off.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    chromium = await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    await chromium.close()


@pytest.fixture
async def visit(browser: Browser, server: LiveServer) -> AsyncIterator[Visit]:
    """Open the page in a fresh browser context (a separate person); closed after the test,
    which fails if any page threw an uncaught error."""
    opened: list[Visitor] = []

    async def open_visitor(base_url: str | None = None, **context: object) -> Visitor:
        visitor = await Visitor.open(browser, base_url or server.base_url, **context)
        opened.append(visitor)
        return visitor

    yield open_visitor
    errors = [error for visitor in opened for error in visitor.errors]
    for visitor in opened:
        await visitor.close()
    assert not errors, f"the page threw: {errors}"
