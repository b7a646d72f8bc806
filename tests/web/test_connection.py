"""Unread counts, reconnecting after a server restart, and refreshing tokens on the page."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from playwright.async_api import WebSocketRoute, expect

from tests.support.browser import Visit
from tests.support.rooms import add_member, create_room, history, send
from tests.support.server import ServerFactory
from tests.support.users import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.one_backend]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_unread_badges_count_and_clear_as_messages_are_shown(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    alice = await users.create(unique("unread"))
    bob = await users.create(unique("unread"))
    here = await create_room(api, alice, unique("here"))
    there = await create_room(api, alice, unique("there"))
    for room in (here, there):
        await add_member(api, bob, room["id"], bob)
    await send(api, alice, there["id"], "old news")
    marker = await api.put(f"/rooms/{there['id']}/read", json={"seq": 1}, headers=bob.headers)
    assert marker.json()["unread_count"] == 0
    await send(api, alice, there["id"], "sent while bob was away")

    person = await visit()
    await person.log_in(bob)
    await expect(person.unread_badge(there["name"])).to_have_text("1")
    await person.open_room(here["id"])

    # Live: messages in the other room raise its badge; the open room's are read at once.
    await send(api, alice, there["id"], "one more")
    await send(api, alice, here["id"], "in the open room")
    await expect(person.unread_badge(there["name"])).to_have_text("2")
    await expect(person.message("in the open room")).to_be_visible()
    await expect(person.unread_badge(here["name"])).to_have_count(0)
    await expect(person.page).to_have_title(f"(2) # {here['name']} · Parley")

    # Opening the room shows them below a "New" line and clears the badge, on the server too.
    await person.room_item(there["name"]).get_by_role("button").click()
    await expect(person.message("one more")).to_be_visible()
    after_line = person.page.get_by_test_id("new-divider").locator("xpath=following-sibling::li")
    await expect(after_line.get_by_test_id("message-body")).to_have_text(
        ["sent while bob was away", "one more"]
    )
    await expect(person.unread_badge(there["name"])).to_have_count(0)

    async def server_counts() -> dict[str, int]:
        listing = (await api.get("/rooms", headers=bob.headers)).json()["rooms"]
        return {r["name"]: r["unread_count"] for r in listing if r["name"] in names}

    names = {here["name"], there["name"]}
    for _ in range(50):
        if await server_counts() == {here["name"]: 0, there["name"]: 0}:
            break
        await person.page.wait_for_timeout(100)
    assert await server_counts() == {here["name"]: 0, there["name"]: 0}

    # A fresh page agrees: no badges.
    await person.page.reload()
    await person.expect_connected()
    await expect(person.message("one more")).to_be_visible()
    await expect(person.page.get_by_test_id("unread")).to_have_count(0)


async def test_reconnects_after_a_restart_and_resumes_without_loss_or_repeats(
    visit: Visit, make_server: ServerFactory
) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        alice = await UserFactory(api).create(unique("restart"))
        bob = await UserFactory(api).create(unique("restart"))
        room = await create_room(api, alice, unique("restart"))
        await add_member(api, bob, room["id"], bob)
        await send(api, bob, room["id"], "before the restart")

        person = await visit(server.base_url)
        await person.log_in(alice)
        await person.open_room(room["id"])
        await expect(person.message("before the restart")).to_be_visible()
        await person.expect_connected()  # history shows over REST before the socket is open

        server.stop()  # closes sockets with 1012
        connection = person.page.get_by_test_id("connection")
        await expect(connection).to_have_text("Reconnecting…")
        await expect(person.page.get_by_test_id("banner")).to_contain_text("Connection lost.")

        # Written while the server is down: kept and shown as waiting.
        await person.send("sent while offline")
        pending = person.page.get_by_test_id("pending-message")
        await expect(pending).to_contain_text("Waiting for the connection…")

        server.start()
        await send(api, bob, room["id"], "sent during the outage")
        await expect(connection).to_have_text("Connected")
        await expect(person.page.get_by_test_id("banner")).to_be_hidden()
        await expect(pending).to_have_count(0)
        # Both exactly once, in the server's order (which of the two came first is a race).
        page = await history(api, alice, room["id"])
        stored = [m["body"] for m in page["messages"]]
        assert sorted(stored) == [
            "before the restart",
            "sent during the outage",
            "sent while offline",
        ]
        await expect(person.messages().get_by_test_id("message-body")).to_have_text(stored)
        # The resume went on the one socket: subscribed again, and live again.
        await send(api, bob, room["id"], "after the reconnect")
        await expect(person.message("after the reconnect")).to_have_count(1)
        assert len(person.sockets) >= 2


async def test_refreshes_the_access_token_without_dropping_the_socket(
    visit: Visit, make_server: ServerFactory
) -> None:
    server = make_server(ACCESS_TOKEN_TTL_SECONDS="4")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        alice = await UserFactory(api).create(unique("token"))
        room = await create_room(api, alice, unique("token"))

        person = await visit(server.base_url)
        await person.log_in(alice)
        await person.open_room(room["id"])
        # A second tab shares the stored refresh token. Tokens rotate and a reused one revokes
        # the session, so both tabs must keep taking the newest one from storage.
        other_tab = await person.context.new_page()
        other_tab.on("pageerror", lambda error: person.errors.append(str(error)))
        await other_tab.goto(f"{server.base_url}/#/rooms/{room['id']}")
        await expect(other_tab.get_by_test_id("connection")).to_have_text("Connected")

        # Each token lives 4 s; each tab swaps in a new one well before that, three times over
        # (past the first token's expiry), on the same socket: no 4401, no reconnect.
        statuses = []
        for _ in range(3):
            async with person.page.expect_response(
                lambda response: response.url.endswith("/auth/refresh")
            ) as refreshed:
                pass
            statuses.append((await refreshed.value).status)
        assert statuses == [200, 200, 200]
        await person.send("still here")
        await expect(other_tab.get_by_test_id("timeline").get_by_text("still here")).to_be_visible()
        for page in (person.page, other_tab):
            await expect(page.get_by_test_id("connection")).to_have_text("Connected")
        assert len(person.sockets) == 1


async def test_resumes_after_a_drop_and_fetches_what_the_replay_left_out(
    visit: Visit, make_server: ServerFactory
) -> None:
    server = make_server(REPLAY_LIMIT="2")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        alice = await UserFactory(api).create(unique("replay"))
        bob = await UserFactory(api).create(unique("replay"))
        room = await create_room(api, alice, unique("replay"))
        await add_member(api, bob, room["id"], bob)
        await send(api, bob, room["id"], "first")

        # Every socket of the page goes through the test, which can cut it and hold the next.
        person = await visit(server.base_url)
        sockets: list[WebSocketRoute] = []
        reconnect = asyncio.Event()

        async def route(socket: WebSocketRoute) -> None:
            sockets.append(socket)
            if len(sockets) > 1:
                await reconnect.wait()
            socket.connect_to_server()

        await person.page.route_web_socket(re.compile(r"/ws\?"), route)
        fetched: list[str] = []
        person.page.on("request", lambda request: fetched.append(request.url))
        await person.log_in(alice)
        await person.open_room(room["id"])
        await expect(person.message("first")).to_be_visible()

        # The server drops the page as too slow (1013): it shows that and tries again.
        await sockets[0].close(code=1013, reason="too slow")
        await expect(person.page.get_by_test_id("connection")).to_have_text("Reconnecting…")
        missed = [f"missed {n}" for n in range(1, 6)]
        for body in missed:
            await send(api, bob, room["id"], body)
        reconnect.set()

        # The resume (by rev: the page knows the room's change number) replays 2
        # (REPLAY_LIMIT), says complete: false, and the page pages the rest of the changes
        # with after_rev: all of them, once each, in order.
        await person.expect_connected()
        await expect(person.messages().get_by_test_id("message-body")).to_have_text(
            ["first", *missed]
        )
        await send(api, bob, room["id"], "live again")
        await expect(person.messages().get_by_test_id("message-body")).to_have_text(
            ["first", *missed, "live again"]
        )
        assert len(sockets) == 2
        assert any(f"/rooms/{room['id']}/changes?after_rev=" in url for url in fetched)


async def test_edits_and_deletes_made_while_offline_show_after_the_reconnect(
    visit: Visit, make_server: ServerFactory
) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        alice = await UserFactory(api).create(unique("offline"))
        bob = await UserFactory(api).create(unique("offline"))
        room = await create_room(api, alice, unique("offline"))
        await add_member(api, bob, room["id"], bob)
        to_edit = await send(api, bob, room["id"], "typo here")
        to_delete = await send(api, bob, room["id"], "regrettable")
        await send(api, bob, room["id"], "stays as it was")

        person = await visit(server.base_url)
        sockets: list[WebSocketRoute] = []
        reconnect = asyncio.Event()

        async def route(socket: WebSocketRoute) -> None:
            sockets.append(socket)
            if len(sockets) > 1:
                await reconnect.wait()
            socket.connect_to_server()

        await person.page.route_web_socket(re.compile(r"/ws\?"), route)
        fetched: list[str] = []
        person.page.on("request", lambda request: fetched.append(request.url))
        await person.log_in(alice)
        await person.open_room(room["id"])
        await person.expect_connected()
        await expect(person.message("regrettable")).to_be_visible()

        # The page is cut off; meanwhile bob fixes one message and deletes another.
        await sockets[0].close(code=1013, reason="too slow")
        await expect(person.page.get_by_test_id("connection")).to_have_text("Reconnecting…")
        edited = await api.patch(
            f"/rooms/{room['id']}/messages/{to_edit['id']}",
            json={"body": "typo fixed"},
            headers=bob.headers,
        )
        assert edited.status_code == 200
        deleted = await api.delete(
            f"/rooms/{room['id']}/messages/{to_delete['id']}", headers=bob.headers
        )
        assert deleted.status_code == 204
        fetched.clear()
        reconnect.set()

        # The resume by rev brings both, without reloading the page or refetching history.
        await person.expect_connected()
        bodies = person.messages().get_by_test_id("message-body")
        await expect(bodies).to_have_text(
            ["typo fixed (edited)", "This message was deleted.", "stays as it was"]
        )
        await expect(person.messages().get_by_test_id("edited")).to_have_count(1)
        assert not any("/messages" in url for url in fetched), fetched
        # And it is live again.
        await send(api, bob, room["id"], "back to normal")
        await expect(person.message("back to normal")).to_have_count(1)
        assert len(sockets) == 2


async def test_being_added_to_a_room_shows_it_at_once(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    """No reload and no poll: the `room.joined` / `room.left` frames update the room list."""
    alice = await users.create(unique("adder"))
    bob = await users.create(unique("added"))
    person = await visit()
    await person.log_in(bob)
    await person.expect_connected()

    vault = await create_room(api, alice, unique("vault"), visibility="private")
    await expect(person.room_item(vault["name"])).to_have_count(0)
    await add_member(api, alice, vault["id"], bob)
    # Well inside the page's 30 s refresh, and without a focus event to trigger one.
    await expect(person.room_item(vault["name"])).to_be_visible(timeout=5_000)
    await expect(person.page.get_by_text("added you to")).to_be_visible(timeout=5_000)
    await send(api, alice, vault["id"], "welcome in")
    await expect(person.unread_badge(vault["name"])).to_have_text("1", timeout=5_000)

    await api.delete(f"/rooms/{vault['id']}", headers=alice.headers)
    await expect(person.room_item(vault["name"])).to_have_count(0, timeout=5_000)
