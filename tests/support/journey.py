"""A new user's first minutes against a real server: sign up, log in, open a room, chat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.rooms import create_room, history
from tests.support.users import TestUser, UserFactory
from tests.support.ws import WsClient

GREETING = "hello from a fresh install"


@dataclass
class FirstConversation:
    user: TestUser
    room: dict[str, Any]
    ack: dict[str, Any]
    stored: list[dict[str, Any]]
    signup_request_id: str


async def first_conversation(
    base_url: str, ws_url: str, *, username: str, password: str
) -> FirstConversation:
    """Everything a new user does first, each step checked; what the server stored comes back."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        user = await UserFactory(http).create(username, password=password)
        # Signing up again answers 409; its request id is what a log line must carry.
        again = await http.post("/auth/signup", json={"username": username, "password": password})
        assert again.status_code == 409, again.text
        room = await create_room(http, user)
        client = await WsClient.connect(ws_url, user.access_token)
        try:
            await client.subscribe(room["id"])
            await client.send(type="send", room_id=room["id"], body=GREETING, client_id="first-1")
            ack = await client.next("ack")
            message = await client.next("message")
            assert message["message"]["body"] == GREETING
        finally:
            await client.close()
        stored = (await history(http, user, room["id"]))["messages"]
    assert [m["body"] for m in stored] == [GREETING]
    return FirstConversation(user, room, ack, stored, again.headers["X-Request-ID"])
