"""Reactions, replies, mentions and DMs over a live server's WebSocket (CONTRACT
"Version 2"): `react`/`unreact` → `reacted` + `message.updated`, `send` with `reply_to`,
`mention` to every connection of the mentioned, `room.joined` for a new DM, and resuming
with `since_rev` after reactions and replies."""

from __future__ import annotations

import httpx
import pytest

from tests.support.rooms import add_member, create_room, send
from tests.support.server import LiveServer
from tests.support.users import TestUser, UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live


async def room_of_two(api: httpx.AsyncClient, users: UserFactory) -> tuple[TestUser, TestUser, int]:
    alice, bob = await users.create(), await users.create()
    room = await create_room(api, alice)
    await add_member(api, bob, room["id"], bob)
    return alice, bob, room["id"]


async def test_react_and_unreact_over_the_socket(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    alice, bob, room_id = await room_of_two(api, users)
    message = await send(api, alice, room_id, "ship it")
    watcher = await WsClient.connect(server.ws_url, alice.access_token)
    reactor = await WsClient.connect(server.ws_url, bob.access_token)
    try:
        await watcher.subscribe(room_id)
        frame = {"room_id": room_id, "message_id": message["id"], "emoji": "👍"}
        await reactor.send(type="react", ref="r1", **frame)
        reacted = await reactor.next("reacted")
        assert reacted["ref"] == "r1"
        assert reacted["message"]["reactions"] == [
            {"emoji": "👍", "count": 1, "user_ids": [bob.id]}
        ]
        updated = await watcher.next("message.updated")
        assert updated["message"]["rev"] == reacted["message"]["rev"] == message["rev"] + 1
        assert updated["message"]["reactions"] == reacted["message"]["reactions"]
        # Again: `reacted` all the same, nothing for subscribers, no new rev.
        await reactor.send(type="react", ref="r2", **frame)
        again = await reactor.next("reacted")
        assert (again["ref"], again["message"]["rev"]) == ("r2", reacted["message"]["rev"])
        await watcher.quiet()
        await reactor.send(type="unreact", ref="r3", **frame)
        removed = await reactor.next("reacted")
        assert removed["message"]["reactions"] == []
        assert (await watcher.next("message.updated"))["message"]["reactions"] == []
        # Refusals: a bad emoji, a message elsewhere, a deleted message, a non-member.
        await reactor.send(type="react", ref="e1", **{**frame, "emoji": "a b"})
        assert (await reactor.next("error"))["code"] == "invalid_frame"
        await reactor.send(type="react", ref="e2", **{**frame, "message_id": 10**12})
        error = await reactor.next("error")
        assert (error["code"], error["ref"]) == ("not_found", "e2")
        gone = await send(api, alice, room_id, "soon gone")
        await api.delete(f"/rooms/{room_id}/messages/{gone['id']}", headers=alice.headers)
        await reactor.send(type="react", ref="e3", **{**frame, "message_id": gone["id"]})
        assert (await reactor.next("error"))["code"] == "invalid_frame"
        carol = await users.create()
        outsider = await WsClient.connect(server.ws_url, carol.access_token)
        try:
            await outsider.send(type="react", ref="e4", **frame)
            assert (await outsider.next("error"))["code"] == "not_member"
        finally:
            await outsider.close()
    finally:
        await watcher.close()
        await reactor.close()


async def test_reply_over_the_socket_then_the_roots_update(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    alice, bob, room_id = await room_of_two(api, users)
    root = await send(api, alice, room_id, "lunch?")
    watcher = await WsClient.connect(server.ws_url, alice.access_token)
    writer = await WsClient.connect(server.ws_url, bob.access_token)
    try:
        await watcher.subscribe(room_id)
        await writer.send(
            type="send", room_id=room_id, body="yes", client_id="reply-1", reply_to=root["id"]
        )
        ack = await writer.next("ack")
        assert ack["message"]["reply_to"] == root["id"]
        new = await watcher.next("message")
        assert new["message"]["id"] == ack["message"]["id"]
        updated = await watcher.next("message.updated")
        assert updated["message"]["id"] == root["id"]
        assert updated["message"]["reply_count"] == 1
        assert updated["message"]["rev"] == new["message"]["rev"] + 1
        # A reply to a message of another room: not_found; to a deleted one: invalid_frame.
        other = await create_room(api, bob)
        elsewhere = await send(api, bob, other["id"], "elsewhere")
        await writer.send(
            type="send", room_id=room_id, body="x", client_id="reply-2", reply_to=elsewhere["id"]
        )
        assert (await writer.next("error"))["code"] == "not_found"
        await api.delete(f"/rooms/{room_id}/messages/{root['id']}", headers=alice.headers)
        await writer.send(
            type="send", room_id=room_id, body="x", client_id="reply-3", reply_to=root["id"]
        )
        assert (await writer.next("error"))["code"] == "invalid_frame"
        await writer.send(type="send", room_id=room_id, body="x", client_id="r4", reply_to=0)
        assert (await writer.next("error"))["code"] == "invalid_frame"
    finally:
        await watcher.close()
        await writer.close()


async def test_mention_reaches_every_connection_of_the_mentioned_only(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    alice, bob, room_id = await room_of_two(api, users)
    # Bob has two devices, neither subscribed to the room; Alice is subscribed.
    phone = await WsClient.connect(server.ws_url, bob.access_token)
    laptop = await WsClient.connect(server.ws_url, bob.access_token)
    author = await WsClient.connect(server.ws_url, alice.access_token)
    try:
        await author.subscribe(room_id)
        await author.send(
            type="send",
            room_id=room_id,
            body=f"@{bob.username} and @{alice.username}",
            client_id="m1",
        )
        ack = await author.next("ack")
        assert ack["message"]["mentions"] == [bob.id, alice.id]
        for device in (phone, laptop):
            notice = await device.next("mention")
            assert notice["room_id"] == room_id
            assert notice["message"]["id"] == ack["message"]["id"]
        await author.next("message")
        await author.quiet()  # the author is not told of their own mention
        rooms = (await api.get("/rooms", headers=bob.headers)).json()["rooms"]
        assert next(r for r in rooms if r["id"] == room_id)["mention_count"] == 1
    finally:
        for client in (phone, laptop, author):
            await client.close()


async def test_opening_a_dm_tells_both_people(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    alice, bob = await users.create(), await users.create()
    alice_ws = await WsClient.connect(server.ws_url, alice.access_token)
    bob_ws = await WsClient.connect(server.ws_url, bob.access_token)
    try:
        response = await api.post("/dms", json={"user_id": bob.id}, headers=alice.headers)
        assert response.status_code == 201, response.text
        room = response.json()
        for ws, other in ((alice_ws, bob), (bob_ws, alice)):
            joined = await ws.next("room.joined")
            assert joined["room"]["id"] == room["id"]
            assert joined["room"]["kind"] == "dm"
            assert joined["room"]["dm_with"]["id"] == other.id
            assert joined["by"]["id"] == alice.id
    finally:
        await alice_ws.close()
        await bob_ws.close()


async def test_since_rev_replays_reactions_and_replies(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    alice, bob, room_id = await room_of_two(api, users)
    root = await send(api, alice, room_id, "root")
    seen = root["rev"]
    # While Bob is away: a reaction on the root, then a reply (which changes the root again).
    reaction = await api.put(
        f"/rooms/{room_id}/messages/{root['id']}/reactions/%F0%9F%8E%89", headers=alice.headers
    )
    assert reaction.status_code == 200
    reply = await api.post(
        f"/rooms/{room_id}/messages",
        json={"body": "r", "reply_to": root["id"]},
        headers=alice.headers,
    )
    assert reply.status_code == 201
    client = await WsClient.connect(server.ws_url, bob.access_token)
    try:
        await client.send(type="subscribe", room_id=room_id, since_rev=seen)
        first = await client.next("message")
        assert first["message"]["id"] == reply.json()["id"]
        second = await client.next("message.updated")
        assert second["message"]["id"] == root["id"]
        assert second["message"]["reactions"][0]["emoji"] == "🎉"
        assert second["message"]["reply_count"] == 1
        subscribed = await client.next("subscribed")
        assert subscribed["last_rev"] == second["message"]["rev"] == seen + 3
    finally:
        await client.close()
