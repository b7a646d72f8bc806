"""Mentions (CONTRACT "Version 2" → Mentions): the parsing rule, `mentions`, the `mention`
frame's event and `mention_count`, on both databases."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from app.delivery.events import Event, Kind
from app.messages.mentions import MAX_MENTIONS, mentioned_names
from tests.support.rooms import add_member, create_room, send
from tests.support.users import TestUser, UserFactory


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("@bob hi", ["bob"]),
        ("hi @bob", ["bob"]),
        ("bob@example.com", []),
        ("@@bob", []),
        ("a@bob", []),
        ("_@bob .@bob -@bob 1@bob é@bob", []),
        ("(@bob) [@carol], @dave!", ["bob", "carol", "dave"]),
        ("thanks @bob.", ["bob"]),
        ("@bob- and @bob.-.", ["bob"]),
        ("@bob.smith-jr.", ["bob.smith-jr"]),
        ("@BoB and @bob", ["bob"]),
        ("@al", []),
        ("@" + "x" * 33, []),
        ("@", []),
        ("@bob@carol", ["bob"]),
        ("\n@bob\t@carol", ["bob", "carol"]),
    ],
)
def test_mention_parsing(body: str, names: list[str]) -> None:
    assert mentioned_names(body) == names


def test_mentions_per_message_are_bounded() -> None:
    body = " ".join(f"@user{n:03}" for n in range(MAX_MENTIONS + 10))
    assert len(mentioned_names(body)) == MAX_MENTIONS


@pytest.fixture
async def trio(
    client: httpx.AsyncClient, users: UserFactory
) -> tuple[TestUser, TestUser, TestUser, int]:
    alice, bob, carol = await users.create(), await users.create(), await users.create()
    room = await create_room(client, alice)
    await add_member(client, bob, room["id"], bob)
    await add_member(client, carol, room["id"], carol)
    return alice, bob, carol, room["id"]


async def room_entry(client: httpx.AsyncClient, user: TestUser, room_id: int) -> dict[str, Any]:
    rooms = (await client.get("/rooms", headers=user.headers)).json()["rooms"]
    entry = next(room for room in rooms if room["id"] == room_id)
    single = (await client.get(f"/rooms/{room_id}", headers=user.headers)).json()
    assert single["mention_count"] == entry["mention_count"]
    return entry  # type: ignore[no-any-return]


def mention_events(published: list[Event]) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for event in published:
        if event.kind == Kind.USER:
            frame = orjson.loads(event.frame)
            if frame["type"] == "mention":
                found.append((event.user_id, frame))
    return found


async def test_mentions_are_recorded_and_notified(
    client: httpx.AsyncClient,
    users: UserFactory,
    trio: tuple[TestUser, TestUser, TestUser, int],
    published: list[Event],
) -> None:
    alice, bob, carol, room_id = trio
    outsider = await users.create()
    body = (
        f"@{carol.username.upper()} and @{bob.username}, "
        f"not @{outsider.username}; me @{alice.username}"
    )
    message = await send(client, alice, room_id, body)
    # Members only, in order of appearance, the author too.
    assert message["mentions"] == [carol.id, bob.id, alice.id]
    notified = mention_events(published)
    # Everyone named but the author, once, with the stored message.
    assert sorted(user_id for user_id, _ in notified) == sorted([bob.id, carol.id])
    for _user_id, frame in notified:
        assert frame["room_id"] == room_id
        assert frame["message"]["id"] == message["id"]
        assert frame["message"]["mentions"] == message["mentions"]
    assert (await room_entry(client, bob, room_id))["mention_count"] == 1
    assert (await room_entry(client, carol, room_id))["mention_count"] == 1
    # Your own message never counts for you.
    assert (await room_entry(client, alice, room_id))["mention_count"] == 0


async def test_mention_count_follows_the_read_marker_and_deletes(
    client: httpx.AsyncClient, trio: tuple[TestUser, TestUser, TestUser, int]
) -> None:
    alice, bob, _carol, room_id = trio
    first = await send(client, alice, room_id, f"@{bob.username} one")
    await send(client, alice, room_id, "no mention")
    third = await send(client, alice, room_id, f"two @{bob.username}")
    assert (await room_entry(client, bob, room_id))["mention_count"] == 2
    read = await client.put(
        f"/rooms/{room_id}/read", json={"seq": first["seq"]}, headers=bob.headers
    )
    assert read.status_code == 200
    assert read.json()["mention_count"] == 1
    assert (await room_entry(client, bob, room_id))["mention_count"] == 1
    await client.delete(f"/rooms/{room_id}/messages/{third['id']}", headers=alice.headers)
    assert (await room_entry(client, bob, room_id))["mention_count"] == 0
    # Not a member: no counts at all.
    entry = await room_entry(client, alice, room_id)
    assert entry["mention_count"] == 0


async def test_an_edit_recomputes_and_notifies_only_new_people(
    client: httpx.AsyncClient,
    trio: tuple[TestUser, TestUser, TestUser, int],
    published: list[Event],
) -> None:
    alice, bob, carol, room_id = trio
    message = await send(client, alice, room_id, f"hi @{bob.username}")
    published.clear()
    edited = await client.patch(
        f"/rooms/{room_id}/messages/{message['id']}",
        json={"body": f"hi @{bob.username} and @{carol.username}"},
        headers=alice.headers,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["mentions"] == [bob.id, carol.id]
    assert [user_id for user_id, _ in mention_events(published)] == [carol.id]
    published.clear()
    dropped = await client.patch(
        f"/rooms/{room_id}/messages/{message['id']}",
        json={"body": f"hi @{carol.username}"},
        headers=alice.headers,
    )
    assert dropped.json()["mentions"] == [carol.id]
    assert mention_events(published) == []
    assert (await room_entry(client, bob, room_id))["mention_count"] == 0
    assert (await room_entry(client, carol, room_id))["mention_count"] == 1


async def test_a_reply_with_a_mention(
    client: httpx.AsyncClient,
    trio: tuple[TestUser, TestUser, TestUser, int],
    published: list[Event],
) -> None:
    alice, bob, _carol, room_id = trio
    root = await send(client, alice, room_id, "root")
    response = await client.post(
        f"/rooms/{room_id}/messages",
        json={"body": f"@{alice.username} see", "reply_to": root["id"]},
        headers=bob.headers,
    )
    assert response.status_code == 201, response.text
    reply = response.json()
    assert (reply["reply_to"], reply["mentions"]) == (root["id"], [alice.id])
    assert [user_id for user_id, _ in mention_events(published)] == [alice.id]
