from __future__ import annotations

import httpx
import orjson
import pytest

from app.delivery import events
from app.delivery.events import Event, Kind
from tests.support.rooms import add_member, create_room, send
from tests.support.users import UserFactory

ROOM_FIELDS = {"id", "name", "topic", "visibility", "created_by", "created_at", "last_seq"}


async def test_create_room_makes_the_creator_owner(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create("alice")
    response = await client.post(
        "/rooms", json={"name": "General", "topic": " Say hi "}, headers=alice.headers
    )
    assert response.status_code == 201
    room = response.json()
    assert set(room) >= ROOM_FIELDS
    assert room["name"] == "General"
    assert room["topic"] == "Say hi"
    assert room["visibility"] == "public"
    assert room["created_by"] == alice.id
    assert room["last_seq"] == 0
    assert room["role"] == "owner"
    members = await client.get(f"/rooms/{room['id']}/members", headers=alice.headers)
    assert [(m["user"]["id"], m["role"]) for m in members.json()["members"]] == [
        (alice.id, "owner")
    ]


@pytest.mark.parametrize("again", ["general", "GENERAL", "General"])
async def test_room_names_are_unique_regardless_of_case(
    client: httpx.AsyncClient, users: UserFactory, again: str
) -> None:
    alice = await users.create()
    await create_room(client, alice, "General")
    response = await client.post("/rooms", json={"name": again}, headers=alice.headers)
    assert response.status_code == 409
    assert response.json() == {"detail": "A room with that name already exists."}


@pytest.mark.parametrize(
    "payload",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": "has space"},
        {"name": "<script>"},
        {"name": "ok", "visibility": "secret"},
        {"name": "ok", "topic": "t" * 501},
        {},
    ],
)
async def test_create_room_rejects_invalid_input(
    client: httpx.AsyncClient, users: UserFactory, payload: dict
) -> None:
    alice = await users.create()
    response = await client.post("/rooms", json=payload, headers=alice.headers)
    assert response.status_code == 422


async def test_rooms_need_authentication(client: httpx.AsyncClient) -> None:
    assert (await client.get("/rooms")).status_code == 401
    assert (await client.post("/rooms", json={"name": "x"})).status_code == 401


async def test_listing_shows_public_rooms_and_my_private_ones(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice, bob = await users.create(), await users.create()
    public = await create_room(client, alice, "lobby")
    secret = await create_room(client, alice, "secret", visibility="private")
    bobs = await create_room(client, bob, "bobs-den", visibility="private")

    alices_view = (await client.get("/rooms", headers=alice.headers)).json()["rooms"]
    assert [r["name"] for r in alices_view] == ["lobby", "secret"]
    assert all(r["role"] == "owner" and r["unread_count"] == 0 for r in alices_view)

    bobs_view = (await client.get("/rooms", headers=bob.headers)).json()["rooms"]
    assert [(r["id"], r["role"], r["unread_count"]) for r in bobs_view] == [
        (bobs["id"], "owner", 0),
        (public["id"], None, None),
    ]
    assert secret["id"] not in {r["id"] for r in bobs_view}


async def test_unread_counts_in_listing(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice, bob = await users.create(), await users.create()
    room = await create_room(client, alice, "busy")
    await add_member(client, bob, room["id"], bob)
    for i in range(3):
        await send(client, alice, room["id"], f"hello {i}")
    await send(client, bob, room["id"], "my own message is not unread for me")
    listed = {r["id"]: r for r in (await client.get("/rooms", headers=bob.headers)).json()["rooms"]}
    assert listed[room["id"]]["unread_count"] == 3
    assert listed[room["id"]]["last_seq"] == 4
    assert listed[room["id"]]["last_read_seq"] == 0
    single = (await client.get(f"/rooms/{room['id']}", headers=bob.headers)).json()
    assert single["unread_count"] == 3
    alices = (await client.get(f"/rooms/{room['id']}", headers=alice.headers)).json()
    assert alices["unread_count"] == 1
    await client.put(f"/rooms/{room['id']}/read", json={"seq": 2}, headers=bob.headers)
    listed = {r["id"]: r for r in (await client.get("/rooms", headers=bob.headers)).json()["rooms"]}
    assert (listed[room["id"]]["last_read_seq"], listed[room["id"]]["unread_count"]) == (2, 1)


async def test_private_room_is_invisible_to_outsiders(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice, eve = await users.create(), await users.create()
    secret = await create_room(client, alice, visibility="private")
    missing = await client.get("/rooms/987654", headers=eve.headers)
    hidden = await client.get(f"/rooms/{secret['id']}", headers=eve.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


async def test_update_room(
    client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    alice = await users.create()
    room = await create_room(client, alice, "before")
    response = await client.patch(
        f"/rooms/{room['id']}",
        json={"name": "after", "topic": "new topic", "visibility": "private"},
        headers=alice.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["topic"], body["visibility"]) == ("after", "new topic", "private")
    assert [e.kind for e in published] == [Kind.ROOM]
    assert '"type":"room.updated"' in published[0].frame
    assert (
        await client.patch(f"/rooms/{room['id']}", json={}, headers=alice.headers)
    ).status_code == 422


async def test_rename_to_a_taken_name_is_409(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    await create_room(client, alice, "taken")
    room = await create_room(client, alice, "free")
    response = await client.patch(
        f"/rooms/{room['id']}", json={"name": "TAKEN"}, headers=alice.headers
    )
    assert response.status_code == 409
    # Renaming to your own name in another case is fine.
    same = await client.patch(f"/rooms/{room['id']}", json={"name": "FREE"}, headers=alice.headers)
    assert same.status_code == 200


async def test_delete_room_removes_history_and_announces_it(
    client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    alice = await users.create()
    room = await create_room(client, alice)
    await send(client, alice, room["id"], "soon gone")
    published.clear()
    response = await client.delete(f"/rooms/{room['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert (await client.get(f"/rooms/{room['id']}", headers=alice.headers)).status_code == 404
    history = await client.get(f"/rooms/{room['id']}/messages", headers=alice.headers)
    assert history.status_code == 404
    assert published == [
        events.room_deleted(
            room_id=room["id"], frame=f'{{"type":"room.deleted","room_id":{room["id"]}}}'
        ),
        # Every member's clients hear it, subscribed or not.
        events.user_frame(
            user_id=alice.id,
            frame=orjson.dumps(
                {
                    "type": "room.left",
                    "room_id": room["id"],
                    "reason": "deleted",
                    "by": alice.profile,
                }
            ).decode(),
        ),
    ]
    # The name is free again.
    await create_room(client, alice, room["name"])


async def test_find_a_room_by_name(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice, eve = await users.create(), await users.create()
    lobby = await create_room(client, alice, "Lobby")
    secret = await create_room(client, alice, "secret", visibility="private")
    found = (await client.get("/rooms", params={"name": "LOBBY"}, headers=eve.headers)).json()
    assert [r["id"] for r in found["rooms"]] == [lobby["id"]]
    hidden = (await client.get("/rooms", params={"name": "secret"}, headers=eve.headers)).json()
    assert hidden == {"rooms": []}
    mine = (await client.get("/rooms", params={"name": "Secret"}, headers=alice.headers)).json()
    assert [r["id"] for r in mine["rooms"]] == [secret["id"]]
