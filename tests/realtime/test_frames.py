"""Every frame type, every error code; a refused frame leaves the connection usable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from app.protocol.client import Send
from app.protocol.server import Ack, MessageFrame
from tests.support.rooms import add_member, create_room, history
from tests.support.server import LiveServer
from tests.support.users import TestUser, UserFactory
from tests.support.ws import EPHEMERAL, WsClient

pytestmark = pytest.mark.live

Connect = Callable[..., Awaitable[WsClient]]


@pytest.fixture
async def room(api: httpx.AsyncClient, users: UserFactory) -> tuple[TestUser, TestUser, int]:
    alice, bob = await users.create(), await users.create()
    room = await create_room(api, alice)
    await add_member(api, bob, room["id"], bob)
    return alice, bob, room["id"]


async def assert_usable(client: WsClient) -> None:
    await client.send(type="ping", ref="still-there")
    assert await client.next("pong") == {"type": "pong", "ref": "still-there"}


async def test_ping_pong(ws: Connect, users: UserFactory) -> None:
    client = await ws(await users.create())
    await client.send(type="ping")
    assert await client.recv() == {"type": "pong"}
    await client.send(type="ping", ref=42)
    assert await client.recv() == {"type": "pong", "ref": 42}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("{'single': 'quotes'}", "invalid_json"),
        ("", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('"a string"', "invalid_frame"),
        ("{}", "invalid_frame"),
        ('{"type": 7}', "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "subscribe"}', "invalid_frame"),
        ('{"type": "subscribe", "room_id": "one"}', "invalid_frame"),
        ('{"type": "subscribe", "room_id": 0}', "invalid_frame"),
        ('{"type": "send", "room_id": 1, "body": "hi"}', "invalid_frame"),
        ('{"type": "send", "room_id": 1, "body": "   ", "client_id": "c"}', "invalid_frame"),
        ('{"type": "read", "room_id": 1, "seq": -1}', "invalid_frame"),
        ('{"type": "auth"}', "invalid_frame"),
    ],
)
async def test_bad_frames_get_errors(ws: Connect, users: UserFactory, raw: str, code: str) -> None:
    client = await ws(await users.create())
    await client.send_raw(raw)
    error = await client.recv()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["detail"]
    await assert_usable(client)


async def test_errors_echo_ref(ws: Connect, users: UserFactory) -> None:
    client = await ws(await users.create())
    await client.send(type="dance", ref="r1")
    assert (await client.recv())["ref"] == "r1"
    await client.send(type="subscribe", room_id="x", ref=9)
    assert (await client.recv())["ref"] == 9
    await client.send(type="subscribe", room_id=10**9, ref="missing")
    assert await client.recv() == {
        "type": "error",
        "code": "not_found",
        "detail": "Room not found.",
        "ref": "missing",
    }


async def test_binary_frames_are_read_as_utf8_json(ws: Connect, users: UserFactory) -> None:
    client = await ws(await users.create())
    await client.send_raw(b'{"type": "ping", "ref": "bin"}')
    assert await client.recv() == {"type": "pong", "ref": "bin"}
    await client.send_raw(b"\xff\xfe")
    assert (await client.recv())["code"] == "invalid_json"


async def test_subscribe_reports_the_room(
    ws: Connect, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = room
    client = await ws(alice)
    subscribed = await client.subscribe(room_id, ref="sub")
    assert subscribed == {
        "type": "subscribed",
        "room_id": room_id,
        "last_seq": 0,
        "last_rev": 0,
        "replayed": 0,
        "complete": True,
        "online": [alice.profile],
        "ref": "sub",
    }
    await client.send(type="subscribe", room_id=room_id, ref="again")
    again = await client.next("error")
    assert again["ref"] == "again"


async def test_subscribe_refusals(
    ws: Connect, users: UserFactory, api: httpx.AsyncClient, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, public_id = room
    outsider = await users.create()
    private = await create_room(api, alice, visibility="private")
    client = await ws(outsider)
    await client.send(type="subscribe", room_id=public_id)
    assert (await client.recv())["code"] == "not_member"
    await client.send(type="subscribe", room_id=private["id"])
    hidden = await client.recv()
    await client.send(type="subscribe", room_id=10**9)
    missing = await client.recv()
    assert hidden == missing == {"type": "error", "code": "not_found", "detail": "Room not found."}
    await assert_usable(client)


async def test_send_acks_then_broadcasts(ws: Connect, room: tuple[TestUser, TestUser, int]) -> None:
    alice, bob, room_id = room
    a, b = await ws(alice), await ws(bob)
    await a.subscribe(room_id)
    await b.subscribe(room_id)
    await a.send_frame(Send(type="send", room_id=room_id, body="hello", client_id="c1", ref="s1"))
    ack = await a.frame(Ack)
    assert (ack.client_id, ack.ref) == ("c1", "s1")
    assert (ack.message.seq, ack.message.body, ack.message.author.id) == (1, "hello", alice.id)
    assert (await a.frame(MessageFrame)).message == ack.message
    assert (await b.frame(MessageFrame)).message == ack.message


async def test_repeated_client_id_is_acked_with_the_original_and_not_broadcast(
    ws: Connect, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = room
    a, b = await ws(alice), await ws(bob)
    await b.subscribe(room_id)
    await a.send(type="send", room_id=room_id, body="once", client_id="dup")
    first = await a.next("ack")
    await a.send(type="send", room_id=room_id, body="once", client_id="dup")
    second = await a.next("ack")
    assert second["message"] == first["message"]
    assert (await b.next("message"))["message"]["id"] == first["message"]["id"]
    await b.quiet(0.5)


async def test_send_needs_no_subscription_but_membership(
    ws: Connect, users: UserFactory, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = room
    outsider = await users.create()
    a, o = await ws(alice), await ws(outsider)
    await a.send(type="send", room_id=room_id, body="unsubscribed sender", client_id="u1")
    assert (await a.next("ack"))["message"]["seq"] == 1
    await o.send(type="send", room_id=room_id, body="let me in", client_id="o1", ref="o")
    assert await o.next("error") == {
        "type": "error",
        "code": "not_member",
        "detail": "You are not a member of this room.",
        "ref": "o",
    }
    await o.send(type="send", room_id=10**9, body="anyone?", client_id="o2")
    assert (await o.next("error"))["code"] == "not_found"


async def test_body_over_4000_is_too_long(
    ws: Connect, room: tuple[TestUser, TestUser, int], api: httpx.AsyncClient
) -> None:
    alice, _bob, room_id = room
    client = await ws(alice)
    await client.send(type="send", room_id=room_id, body="x" * 4001, client_id="big", ref="b")
    assert await client.next("error") == {
        "type": "error",
        "code": "too_long",
        "detail": "body is longer than 4000 characters (after trimming)",
        "ref": "b",
    }
    await client.send(type="send", room_id=room_id, body=" " + "y" * 4000 + " ", client_id="ok")
    assert len((await client.next("ack"))["message"]["body"]) == 4000
    assert len((await history(api, alice, room_id))["messages"]) == 1


async def test_typing_reaches_others_only(
    ws: Connect, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = room
    a, b = await ws(alice), await ws(bob)
    await a.subscribe(room_id)
    await b.subscribe(room_id)
    await a.next("presence")
    await a.send(type="typing", room_id=room_id)
    assert await b.next("typing", skip=()) == {
        "type": "typing",
        "room_id": room_id,
        "user": alice.profile,
    }
    await a.quiet(0.3, skip=())
    # Repeats within a second are not fanned out again.
    await a.send(type="typing", room_id=room_id)
    await b.quiet(0.3, skip=())


async def test_typing_right_after_a_message_is_not_throttled(
    ws: Connect, room: tuple[TestUser, TestUser, int]
) -> None:
    """Clients clear an indicator when that person's message arrives; typing again at once
    must show it again."""
    alice, bob, room_id = room
    a, b = await ws(alice), await ws(bob)
    await a.subscribe(room_id)
    await b.subscribe(room_id)
    await a.send(type="typing", room_id=room_id)
    await b.next("typing", skip=("presence",))
    await a.send(type="send", room_id=room_id, body="done typing", client_id="t1")
    await b.next("message", skip=("presence",))
    await a.send(type="typing", room_id=room_id)
    assert (await b.next("typing", skip=("presence",)))["user"]["id"] == alice.id


async def test_typing_needs_a_subscription(
    ws: Connect, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = room
    client = await ws(alice)
    await client.send(type="typing", room_id=room_id, ref="t")
    error = await client.recv()
    assert (error["code"], error["ref"]) == ("not_member", "t")


async def test_read_marker_is_stored_and_shown_to_others(
    ws: Connect, room: tuple[TestUser, TestUser, int], api: httpx.AsyncClient
) -> None:
    alice, bob, room_id = room
    a, b = await ws(alice), await ws(bob)
    await a.subscribe(room_id)
    await b.subscribe(room_id)
    for i in range(3):
        await a.send(type="send", room_id=room_id, body=f"m{i}", client_id=f"r{i}")
    for _ in range(3):
        await b.next("message")
    await b.send(type="read", room_id=room_id, seq=2)
    assert await a.next("read", skip=("presence", "message", "ack")) == {
        "type": "read",
        "room_id": room_id,
        "user_id": bob.id,
        "seq": 2,
    }
    await b.quiet(0.3, skip=("presence",))  # the connection that moved the marker is not told
    listed = (await api.get(f"/rooms/{room_id}", headers=bob.headers)).json()
    assert listed["unread_count"] == 1
    await b.send(type="read", room_id=10**9, seq=1, ref="x")
    assert (await b.next("error"))["code"] == "not_found"


async def test_presence_online_and_offline(
    ws: Connect, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = room
    a = await ws(alice)
    await a.subscribe(room_id)
    b1 = await ws(bob)
    subscribed = await b1.subscribe(room_id)
    assert {u["id"] for u in subscribed["online"]} == {alice.id, bob.id}
    assert await a.next("presence", skip=()) == {
        "type": "presence",
        "room_id": room_id,
        "user": bob.profile,
        "status": "online",
    }
    # A second connection of the same member changes nothing; the last one leaving does.
    b2 = await ws(bob)
    await b2.subscribe(room_id)
    await a.quiet(0.3, skip=())
    await b1.close()
    await a.quiet(0.3, skip=())
    await b2.send(type="unsubscribe", room_id=room_id, ref="u")
    assert await b2.next("unsubscribed") == {
        "type": "unsubscribed",
        "room_id": room_id,
        "reason": "requested",
        "ref": "u",
    }
    offline = await a.next("presence", skip=())
    assert (offline["user"]["id"], offline["status"]) == (bob.id, "offline")


async def test_unsubscribe_stops_delivery(
    ws: Connect, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = room
    a, b = await ws(alice), await ws(bob)
    await b.subscribe(room_id)
    await b.send(type="unsubscribe", room_id=room_id)
    await b.next("unsubscribed")
    await a.send(type="send", room_id=room_id, body="unheard", client_id="u1")
    await a.next("ack")
    await b.quiet(0.5)


async def test_one_connection_many_rooms(
    ws: Connect, api: httpx.AsyncClient, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, first = room
    second = (await create_room(api, alice))["id"]
    await add_member(api, bob, second, bob)
    b = await ws(bob)
    await b.subscribe(first)
    await b.subscribe(second)
    a = await ws(alice)
    await a.send(type="send", room_id=first, body="in first", client_id="f")
    await a.send(type="send", room_id=second, body="in second", client_id="s")
    got = {(await b.next("message"))["message"]["body"] for _ in range(2)}
    assert got == {"in first", "in second"}


async def test_auth_swaps_the_token(
    ws: Connect, users: UserFactory, api: httpx.AsyncClient
) -> None:
    alice, mallory = await users.create(), await users.create()
    client = await ws(alice)
    fresh = (await api.post("/auth/refresh", json={"refresh_token": alice.refresh_token})).json()
    await client.send(type="auth", token=fresh["access_token"], ref="a")
    authenticated = await client.recv()
    assert authenticated["type"] == "authenticated"
    assert authenticated["ref"] == "a"
    assert authenticated["expires_at"].endswith("Z")
    await client.send(type="auth", token="garbage", ref="bad")
    assert (await client.recv())["code"] == "invalid_frame"
    await client.send(type="auth", token=mallory.access_token, ref="other")
    other = await client.recv()
    assert (other["code"], other["ref"]) == ("invalid_frame", "other")
    await assert_usable(client)


async def test_rest_changes_reach_subscribers(
    ws: Connect, api: httpx.AsyncClient, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = room
    b = await ws(bob)
    await b.subscribe(room_id)
    sent = (
        await api.post(
            f"/rooms/{room_id}/messages", json={"body": "via REST"}, headers=alice.headers
        )
    ).json()
    assert (await b.next("message"))["message"] == sent
    edited = (
        await api.patch(
            f"/rooms/{room_id}/messages/{sent['id']}",
            json={"body": "edited"},
            headers=alice.headers,
        )
    ).json()
    assert await b.next("message.updated") == {"type": "message.updated", "message": edited}
    await api.delete(f"/rooms/{room_id}/messages/{sent['id']}", headers=alice.headers)
    assert await b.next("message.deleted") == {
        "type": "message.deleted",
        "room_id": room_id,
        "id": sent["id"],
        "seq": 1,
        "rev": 3,
    }
    await api.patch(f"/rooms/{room_id}", json={"topic": "fresh"}, headers=alice.headers)
    updated = await b.next("room.updated")
    assert updated["room"]["topic"] == "fresh"


async def test_room_deleted_ends_subscriptions(
    ws: Connect, api: httpx.AsyncClient, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = room
    b = await ws(bob)
    await b.subscribe(room_id)
    await api.delete(f"/rooms/{room_id}", headers=alice.headers)
    assert await b.next("room.deleted") == {"type": "room.deleted", "room_id": room_id}
    left = await b.next("room.left")
    assert (left["reason"], left["by"]) == ("deleted", alice.profile)
    await b.send(type="typing", room_id=room_id)
    assert (await b.next("error"))["code"] == "not_member"


async def test_removed_member_stops_hearing_the_room(
    ws: Connect, api: httpx.AsyncClient, room: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = room
    a, b = await ws(alice), await ws(bob)
    await a.subscribe(room_id)
    await b.subscribe(room_id)
    assert (await a.next("presence", skip=()))["status"] == "online"
    response = await api.delete(f"/rooms/{room_id}/members/{bob.id}", headers=alice.headers)
    assert response.status_code == 204
    assert await b.next("unsubscribed") == {
        "type": "unsubscribed",
        "room_id": room_id,
        "reason": "removed",
    }
    assert (await b.next("room.left"))["reason"] == "removed"
    offline = await a.next("presence", skip=())
    assert (offline["user"]["id"], offline["status"]) == (bob.id, "offline")
    await a.send(type="send", room_id=room_id, body="bob cannot hear this", client_id="x")
    await a.next("ack")
    await b.quiet(0.5)


async def test_room_socket_subscribes_at_connect(
    ws: Connect, room: tuple[TestUser, TestUser, int], server: LiveServer
) -> None:
    alice, bob, room_id = room
    a = await ws(alice)
    for i in range(3):
        await a.send(type="send", room_id=room_id, body=f"m{i}", client_id=f"rs{i}")
        await a.next("ack")
    b = await ws(bob, path=f"/rooms/{room_id}/ws", since_seq=1)
    assert [(await b.next("message"))["message"]["seq"] for _ in range(2)] == [2, 3]
    subscribed = await b.next("subscribed")
    assert (subscribed["replayed"], subscribed["last_seq"]) == (2, 3)
    hidden = await ws(bob, path=f"/rooms/{10**9}/ws")
    assert (await hidden.next("error"))["code"] == "not_found"


async def test_membership_changes_reach_the_users_connections(
    ws: Connect, users: UserFactory, api: httpx.AsyncClient
) -> None:
    """Being added to, removed from or losing a room reaches every connection of that user,
    subscribed to the room or not, so room lists stay current without polling."""
    owner, carol = await users.create(), await users.create()
    private = await create_room(api, owner, visibility="private")
    phone, laptop = await ws(carol), await ws(carol)  # subscribed to nothing

    await add_member(api, owner, private["id"], carol)
    for device in (phone, laptop):
        joined = await device.next("room.joined")
        assert joined["room"]["id"] == private["id"]
        assert joined["by"] == owner.profile
        assert (joined["room"]["role"], joined["room"]["unread_count"]) == ("member", 0)

    removed = await api.delete(f"/rooms/{private['id']}/members/{carol.id}", headers=owner.headers)
    assert removed.status_code == 204
    assert await phone.next("room.left") == {
        "type": "room.left",
        "room_id": private["id"],
        "reason": "removed",
        "by": owner.profile,
    }

    public = await create_room(api, owner)
    await api.put(f"/rooms/{public['id']}/members/{carol.id}", headers=carol.headers)
    assert (await laptop.next("room.joined", skip=(*EPHEMERAL, "room.left")))["room"]["id"] == (
        public["id"]
    )
    await api.delete(f"/rooms/{public['id']}", headers=owner.headers)
    gone = await laptop.next("room.left", skip=(*EPHEMERAL, "room.joined"))
    assert (gone["room_id"], gone["reason"]) == (public["id"], "deleted")
