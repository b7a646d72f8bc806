"""The web page as a person uses it, through Playwright and Debian's Chromium."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Locator, Page, WebSocket, expect

from tests.support.users import PASSWORD, TestUser

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium tries to reach Google and stalls on it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Visitor:
    """One browser context (its own storage: one person) with one page on Parley."""

    context: BrowserContext
    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)

    @classmethod
    async def open(cls, browser: Browser, base_url: str, **context_options: Any) -> Visitor:
        options = {"viewport": {"width": 1280, "height": 800}, **context_options}
        context = await browser.new_context(**options)
        context.set_default_timeout(10_000)
        page = await context.new_page()
        visitor = cls(context, page, base_url)
        page.on("pageerror", lambda error: visitor.errors.append(str(error)))
        page.on("websocket", lambda socket: visitor.sockets.append(socket))
        await page.goto(base_url + "/")
        return visitor

    async def close(self) -> None:
        await self.context.close()

    # Signing in ---------------------------------------------------------------------------

    async def sign_up(
        self, username: str, password: str = PASSWORD, display_name: str | None = None
    ) -> None:
        await self.page.get_by_role("tab", name="Sign up").click()
        form = self.page.locator("#auth-form")
        await form.get_by_label("Username").fill(username)
        if display_name:
            await form.get_by_label("Display name").fill(display_name)
        await form.get_by_label("Password").fill(password)
        await form.get_by_role("button", name="Create account").click()
        await self.expect_connected()

    async def log_in(self, user: TestUser) -> None:
        form = self.page.locator("#auth-form")
        await form.get_by_label("Username").fill(user.username)
        await form.get_by_label("Password").fill(user.password)
        await form.get_by_role("button", name="Log in").click()
        await self.expect_connected()

    async def expect_connected(self) -> None:
        await expect(self.page.get_by_test_id("connection")).to_have_text("Connected")

    # Rooms and messages -------------------------------------------------------------------

    async def open_room(self, room_id: int) -> None:
        await self.page.evaluate("id => { location.hash = `#/rooms/${id}`; }", room_id)
        await expect(self.page.get_by_test_id("composer")).to_be_visible()

    def room_item(self, name: str) -> Locator:
        return self.page.get_by_test_id("room-item").filter(
            has=self.page.get_by_text(re.compile(rf"(^|\s){re.escape(name)}$"))
        )

    def unread_badge(self, name: str) -> Locator:
        return self.room_item(name).get_by_test_id("unread")

    async def send(self, text: str) -> None:
        composer = self.page.get_by_test_id("composer")
        await composer.fill(text)
        await composer.press("Enter")
        await expect(composer).to_have_value("")

    def messages(self) -> Locator:
        return self.page.get_by_test_id("timeline").get_by_test_id("message")

    def message(self, text: str) -> Locator:
        """The stored message whose body is exactly `text`."""
        return self.messages().filter(
            has=self.page.get_by_test_id("message-body").get_by_text(text, exact=True)
        )

    def body(self, text: str) -> Locator:
        return self.page.get_by_test_id("message-body").get_by_text(text, exact=True)

    def online(self) -> Locator:
        return self.page.get_by_test_id("online-list").get_by_role("listitem")


# The `visit` fixture: open the page as a new person (optionally on another server).
Visit = Callable[..., Awaitable[Visitor]]
