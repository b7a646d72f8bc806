"""The room's change number: every change takes the next `rev`; `GET …/changes` pages them."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from app.delivery.events import Event, Kind
from tests.support.rooms import add_member, create_room, history, send
from tests.support.users import TestUser, UserFactory


@pytest.fixture
async def pair(client: httpx.AsyncClient, users: UserFactory) -> tuple[TestUser, TestUser, int]:
    alice, bob = await users.create(), await users.create()
    room = await create_room(client, alice)
    assert room["last_rev"] == 0
    await add_member(client, bob, room["id"], bob)
    return alice, bob, room["id"]


async def changes(
    client: httpx.AsyncClient, user: TestUser, room_id: int, **params: int
) -> dict[str, Any]:
    response = await client.get(f"/rooms/{room_id}/changes", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def last_rev(client: httpx.AsyncClient, user: TestUser, room_id: int) -> int:
    response = await client.get(f"/rooms/{room_id}", headers=user.headers)
    return int(response.json()["last_rev"])


async def test_every_change_kind_takes_the_next_rev(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    first = await send(client, alice, room_id, "one")
    second = await send(client, bob, room_id, "two")
    assert (first["rev"], second["rev"]) == (1, 2)
    assert await last_rev(client, alice, room_id) == 2

    edited = (
        await client.patch(
            f"/rooms/{room_id}/messages/{first['id']}", json={"body": "uno"}, headers=alice.headers
        )
    ).json()
    assert edited["rev"] == 3
    deleted = await client.delete(f"/rooms/{room_id}/messages/{second['id']}", headers=bob.headers)
    assert deleted.status_code == 204
    assert await last_rev(client, alice, room_id) == 4
    third = await send(client, alice, room_id, "three")
    assert (third["seq"], third["rev"]) == (3, 5)

    # Each change event carries its rev, the hub's ordering key.
    assert [(e.kind, e.rev) for e in published] == [(Kind.MESSAGE, r) for r in (1, 2, 3, 4, 5)]
    assert orjson.loads(published[3].frame) == {
        "type": "message.deleted",
        "room_id": room_id,
        "id": second["id"],
        "seq": 2,
        "rev": 4,
    }
    # A message keeps only its latest rev; history shows it.
    assert [(m["seq"], m["rev"]) for m in (await history(client, bob, room_id))["messages"]] == [
        (1, 3),
        (2, 4),
        (3, 5),
    ]


async def test_changes_that_change_nothing_take_no_rev(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, _bob, room_id = pair
    sent = await send(client, alice, room_id, "same", client_id="c1")
    again = await send(client, alice, room_id, "same", client_id="c1")  # a retried send
    assert again["rev"] == sent["rev"] == 1
    same = await client.patch(
        f"/rooms/{room_id}/messages/{sent['id']}", json={"body": " same "}, headers=alice.headers
    )
    assert same.status_code == 200
    assert same.json()["rev"] == 1
    await client.delete(f"/rooms/{room_id}/messages/{sent['id']}", headers=alice.headers)
    await client.delete(f"/rooms/{room_id}/messages/{sent['id']}", headers=alice.headers)
    refused = await client.patch(
        f"/rooms/{room_id}/messages/{sent['id']}", json={"body": "x"}, headers=alice.headers
    )
    assert refused.status_code == 409
    assert await last_rev(client, alice, room_id) == 2  # the send and one delete
    assert [e.rev for e in published] == [1, 2]


async def test_changes_pages_every_change_once_in_its_current_state(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    sent = [await send(client, alice, room_id, f"m{i}") for i in range(5)]  # revs 1..5
    await client.patch(
        f"/rooms/{room_id}/messages/{sent[1]['id']}", json={"body": "m1 v2"}, headers=alice.headers
    )  # rev 6
    await client.delete(f"/rooms/{room_id}/messages/{sent[3]['id']}", headers=alice.headers)
    await client.patch(
        f"/rooms/{room_id}/messages/{sent[1]['id']}", json={"body": "m1 v3"}, headers=alice.headers
    )  # rev 8: supersedes 6

    page = await changes(client, bob, room_id, after_rev=2)
    assert [(m["seq"], m["rev"], m["body"], m["deleted"]) for m in page["messages"]] == [
        (3, 3, "m2", False),
        (5, 5, "m4", False),
        (4, 7, "", True),
        (2, 8, "m1 v3", False),
    ]
    assert (page["last_rev"], page["has_more"]) == (8, False)

    first = await changes(client, bob, room_id, after_rev=0, limit=3)
    assert [m["rev"] for m in first["messages"]] == [1, 3, 5]
    assert (first["last_rev"], first["has_more"]) == (5, True)
    rest = await changes(client, bob, room_id, after_rev=first["last_rev"], limit=3)
    assert [m["rev"] for m in rest["messages"]] == [7, 8]
    assert (rest["last_rev"], rest["has_more"]) == (8, False)
    empty = await changes(client, bob, room_id, after_rev=8)
    assert empty == {"messages": [], "last_rev": 8, "has_more": False}
    assert (await changes(client, bob, room_id))["messages"][0]["rev"] == 1  # default after 0


async def test_changes_is_for_members_and_bounded(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], users: UserFactory
) -> None:
    alice, _bob, room_id = pair
    outsider = await users.create()
    url = f"/rooms/{room_id}/changes"
    assert (await client.get(url, headers=outsider.headers)).status_code == 403
    private = await create_room(client, alice, visibility="private")
    private_url = f"/rooms/{private['id']}/changes"
    assert (await client.get(private_url, headers=outsider.headers)).status_code == 404
    assert (await client.get(url)).status_code == 401
    for params in (
        {"limit": 1001},
        {"limit": 0},
        {"after_rev": -1},
        {"after_rev": "x"},
        {"after_rev": 2**63},
    ):
        response = await client.get(url, params=params, headers=alice.headers)
        assert response.status_code == 422, params
        assert "detail" in response.json()
    assert (await client.get(url, params={"limit": 1000}, headers=alice.headers)).status_code == 200
