"""/docs in a browser that can reach nothing but the server: it renders, and Authorize works."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from tests.support.server import LiveServer
from tests.support.users import UserFactory


async def test_docs_work_offline_and_authorize_logs_in(
    browser: Browser, server: LiveServer, users: UserFactory
) -> None:
    user = await users.create()
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    origin = urlsplit(server.base_url).netloc
    blocked: list[str] = []

    async def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_server)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(f"{server.base_url}/docs")
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Parley")

        await page.locator(".auth-wrapper .authorize").click()
        dialog = page.locator(".modal-ux")
        await dialog.locator("#oauth_username").fill(user.username)
        await dialog.locator("#oauth_password").fill(user.password)
        await dialog.locator(".auth-btn-wrapper .authorize").click()
        # The button reads "Logout" once the token is in (its aria-label says otherwise).
        await expect(dialog.locator("button", has_text="Logout")).to_be_visible()
        await dialog.locator(".btn-done").click()

        operation = page.locator("#operations-users-read_me_users_me_get")
        await operation.locator(".opblock-summary").click()
        await operation.get_by_role("button", name="Try it out").click()
        await operation.get_by_role("button", name="Execute").click()
        live = operation.locator(".live-responses-table .response")
        await expect(live.locator(".response-col_status").first).to_have_text("200")
        await expect(live.locator(".response-col_description")).to_contain_text(user.username)
    finally:
        await context.close()
    assert not blocked, f"/docs tried to reach other hosts: {blocked}"
    assert not errors, errors


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_only_their_own_assets(
    client: httpx.AsyncClient, page: str
) -> None:
    html = (await client.get(page)).text
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    references += re.findall(r"""url\s*:\s*["']([^"']+)["']""", html)
    assert any(ref.startswith("/docs-assets/") for ref in references), references
    for ref in references:
        assert ref.startswith("/"), f"{page} loads {ref} from elsewhere"
        if ref.startswith("/docs-assets/"):
            assert (await client.get(ref)).status_code == 200, ref
    assert "cdn." not in html
