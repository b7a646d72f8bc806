"""Two people chatting through the web page, each in their own browser context."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import expect

from tests.support.browser import Visit
from tests.support.rooms import add_member, create_room, send
from tests.support.users import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.one_backend]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_two_people_sign_up_and_chat_live(visit: Visit) -> None:
    alice, bob = await visit(), await visit()
    alice_name, bob_name, room_name = unique("alice"), unique("bob"), unique("lobby")
    await alice.sign_up(alice_name, display_name="Alice Liddell")
    await bob.sign_up(bob_name)

    # Alice creates a public room in the page.
    page = alice.page
    await page.get_by_role("button", name="+ New room").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name", exact=True).fill(room_name)
    await dialog.get_by_label("Topic").fill("Say hello")
    await dialog.get_by_role("button", name="Create room").click()
    await expect(page.get_by_test_id("room-name")).to_have_text(f"# {room_name}")
    await expect(page.get_by_text("Say hello")).to_be_visible()
    await alice.send("Hello, is anyone here?")
    await expect(alice.message("Hello, is anyone here?")).to_have_count(1)

    # Bob comes back to his window, finds it among the public rooms and joins.
    # (Headless windows never lose focus, so play the window coming back into focus.)
    await bob.page.evaluate("window.dispatchEvent(new FocusEvent('focus'))")
    await bob.room_item(room_name).get_by_role("button").click()
    await bob.page.get_by_role("button", name="Join room").click()
    await expect(bob.message("Hello, is anyone here?")).to_be_visible()
    await expect(bob.message("Hello, is anyone here?").get_by_test_id("author")).to_have_text(
        "Alice Liddell"
    )
    await expect(bob.room_item(room_name)).to_be_visible()
    await expect(bob.page.get_by_test_id("my-rooms").get_by_text(room_name)).to_be_visible()

    # Both see each other online.
    await expect(alice.online()).to_have_count(2)
    await expect(alice.online().filter(has_text=bob_name)).to_be_visible()
    await expect(bob.online().filter(has_text="Alice Liddell")).to_be_visible()
    await expect(bob.page.get_by_test_id("online-count")).to_have_text("● 2 online")

    # Live, both ways; the typing indicator shows while someone types.
    await bob.send("Hi Alice!")
    await expect(alice.message("Hi Alice!")).to_be_visible()
    await bob.page.get_by_test_id("composer").press_sequentially("Writing a long one")
    await expect(alice.page.get_by_test_id("typing")).to_have_text(f"{bob_name} is typing…")
    await alice.send("Hi Bob, welcome.")
    await expect(bob.message("Hi Bob, welcome.")).to_be_visible()
    await bob.page.get_by_test_id("composer").press("Enter")
    await expect(alice.message("Writing a long one")).to_be_visible()
    await expect(alice.page.get_by_test_id("typing")).to_have_text("")

    # Every message exactly once, in order, on both pages.
    expected = ["Hello, is anyone here?", "Hi Alice!", "Hi Bob, welcome.", "Writing a long one"]
    for person in (alice, bob):
        await expect(person.messages().get_by_test_id("message-body")).to_have_text(expected)

    # Bob reloads: still signed in, back in the room, with the history.
    await bob.page.reload()
    await bob.expect_connected()
    await expect(bob.page.get_by_test_id("room-name")).to_have_text(f"# {room_name}")
    await expect(bob.messages().get_by_test_id("message-body")).to_have_text(expected)

    # Bob leaves: Alice sees him go offline.
    await bob.close()
    await expect(alice.online()).to_have_count(1)
    await expect(alice.page.get_by_test_id("online-count")).to_have_text("● 1 online")


async def test_reload_keeps_history_and_scrolling_up_loads_older(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    alice = await users.create(unique("hist"))
    room = await create_room(api, alice, unique("history"))
    for n in range(1, 61):
        await send(api, alice, room["id"], f"message {n}")

    person = await visit()
    await person.log_in(alice)
    await person.open_room(room["id"])
    # The newest page (50) is shown, scrolled to the bottom.
    await expect(person.message("message 60")).to_be_in_viewport()
    await expect(person.messages()).to_have_count(50)
    await expect(person.message("message 10")).to_have_count(0)

    await person.page.reload()
    await person.expect_connected()
    await expect(person.message("message 60")).to_be_in_viewport()
    await expect(person.messages()).to_have_count(50)

    # Scrolling to the top fetches the older ones (before_seq) and keeps the reader's place.
    timeline = person.page.get_by_test_id("timeline")
    await timeline.evaluate("node => { node.scrollTop = 0; }")
    await expect(person.messages()).to_have_count(60)
    await expect(person.page.get_by_text(re.compile(r"This is the beginning of"))).to_be_visible()
    await expect(person.message("message 11")).to_be_in_viewport()
    await timeline.evaluate("node => { node.scrollTop = 0; }")
    await expect(person.message("message 1")).to_be_in_viewport()
    bodies = await person.messages().get_by_test_id("message-body").all_inner_texts()
    assert bodies == [f"message {n}" for n in range(1, 61)]


async def test_user_strings_render_as_text_never_as_html(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    payload = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    alice = await users.create(unique("xss"))
    bob = await users.create(unique("xss"))
    await api.patch(
        "/users/me",
        json={"display_name": '<img src=x onerror="window.__pwned=3">'},
        headers=bob.headers,
    )
    room = await create_room(api, alice, unique("xss"), topic="<b>bold?</b>")
    await add_member(api, bob, room["id"], bob)

    reader, writer = await visit(), await visit()
    await reader.log_in(alice)
    await reader.open_room(room["id"])
    await writer.log_in(bob)
    await writer.open_room(room["id"])
    await writer.send(payload)

    for person in (reader, writer):
        await expect(person.message(payload)).to_have_count(1)
        await expect(person.page.get_by_text("<b>bold?</b>", exact=True)).to_be_visible()
        await expect(person.message(payload).get_by_test_id("author")).to_have_text(
            '<img src=x onerror="window.__pwned=3">'
        )
        timeline = person.page.get_by_test_id("timeline")
        await expect(timeline.locator("script")).to_have_count(0)
        await expect(timeline.locator("img")).to_have_count(0)
        assert await person.page.evaluate("typeof window.__pwned") == "undefined"

    # And after a reload, when it comes from history rather than live.
    await reader.page.reload()
    await expect(reader.message(payload)).to_have_count(1)
    assert await reader.page.evaluate("typeof window.__pwned") == "undefined"


async def test_invisible_controls_are_shown_inert_and_cannot_reorder_the_page(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    """U+202E (right-to-left override) and friends are drawn as visible escapes, as the
    terminal client does, instead of reversing the text and what follows it."""
    alice = await users.create(unique("bidi"))
    await api.patch("/users/me", json={"display_name": "Eve\u202eliamg.com"}, headers=alice.headers)
    room = await create_room(api, alice, unique("bidi"), topic="topic\u2066isolated\u2069")
    await send(api, alice, room["id"], "pay\u202egnp.exe now\u200f!")

    person = await visit()
    await person.log_in(alice)
    await person.open_room(room["id"])
    body = person.messages().get_by_test_id("message-body")
    await expect(body).to_have_text("pay<U+202E>gnp.exe now<U+200F>!")
    await expect(person.messages().get_by_test_id("author")).to_have_text("Eve<U+202E>liamg.com")
    await expect(person.page.get_by_text("topic<U+2066>isolated<U+2069>")).to_be_visible()
    # C0 and C1 controls in caret notation, like the terminal (ESC is ^[); newlines and
    # tabs stay what they are.
    shown = await person.page.evaluate(
        """async () => {
            const { inert } = await import("/static/js/dom.js");
            return inert("a\\u001b[31mred\\u0007\\u0085\\u061c\\tb\\nc");
        }"""
    )
    assert shown == "a^[[31mred^GM-^E<U+061C>\tb\nc"


async def test_edit_and_delete_own_messages(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    alice = await users.create(unique("edit"))
    bob = await users.create(unique("edit"))
    room = await create_room(api, alice, unique("edits"))
    await add_member(api, bob, room["id"], bob)
    await send(api, bob, room["id"], "Bob's message")

    author, reader = await visit(), await visit()
    await author.log_in(alice)
    await author.open_room(room["id"])
    await reader.log_in(bob)
    await reader.open_room(room["id"])
    await author.send("Teh first draft")

    # Only one's own messages offer edit and delete.
    await author.message("Bob's message").hover()
    await expect(author.message("Bob's message").get_by_role("button", name="Edit")).to_have_count(
        0
    )

    mine = author.message("Teh first draft")
    await mine.hover()
    await mine.get_by_role("button", name="Edit").click()
    editor = author.page.get_by_role("textbox", name="Edit message")
    await expect(editor).to_be_focused()
    await editor.fill("The first draft, fixed")
    await editor.press("Enter")

    for person in (author, reader):
        edited = person.messages().filter(has_text="The first draft, fixed")
        await expect(edited.get_by_test_id("edited")).to_have_text("(edited)")
        await expect(person.page.get_by_text("Teh first draft")).to_have_count(0)

    edited = author.messages().filter(has_text="The first draft, fixed")
    await edited.hover()
    await edited.get_by_role("button", name="Delete").click()
    await edited.get_by_role("button", name="Delete").click()  # confirm
    for person in (author, reader):
        await expect(person.page.get_by_text("This message was deleted.")).to_have_count(1)
        await expect(person.page.get_by_text("The first draft, fixed")).to_have_count(0)
        await expect(person.messages()).to_have_count(2)

    # The tombstone survives a reload.
    await reader.page.reload()
    await expect(reader.page.get_by_text("This message was deleted.")).to_have_count(1)
