"""Conversations in `parley chat`, in real terminals against a real server: /react, /reply,
/thread, /dm, /search, and mentions of you."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.rooms import add_member, create_room, history, send
from tests.support.server import LiveServer
from tests.support.terminal import ChatProcess
from tests.support.users import TestUser, UserFactory
from tests.terminal.conftest import StartChat
from tests.terminal.test_conversation import TIME, said
from tests.terminal.test_reconnect import save_session

pytestmark = [pytest.mark.live, pytest.mark.one_backend]


def numbered(number: int, author: str, body: str) -> re.Pattern[str]:
    """A chat line with its number: ` N [HH:MM] Author: body`."""
    return re.compile(rf"\b{number} " + TIME + re.escape(f"{author}: {body}"))


async def open_chat(
    start_chat: StartChat, server: LiveServer, tmp_path: Path, user: TestUser, *args: str
) -> ChatProcess:
    """`parley chat` for `user`, already logged in (a saved session), with `args`."""
    save_session(tmp_path / user.username, server.base_url, user)
    return await start_chat(server.base_url, user.username, *args)


async def test_react_reply_and_thread(
    server: LiveServer,
    api: httpx.AsyncClient,
    users: UserFactory,
    start_chat: StartChat,
    unique: str,
    tmp_path: Path,
) -> None:
    ann, bob = await users.create(f"ann-{unique}"), await users.create(f"bob-{unique}")
    name = f"porch-{unique}"
    room = await create_room(api, ann, name)
    await add_member(api, ann, room["id"], bob)
    await send(api, ann, room["id"], "Lunch at noon?")

    a = await open_chat(start_chat, server, tmp_path, ann, "--room", name)
    b = await open_chat(start_chat, server, tmp_path, bob, "--room", name)
    await a.expect(numbered(1, ann.username, "Lunch at noon?"))
    await b.expect(numbered(1, ann.username, "Lunch at noon?"))
    await a.shows(re.compile(rf"#{name}: 2 online"))

    # Bob reacts to message 1: Ann sees the reactions under it change.
    b.type("/react 1 👍")
    await b.expect("You reacted 👍 to message 1.")
    await a.expect("1 now: 👍 1")
    a.type("/react 1 👍")
    await a.expect("You reacted 👍 to message 1.")
    await b.expect("1 now: 👍 2")
    b.type("/react 1 👍")  # again: taken back
    await b.expect("You took back 👍 from message 1.")
    await a.expect("1 now: 👍 1")

    # Bob replies in message 1's thread; both see the reply, saying what it answers.
    b.type("/reply 1 Yes, at the usual place")
    reply = re.compile(
        r"\b2 " + TIME + re.escape(f"{bob.username} (reply to 1): Yes, at the usual place")
    )
    await a.expect(reply)
    await b.expect(reply)
    await a.expect("1 now: 👍 1  ·  1 reply (/thread 1)")

    # /thread shows the first message, its reactions and reply count, and the replies.
    a.type("/thread 2")  # a reply's number opens its thread too
    await a.expect("* Thread (1 reply):")
    await a.expect(numbered(1, ann.username, "Lunch at noon?"))
    await a.expect("👍 1  ·  1 reply (/thread 1)")
    await a.expect(re.compile(r"\n {4} *2 " + TIME + re.escape(f"{bob.username}: Yes, at the")))
    await a.expect("* end of thread")

    # Numbers that name nothing are refused plainly.
    a.type("/react 99 👍")
    await a.expect(f"! There is no message 99 in #{name}.")
    a.type("/reply x hello")
    await a.expect("! Usage: /reply N TEXT")


async def test_mentions_of_you_are_highlighted_and_announced(
    server: LiveServer,
    api: httpx.AsyncClient,
    users: UserFactory,
    start_chat: StartChat,
    unique: str,
    tmp_path: Path,
) -> None:
    ann, bob = await users.create(f"ann-{unique}"), await users.create(f"bob-{unique}")
    here, there = f"here-{unique}", f"there-{unique}"
    room = await create_room(api, ann, here)
    other = await create_room(api, ann, there)
    for room_id in (room["id"], other["id"]):
        await add_member(api, ann, room_id, bob)

    b = await open_chat(start_chat, server, tmp_path, bob, "--room", here)
    await b.expect(f"--- #{here} ---")
    await b.shows(re.compile(rf"#{here}: \d+ online"))

    # In the room on screen: the line names Bob, highlighted (shown in reverse video).
    await send(api, ann, room["id"], f"ping @{bob.username} about lunch")
    await b.expect(said(ann.username, f"ping @{bob.username} about lunch"))
    assert re.search(r"\x1b\[[0-9;]*7[0-9;]*m@" + re.escape(bob.username), b.raw)

    # In another room: a notice says who mentioned Bob, and where.
    await send(api, ann, other["id"], f"@{bob.username}: the agenda is up")
    await b.expect(f"@ {ann.username} mentioned you in #{there}: @{bob.username}: the agenda is up")

    # /rooms counts the mentions waiting in each room.
    b.type("/rooms")
    await b.expect(re.compile(rf"#{there} +member +1 unread 1 @you"))


async def test_dm_from_each_side_opens_the_same_conversation(
    server: LiveServer,
    api: httpx.AsyncClient,
    users: UserFactory,
    start_chat: StartChat,
    unique: str,
    tmp_path: Path,
) -> None:
    ann, bob = await users.create(f"ann-{unique}"), await users.create(f"bob-{unique}")
    a = await open_chat(start_chat, server, tmp_path, ann)
    b = await open_chat(start_chat, server, tmp_path, bob)
    await a.expect("Signed in as")
    await b.expect("Signed in as")

    a.type(f"/dm {bob.username}")
    await a.expect(f"--- @{bob.username} ---")
    await a.shows(re.compile(rf"@{bob.username}: \d+ online"))
    a.type("Psst, a word?")
    await a.expect(said(ann.username, "Psst, a word?"))
    await b.expect(f"{ann.username} started a direct conversation with you (/dm {ann.username}")

    b.type(f"/dm @{ann.username}")
    await b.expect(f"--- @{ann.username} ---")
    await b.expect(said(ann.username, "Psst, a word?"))
    b.type("Sure")
    await a.expect(said(bob.username, "Sure"))

    b.type(f"/dm {bob.username}")
    await b.expect("! That is you: a direct message needs someone else.")
    b.type("/dm nobody-by-this-name")
    await b.expect("! Nobody is called nobody-by-this-name here.")


async def test_search_finds_old_messages_by_number(
    server: LiveServer,
    api: httpx.AsyncClient,
    users: UserFactory,
    start_chat: StartChat,
    unique: str,
    tmp_path: Path,
) -> None:
    ann = await users.create(f"ann-{unique}")
    name = f"archive-{unique}"
    room = await create_room(api, ann, name)
    for n in range(1, 31):
        body = "the quarterly budget is approved" if n == 4 else f"routine note {n}"
        await send(api, ann, room["id"], body)
    assert len((await history(api, ann, room["id"], limit=50))["messages"]) == 30

    a = await open_chat(start_chat, server, tmp_path, ann, "--room", name)
    await a.expect(numbered(30, ann.username, "routine note 30"))
    a.type("/search budget")
    await a.expect("* 1 found for 'budget' (best first):")
    await a.expect(numbered(4, ann.username, "the quarterly budget is approved"))
    # The number works with the other commands, though the message is not on screen.
    a.type("/react 4 🎉")
    await a.expect("You reacted 🎉 to message 4.")
    a.type("/search flamingo")
    await a.expect("* Nothing matches 'flamingo'.")
    a.type("/search")
    await a.expect("! Usage: /search QUERY (1 to 200 characters)")
