"""Two people talk through a real server, each in `parley chat` in a real terminal."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.rooms import create_room, send
from tests.support.server import LiveServer
from tests.support.terminal import ChatProcess
from tests.support.users import PASSWORD, TestUser, UserFactory
from tests.terminal.conftest import StartChat

pytestmark = [pytest.mark.live, pytest.mark.one_backend]

TIME = r"\[\d\d:\d\d\] "


def said(author: str, body: str) -> re.Pattern[str]:
    """A chat line: `[HH:MM] Author: body`."""
    return re.compile(TIME + re.escape(f"{author}: {body}"))


async def sign_up(api: httpx.AsyncClient, username: str, display_name: str) -> TestUser:
    response = await api.post(
        "/auth/signup",
        json={"username": username, "password": PASSWORD, "display_name": display_name},
    )
    assert response.status_code == 201, response.text
    tokens = await UserFactory(api).login(username)
    return TestUser(
        id=response.json()["id"],
        username=username,
        password=PASSWORD,
        access_token=str(tokens["access_token"]),
        refresh_token=str(tokens["refresh_token"]),
    )


async def log_in(chat: ChatProcess, username: str) -> None:
    await chat.expect("Username:")
    chat.type(username)
    await chat.expect(f"Password for {username}:")
    chat.type(PASSWORD)


async def test_two_people_talk(
    server: LiveServer, api: httpx.AsyncClient, start_chat: StartChat, unique: str
) -> None:
    alice = await sign_up(api, f"alice-{unique}", "Alice Liddell")
    room = await create_room(api, alice, f"tea-{unique}", topic="Mad tea party")
    for number in range(1, 26):
        await send(api, alice, room["id"], f"old news {number}")

    # Alice logs in at the prompt, sees the rooms, and opens one.
    a = await start_chat(server.base_url, "alice")
    await log_in(a, alice.username)
    await a.expect("Signed in as Alice Liddell")
    await a.expect(f"#tea-{unique}")
    a.type(f"/join tea-{unique}")
    await a.expect(f"--- #tea-{unique}: Mad tea party ---")
    await a.expect("Earlier messages: /history")
    await a.expect(said("Alice Liddell", "old news 25"))

    # Bob has no account yet: the failed login offers to create it.
    bob = f"bob-{unique}"
    b = await start_chat(server.base_url, "bob", "--room", f"tea-{unique}")
    await log_in(b, bob)
    await b.expect("Wrong username or password.")
    await b.expect("Create it now? [y/N]")
    b.type("y")
    await b.expect("Repeat the password:")
    b.type(PASSWORD)
    await b.expect("Display name")
    b.type("Bob")
    await b.expect(f"Account {bob} created.")
    await b.expect(f"Signed in as Bob ({bob})")
    await b.expect(f"You joined #tea-{unique}.")
    await b.expect(said("Alice Liddell", "old news 25"))
    assert "old news 5\n" not in b.text  # only the recent history
    await a.expect(f"Bob came online in #tea-{unique}")

    # They talk; each sees the other's lines with author and time.
    b.type("Hello Alice, it's Bob")
    await a.expect(said("Bob", "Hello Alice, it's Bob"))
    await b.expect(said("Bob", "Hello Alice, it's Bob"))
    a.press(b"Hi Bob")
    await b.expect("Alice Liddell is typing...")  # on Bob's status line
    a.type("! Tea?")
    await b.expect(said("Alice Liddell", "Hi Bob! Tea?"))

    a.type("/who")
    await a.expect(f"Online in #tea-{unique} (2): Alice Liddell, Bob")
    b.type("/rooms")
    await b.expect(re.compile(rf"\* #tea-{unique} +member +0 unread  Mad tea party"))
    b.type("/history 5")
    await b.expect(f"5 earlier messages in #tea-{unique}:")
    await b.expect(said("Alice Liddell", "old news 1"))
    await b.expect(said("Alice Liddell", "old news 5"))
    await b.expect("end of earlier messages (that was the beginning)")
    b.type("/history")
    await b.expect(f"That is the beginning of #tea-{unique}.")

    # Whatever a message contains, it cannot drive the terminal.
    await send(api, alice, room["id"], "look \x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x9b2J \u202eevil")
    await b.expect(said("Alice Liddell", "look ^[[31mred^[[0m ^[]0;pwned^G M-^[2J <U+202E>evil"))
    assert "\x1b[31mred" not in b.raw
    assert "\x1b]0;pwned" not in b.raw
    assert "\x9b" not in b.raw

    a.type("/quit")
    b.type("/quit")
    assert await a.exit_code() == 0
    assert await b.exit_code() == 0

    # The next start uses the saved session: no questions asked.
    again = await start_chat(server.base_url, "alice", "--room", f"tea-{unique}")
    await again.expect("Signed in as Alice Liddell")
    assert "Password" not in again.text
    await again.expect(said("Bob", "Hello Alice, it's Bob"))
    again.press(b"\x04")  # Ctrl-D
    assert await again.exit_code() == 0
