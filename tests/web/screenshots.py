"""Screenshots of the web page for the README, from a real server and a real conversation.

    .venv/bin/python -m tests.web.screenshots [OUTPUT_DIR]    (default: docs/screenshots)

Starts its own `parley serve` on a fresh SQLite database, signs people up, lets them talk,
and photographs the page in Chromium: the sign-in card, a conversation (light and dark),
reactions and their picker, a thread open, a direct message, the reconnecting state and a
phone-sized screen.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Browser, async_playwright, expect

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Visitor
from tests.support.databases import run_alembic
from tests.support.rooms import add_member, create_room, send
from tests.support.server import LiveServer, server_environment
from tests.support.users import TestUser, UserFactory

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

CONVERSATION = [
    ("grace", "Morning! The staging deploy from last night looks healthy."),
    ("grace", "p95 latency is down to 38 ms after the group-commit change."),
    ("ada", "Nice. Did the replay test pass on PostgreSQL too?"),
    ("grace", "Both databases, 412 tests, all green."),
    ("ada", "Then let's ship it this afternoon. I'll write the release notes."),
    ("lin", "Release notes draft: https://example.com/parley/releases/0.2"),
    ("ada", "Looks good. One thing: mention that the web page reconnects by itself now."),
]


async def make_people(api: httpx.AsyncClient) -> dict[str, TestUser]:
    factory = UserFactory(api)
    names = {"ada": "Ada Lovelace", "grace": "Grace Hopper", "lin": "Lin Okafor"}
    people = {}
    for username, display_name in names.items():
        user = await factory.create(username)
        await api.patch("/users/me", json={"display_name": display_name}, headers=user.headers)
        people[username] = user
    return people


async def stage(api: httpx.AsyncClient, people: dict[str, TestUser]) -> dict[str, int]:
    ada, grace, lin = people["ada"], people["grace"], people["lin"]
    general = await create_room(api, ada, "general", topic="Everything about the Parley launch")
    design = await create_room(api, grace, "design", topic="Pixels and pull requests")
    ops = await create_room(api, lin, "ops-alerts", topic="Pager duty, deploys, incidents")
    leads = await create_room(api, ada, "leads", visibility="private", topic="Planning")
    await create_room(api, lin, "random", topic="Cats, coffee and everything else")
    await create_room(api, grace, "help", topic="Ask anything")
    for room in (general, design, ops):
        for user in people.values():
            if room["created_by"] != user.id:
                await add_member(api, user, room["id"], user)
    await add_member(api, ada, leads["id"], grace)
    for author, body in CONVERSATION:
        await send(api, people[author], general["id"], body)
    edited = await send(api, grace, general["id"], "Graphs are in the #ops-alerts room")
    await api.patch(
        f"/rooms/{general['id']}/messages/{edited['id']}",
        json={"body": "Graphs are in the ops-alerts room, pinned at the top."},
        headers=grace.headers,
    )
    await send(api, grace, design["id"], "New icon set is up for review.")
    await send(api, lin, design["id"], "Love the rounded corners.")
    for n in range(1, 4):
        await send(api, lin, ops["id"], f"deploy #{140 + n} finished in {40 + n * 3} s")
    await send(api, grace, leads["id"], "Q3 planning doc is ready.")
    await converse(api, people, general["id"])
    dm = await api.post("/dms", json={"user_id": ada.id}, headers=grace.headers)
    assert dm.status_code in (200, 201), dm.text
    for author, body in DIRECT:
        await send(api, people[author], dm.json()["id"], body)
    return {"general": general["id"], "dm": dm.json()["id"]}


DIRECT = [
    ("grace", "Quick one before the launch: can you take the on-call shift tonight?"),
    ("ada", "Sure, I'll swap with Lin for Thursday."),
    ("grace", "Thank you! 🙏"),
]


async def converse(api: httpx.AsyncClient, people: dict[str, TestUser], room_id: int) -> None:
    """Reactions on the conversation, a thread under the plan to ship, and a mention."""
    messages = (await api.get(f"/rooms/{room_id}/messages", headers=people["ada"].headers)).json()[
        "messages"
    ]
    by_body = {m["body"]: m for m in messages}
    reactions = [
        ("p95 latency is down to 38 ms after the group-commit change.", "🎉", ("ada", "lin")),
        ("p95 latency is down to 38 ms after the group-commit change.", "🚀", ("lin",)),
        ("Both databases, 412 tests, all green.", "👍", ("ada", "lin")),
        ("Then let's ship it this afternoon. I'll write the release notes.", "👍", ("grace",)),
    ]
    for body, emoji, who in reactions:
        for username in who:
            path = f"/rooms/{room_id}/messages/{by_body[body]['id']}/reactions/{emoji}"
            answer = await api.put(path, headers=people[username].headers)
            assert answer.status_code == 200, answer.text
    root = by_body["Then let's ship it this afternoon. I'll write the release notes."]
    for author, body in (
        ("grace", "I can add the benchmark numbers to them."),
        ("lin", "Ops is ready: the rollback plan is in the runbook."),
    ):
        answer = await api.post(
            f"/rooms/{room_id}/messages",
            json={"body": body, "reply_to": root["id"]},
            headers=people[author].headers,
        )
        assert answer.status_code == 201, answer.text
    await send(api, people["lin"], room_id, "@ada the status page wording is ready for you too.")


async def shoot(browser: Browser, server: LiveServer, output: Path) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        people = await make_people(api)
        rooms = await stage(api, people)

    login = await Visitor.open(browser, server.base_url)
    await login.page.get_by_label("Username", exact=True).fill("ada")
    await login.page.screenshot(path=output / "login.png")
    await login.close()

    grace = await Visitor.open(browser, server.base_url)
    await grace.log_in(people["grace"])
    await grace.open_room(rooms["general"])

    for scheme, name in (("light", "chat.png"), ("dark", "chat-dark.png")):
        ada = await Visitor.open(browser, server.base_url, color_scheme=scheme)
        await ada.log_in(people["ada"])
        await ada.open_room(rooms["general"])
        await expect(ada.online()).to_have_count(2)
        await grace.page.get_by_test_id("composer").press_sequentially("Shipping it ", delay=300)
        await expect(ada.page.get_by_test_id("typing")).to_contain_text("Grace Hopper is typing")
        await ada.page.mouse.move(900, 700)
        await ada.page.screenshot(path=output / name)
        await ada.close()
        await grace.page.get_by_test_id("composer").fill("")

    # Reactions (and the picker), a thread open, a direct message.
    ada = await Visitor.open(browser, server.base_url)
    await ada.log_in(people["ada"])
    await ada.open_room(rooms["general"])
    target = ada.message("Both databases, 412 tests, all green.")
    await target.hover()
    await target.get_by_role("button", name="React").click()
    await expect(ada.page.get_by_test_id("picker")).to_be_visible()
    await ada.page.get_by_test_id("picker").get_by_role("button").nth(1).hover()
    await ada.page.screenshot(path=output / "reactions.png")
    await ada.page.keyboard.press("Escape")
    await (
        ada.message("Then let's ship it this afternoon. I'll write the release notes.")
        .get_by_test_id("replies")
        .click()
    )
    await expect(ada.page.get_by_test_id("thread-replies").get_by_test_id("message")).to_have_count(
        2
    )
    await ada.page.mouse.move(5, 5)
    await ada.page.screenshot(path=output / "thread.png")
    await ada.open_room(rooms["dm"])
    await expect(ada.message("Thank you! 🙏")).to_be_visible()
    await ada.page.mouse.move(5, 5)
    await ada.page.screenshot(path=output / "dm.png")
    await ada.close()

    phone = await Visitor.open(
        browser,
        server.base_url,
        viewport={"width": 390, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    await phone.log_in(people["ada"])
    await phone.open_room(rooms["general"])
    await phone.page.mouse.move(5, 5)
    await phone.page.screenshot(path=output / "mobile.png")

    server.stop()
    await expect(phone.page.get_by_test_id("banner")).to_be_visible()
    await phone.page.screenshot(path=output / "reconnecting.png")
    await phone.close()
    await grace.close()


async def main(output: Path) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        url = f"sqlite+aiosqlite:///{data / 'parley.db'}"
        run_alembic(url, "upgrade", "head")
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            with LiveServer(env=server_environment(url, data), cwd=data) as server:
                await shoot(browser, server, output)
            await browser.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
