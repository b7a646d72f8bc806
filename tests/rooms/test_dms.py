"""Direct messages (CONTRACT "Version 2" → Direct messages), on both databases."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from app.delivery.events import Event, Kind
from tests.support.rooms import create_room, send
from tests.support.users import TestUser, UserFactory


async def open_dm(
    client: httpx.AsyncClient, user: TestUser, other_id: int, status: int
) -> dict[str, Any]:
    response = await client.post("/dms", json={"user_id": other_id}, headers=user.headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_one_room_for_two_people_from_either_side(
    client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    alice, bob = await users.create(), await users.create()
    room = await open_dm(client, alice, bob.id, 201)
    assert room["kind"] == "dm"
    assert room["visibility"] == "private"
    assert room["role"] == "member"
    assert room["dm_with"]["id"] == bob.id
    # Both people hear room.joined, each with the room as they see it.
    joined = {
        event.user_id: orjson.loads(event.frame)
        for event in published
        if event.kind == Kind.USER and orjson.loads(event.frame)["type"] == "room.joined"
    }
    assert set(joined) == {alice.id, bob.id}
    assert joined[bob.id]["room"]["dm_with"]["id"] == alice.id
    assert joined[alice.id]["room"]["dm_with"]["id"] == bob.id
    assert joined[bob.id]["by"]["id"] == alice.id

    assert (await open_dm(client, alice, bob.id, 200))["id"] == room["id"]
    from_bob = await open_dm(client, bob, alice.id, 200)
    assert from_bob["id"] == room["id"]
    assert from_bob["dm_with"]["id"] == alice.id
    members = (await client.get(f"/rooms/{room['id']}/members", headers=bob.headers)).json()
    assert sorted((m["user"]["id"], m["role"]) for m in members["members"]) == sorted(
        [(alice.id, "member"), (bob.id, "member")]
    )
    # Listed for both, with dm_with; plain rooms say kind "room" and dm_with null.
    plain = await create_room(client, alice)
    assert (plain["kind"], plain["dm_with"], plain["mention_count"]) == ("room", None, 0)
    listed = {
        r["id"]: r for r in (await client.get("/rooms", headers=alice.headers)).json()["rooms"]
    }
    assert listed[room["id"]]["dm_with"]["id"] == bob.id
    assert (listed[plain["id"]]["kind"], listed[plain["id"]]["dm_with"]) == ("room", None)
    single = (await client.get(f"/rooms/{room['id']}", headers=bob.headers)).json()
    assert single["dm_with"]["id"] == alice.id
    # They can talk.
    assert (await send(client, bob, room["id"], "hi"))["seq"] == 1


async def test_dm_refusals(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice, bob, carol = await users.create(), await users.create(), await users.create()
    await open_dm(client, alice, alice.id, 422)
    await open_dm(client, alice, 2**31 - 1, 404)
    for bad in (0, -1, 2**31, "x"):
        response = await client.post("/dms", json={"user_id": bad}, headers=alice.headers)
        assert response.status_code == 422
    room = await open_dm(client, alice, bob.id, 201)
    room_id = room["id"]
    # Others cannot see it.
    assert (await client.get(f"/rooms/{room_id}", headers=carol.headers)).status_code == 404
    joined = await client.put(f"/rooms/{room_id}/members/{carol.id}", headers=carol.headers)
    assert joined.status_code == 404
    # Its two people cannot add, remove, rename, retopic, change roles or delete it.
    refused = [
        await client.put(f"/rooms/{room_id}/members/{carol.id}", headers=alice.headers),
        await client.delete(f"/rooms/{room_id}/members/{bob.id}", headers=alice.headers),
        await client.patch(f"/rooms/{room_id}", json={"name": "ours"}, headers=alice.headers),
        await client.patch(f"/rooms/{room_id}", json={"topic": "t"}, headers=bob.headers),
        await client.put(
            f"/rooms/{room_id}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
        ),
        await client.delete(f"/rooms/{room_id}", headers=alice.headers),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]


async def test_either_may_leave_and_is_added_back(
    client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    alice, bob = await users.create(), await users.create()
    room = await open_dm(client, alice, bob.id, 201)
    left = await client.delete(f"/rooms/{room['id']}/members/{bob.id}", headers=bob.headers)
    assert left.status_code == 204
    assert (await client.get(f"/rooms/{room['id']}", headers=bob.headers)).status_code == 404
    # Still Alice's DM with Bob.
    assert (await client.get(f"/rooms/{room['id']}", headers=alice.headers)).json()["dm_with"][
        "id"
    ] == bob.id
    published.clear()
    again = await open_dm(client, alice, bob.id, 200)
    assert again["id"] == room["id"]
    assert [e.user_id for e in published if e.kind == Kind.USER] == [bob.id]
    assert (await client.get(f"/rooms/{room['id']}", headers=bob.headers)).status_code == 200
    # Alice leaves; Bob's asking brings her back.
    await client.delete(f"/rooms/{room['id']}/members/{alice.id}", headers=alice.headers)
    assert (await open_dm(client, bob, alice.id, 200))["id"] == room["id"]
    assert (await client.get(f"/rooms/{room['id']}", headers=alice.headers)).status_code == 200
