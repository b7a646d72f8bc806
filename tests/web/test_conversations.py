"""Conversations in the web page, two people in two browser contexts: reactions, replies and
threads, mentions, direct messages, and searching a room's history."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import expect

from tests.support.browser import Visit, Visitor
from tests.support.rooms import add_member, create_room, send
from tests.support.users import TestUser, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.one_backend]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def two_in_a_room(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient, *, prefix: str
) -> tuple[TestUser, TestUser, dict[str, object], Visitor, Visitor]:
    """Ann and Bob, both members of a fresh private room, each with the page open on it."""
    ann = await users.create(unique(f"ann-{prefix}"))
    bob = await users.create(unique(f"bob-{prefix}"))
    room = await create_room(api, ann, unique(prefix), visibility="private")
    await add_member(api, ann, int(room["id"]), bob)
    ann_page, bob_page = await visit(), await visit()
    for person, user in ((ann_page, ann), (bob_page, bob)):
        await person.log_in(user)
        await person.open_room(int(room["id"]))
    return ann, bob, room, ann_page, bob_page


async def idle_timers(person: Visitor) -> int:
    """How many timers the page sets in one quiet second."""
    count: int = await person.page.evaluate(
        """() => new Promise((resolve) => {
            const original = window.setTimeout;
            let count = 0;
            window.setTimeout = (...args) => { count += 1; return original(...args); };
            original(() => { window.setTimeout = original; resolve(count); }, 1000);
        })"""
    )
    return count


async def test_react_and_see_it_on_the_other_side(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    ann, bob, room, a, b = await two_in_a_room(visit, users, api, prefix="react")
    await a.send("Lunch at noon?")
    await expect(b.message("Lunch at noon?")).to_be_visible()

    # Bob opens the picker under Ann's message and picks 👍: both see it.
    await b.message("Lunch at noon?").hover()
    await b.message("Lunch at noon?").get_by_role("button", name="React").click()
    await b.page.get_by_test_id("picker").get_by_role("button", name="React with 👍").click()
    chip = a.message("Lunch at noon?").get_by_test_id("reaction")
    await expect(chip).to_have_text("👍1")
    await expect(chip).to_have_attribute("aria-pressed", "false")
    await expect(b.message("Lunch at noon?").get_by_test_id("reaction")).to_have_attribute(
        "aria-pressed", "true"
    )

    # Ann adds hers by clicking the chip; hovering says who reacted, by name.
    await chip.click()
    await expect(chip).to_have_text("👍2")
    await expect(b.message("Lunch at noon?").get_by_test_id("reaction")).to_have_text("👍2")
    await expect(chip).to_have_attribute("title", f"You and {bob.username} reacted with 👍")

    # An emoji someone used is offered in the picker after the common ones.
    stored = (await api.get(f"/rooms/{room['id']}/messages", headers=ann.headers)).json()
    message_id = stored["messages"][-1]["id"]
    response = await api.put(
        f"/rooms/{room['id']}/messages/{message_id}/reactions/%3Ashipit%3A", headers=bob.headers
    )
    assert response.status_code == 200, response.text
    await expect(a.message("Lunch at noon?").get_by_test_id("reaction")).to_have_count(2)
    await a.message("Lunch at noon?").hover()
    await a.message("Lunch at noon?").get_by_role("button", name="React").click()
    await expect(
        a.page.get_by_test_id("picker").get_by_role("button", name="React with :shipit:")
    ).to_be_visible()
    await a.page.keyboard.press("Escape")
    await expect(a.page.get_by_test_id("picker")).to_have_count(0)

    # Bob takes his 👍 back by clicking it: one left, on both sides.
    await b.message("Lunch at noon?").get_by_test_id("reaction").first.click()
    await expect(chip.first).to_have_text("👍1")
    await expect(b.message("Lunch at noon?").get_by_test_id("reaction").first).to_have_attribute(
        "aria-pressed", "false"
    )


async def test_reply_and_open_the_thread(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    _ann, _bob, _room, a, b = await two_in_a_room(visit, users, api, prefix="thread")
    await a.send("Who reviews the release notes?")
    await expect(b.message("Who reviews the release notes?")).to_be_visible()

    # Bob replies from the message's Reply action, in the thread panel.
    await b.message("Who reviews the release notes?").hover()
    await b.message("Who reviews the release notes?").get_by_role("button", name="Reply").click()
    thread = b.page.get_by_test_id("thread")
    await expect(thread).to_be_visible()
    await expect(thread.get_by_test_id("thread-root").get_by_test_id("message-body")).to_have_text(
        "Who reviews the release notes?"
    )
    await thread.get_by_test_id("thread-composer").fill("I will, after lunch")
    await thread.get_by_test_id("thread-composer").press("Enter")
    await expect(
        thread.get_by_test_id("thread-replies").get_by_test_id("message-body")
    ).to_have_text(["I will, after lunch"])

    # Ann sees the reply in the room, its root quoted above it, and the count on the root.
    reply = a.message("I will, after lunch")
    await expect(reply.get_by_test_id("quote")).to_contain_text("Who reviews the release notes?")
    root_replies = a.message("Who reviews the release notes?").get_by_test_id("replies")
    await expect(root_replies).to_contain_text("1 reply")

    # She opens the thread from the count and answers there; Bob's panel follows live.
    await root_replies.click()
    ann_thread = a.page.get_by_test_id("thread")
    await expect(
        ann_thread.get_by_test_id("thread-replies").get_by_test_id("message-body")
    ).to_have_text(["I will, after lunch"])
    await ann_thread.get_by_test_id("thread-composer").fill("Thanks!")
    await ann_thread.get_by_test_id("thread-composer").press("Enter")
    await expect(
        thread.get_by_test_id("thread-replies").get_by_test_id("message-body")
    ).to_have_text(["I will, after lunch", "Thanks!"])
    await expect(thread).to_contain_text("2 replies")
    root_for_bob = b.message("Who reviews the release notes?")
    await expect(root_for_bob.get_by_test_id("replies")).to_contain_text("2 replies")

    # An open thread costs nothing while nothing happens: the page is not redrawing itself
    # in a loop (each redraw is scheduled with setTimeout).
    assert await idle_timers(b) < 20

    # Closing the panel leaves the room as it was.
    await thread.get_by_role("button", name="Close thread").click()
    await expect(thread).to_be_hidden()


async def test_mention_shows_a_badge_and_a_notice(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    ann = await users.create(unique("ann-men"))
    bob = await users.create(unique("bob-men"))
    room = await create_room(api, ann, unique("mentions"), visibility="private")
    quiet = await create_room(api, bob, unique("elsewhere"), visibility="private")
    await add_member(api, ann, int(room["id"]), bob)
    a, b = await visit(), await visit()
    await a.log_in(ann)
    await a.open_room(int(room["id"]))
    await b.log_in(bob)
    await b.open_room(int(quiet["id"]))  # Bob is looking at another room

    # Ann types `@` and the first letters: the member list offers Bob; Enter completes it.
    composer = a.page.get_by_test_id("composer")
    await expect(a.page.get_by_test_id("offline-list").or_(a.online()).first).to_be_visible()
    await composer.press_sequentially(f"can you check this @{bob.username[:6]}")
    options = a.page.get_by_test_id("mention-list").get_by_role("option")
    await expect(options).to_have_count(1)
    await expect(options).to_contain_text(bob.username)
    await composer.press("Enter")
    await expect(composer).to_have_value(f"can you check this @{bob.username} ")
    await composer.press_sequentially("please")
    await composer.press("Enter")
    await expect(composer).to_have_value("")

    # Bob gets the notice and a mention badge apart from the unread count.
    await expect(b.page.get_by_test_id("toast").filter(has_text="mentioned you")).to_be_visible()
    item = b.room_item(str(room["name"]))
    await expect(item.get_by_test_id("mentions")).to_have_text("@1")
    await expect(item.get_by_test_id("unread")).to_have_text("1")

    # A plain message adds to the unread count only.
    await send(api, ann, int(room["id"]), "and nothing else")
    await expect(item.get_by_test_id("unread")).to_have_text("2")
    await expect(item.get_by_test_id("mentions")).to_have_text("@1")

    # The mention is highlighted for Bob when he opens the room; the badges go.
    await item.get_by_role("button").click()
    mention = b.message(f"can you check this @{bob.username} please").get_by_test_id("mention")
    await expect(mention).to_have_text(f"@{bob.username}")
    await expect(mention).to_have_class(re.compile(r"\bmention-me\b"))
    await expect(item.get_by_test_id("mentions")).to_have_count(0)

    # After a reload the count comes from the server's listing: read, so none.
    await b.page.reload()
    await b.expect_connected()
    await expect(b.room_item(str(room["name"])).get_by_test_id("mentions")).to_have_count(0)


async def test_a_direct_message_started_from_each_side_is_the_same_room(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    ann = await users.create(unique("ann-dm"))
    bob = await users.create(unique("bob-dm"))
    room = await create_room(api, ann, unique("team"), visibility="private")
    await add_member(api, ann, int(room["id"]), bob)
    a, b = await visit(), await visit()
    await a.log_in(ann)
    await b.log_in(bob)

    # Ann starts one from Bob in the room's member list.
    await a.open_room(int(room["id"]))
    person = a.page.locator("#people .person").filter(has_text=bob.username)
    await person.hover()
    await person.get_by_role("button", name=f"Message {bob.username}").click()
    await expect(a.page.get_by_test_id("room-name")).to_have_text(f"@ {bob.username}")
    await a.send("Psst, a word?")
    dm_url = a.page.url

    # Bob's sidebar lists it under Direct messages, by Ann's name.
    dms = b.page.get_by_test_id("dm-rooms")
    await expect(dms.get_by_test_id("room-item")).to_have_text(re.compile(ann.username))

    # Bob starts one with Ann from the user search: the same conversation.
    await b.page.get_by_role("button", name="Message someone").click()
    await b.page.get_by_test_id("dm-search").fill(ann.username)
    await (
        b.page.get_by_test_id("dm-results")
        .get_by_role("button")
        .filter(has_text=ann.username)
        .click()
    )
    await expect(b.page.get_by_test_id("room-name")).to_have_text(f"@ {ann.username}")
    await expect(b.message("Psst, a word?")).to_be_visible()
    assert b.page.url.split("#")[1] == dm_url.split("#")[1]
    await b.send("Sure")
    await expect(a.message("Sure")).to_be_visible()
    await expect(dms.get_by_test_id("room-item")).to_have_count(1)


async def test_search_jumps_to_an_old_message_in_context(
    visit: Visit, users: UserFactory, api: httpx.AsyncClient
) -> None:
    ann = await users.create(unique("ann-find"))
    room = await create_room(api, ann, unique("archive"))
    for n in range(1, 121):
        body = "the quarterly budget is approved" if n == 7 else f"routine note {n}"
        await send(api, ann, int(room["id"]), body)

    a = await visit()
    await a.log_in(ann)
    await a.open_room(int(room["id"]))
    await expect(a.message("routine note 120")).to_be_in_viewport()
    await expect(a.message("the quarterly budget is approved")).to_have_count(0)
    # A message with no reactions or replies shows nothing under it (not the word "null").
    await expect(a.message("routine note 120")).not_to_contain_text("null")

    search = a.page.get_by_test_id("search")
    await search.fill("budget")
    await search.press("Enter")
    hits = a.page.get_by_test_id("search-hit")
    await expect(hits).to_have_count(1)
    await expect(hits).to_contain_text("the quarterly budget is approved")
    await hits.click()

    # The old message is shown in its place, with the history around it.
    found = a.message("the quarterly budget is approved")
    await expect(found).to_be_in_viewport()
    await expect(a.message("routine note 6")).to_be_visible()
    await expect(a.message("routine note 8")).to_be_visible()
    await expect(a.page.get_by_test_id("search-results")).to_be_hidden()

    # A new message meanwhile does not open a hole; the way back to the newest loads it all.
    await send(api, ann, int(room["id"]), "fresh news")
    jump = a.page.get_by_role("button", name="Jump to the newest ↓")
    await jump.click()
    await expect(a.message("fresh news")).to_be_in_viewport()
    bodies = await a.messages().get_by_test_id("message-body").all_inner_texts()
    assert bodies[-2:] == ["routine note 120", "fresh news"]
    seqs = [int(s) for s in await a.messages().evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no hole

    # Writing while reading old history brings the newest back, with what was written.
    await search.fill("budget")
    await search.press("Enter")
    await hits.click()
    await expect(found).to_be_in_viewport()
    await a.send("back to the present")
    await expect(a.message("back to the present")).to_be_in_viewport()
    await expect(a.message("fresh news")).to_be_visible()
