"""Replies and threads (CONTRACT "Version 2" → Replies and threads), on both databases."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from app.delivery.events import Event, Kind
from tests.support.rooms import add_member, create_room, history
from tests.support.users import TestUser, UserFactory


@pytest.fixture
async def pair(client: httpx.AsyncClient, users: UserFactory) -> tuple[TestUser, TestUser, int]:
    alice, bob = await users.create(), await users.create()
    room = await create_room(client, alice)
    await add_member(client, bob, room["id"], bob)
    return alice, bob, room["id"]


async def post(
    client: httpx.AsyncClient,
    user: TestUser,
    room_id: int,
    body: str,
    *,
    reply_to: int | None = None,
    client_id: str | None = None,
    status: int = 201,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"body": body}
    if reply_to is not None:
        payload["reply_to"] = reply_to
    if client_id is not None:
        payload["client_id"] = client_id
    response = await client.post(f"/rooms/{room_id}/messages", json=payload, headers=user.headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def replies(
    client: httpx.AsyncClient, user: TestUser, room_id: int, message_id: int, **params: int
) -> dict[str, Any]:
    response = await client.get(
        f"/rooms/{room_id}/messages/{message_id}/replies", params=params, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_reply_joins_the_thread_and_changes_its_root(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    root = await post(client, alice, room_id, "lunch?")
    published.clear()
    reply = await post(client, bob, room_id, "yes", reply_to=root["id"])
    assert reply["reply_to"] == root["id"]
    assert (reply["seq"], reply["rev"]) == (2, root["rev"] + 1)
    # Subscribers get the reply's `message`, then the root's `message.updated` (next rev).
    changes = [e for e in published if e.kind == Kind.MESSAGE]
    assert [e.rev for e in changes] == [reply["rev"], reply["rev"] + 1]
    first, second = (orjson.loads(e.frame) for e in changes)
    assert first["type"] == "message"
    assert first["message"]["id"] == reply["id"]
    assert second["type"] == "message.updated"
    updated_root = second["message"]
    assert updated_root["id"] == root["id"]
    assert updated_root["reply_count"] == 1
    assert updated_root["last_reply_at"] == reply["created_at"]
    assert updated_root["rev"] == reply["rev"] + 1

    # Replying to a reply attaches to its root: one level deep.
    nested = await post(client, alice, room_id, "where?", reply_to=reply["id"])
    assert nested["reply_to"] == root["id"]
    page = await replies(client, bob, room_id, root["id"])
    assert [m["id"] for m in page["messages"]] == [reply["id"], nested["id"]]
    assert page["has_more"] is False
    # A reply is an ordinary message of the room's history, and has no replies itself.
    assert [m["seq"] for m in (await history(client, bob, room_id))["messages"]] == [1, 2, 3]
    assert (await replies(client, bob, room_id, reply["id"]))["messages"] == []
    stored_root = (await history(client, bob, room_id))["messages"][0]
    assert stored_root["reply_count"] == 2
    # The changes feed after the reply shows the root in its latest state.
    feed = (
        await client.get(
            f"/rooms/{room_id}/changes", params={"after_rev": root["rev"]}, headers=bob.headers
        )
    ).json()
    assert [m["id"] for m in feed["messages"]] == [reply["id"], nested["id"], root["id"]]


async def test_replies_page_and_keep_tombstones(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    root = await post(client, alice, room_id, "thread")
    sent = [await post(client, bob, room_id, f"r{n}", reply_to=root["id"]) for n in range(5)]
    gone = await client.delete(f"/rooms/{room_id}/messages/{sent[1]['id']}", headers=bob.headers)
    assert gone.status_code == 204
    first = await replies(client, alice, room_id, root["id"], limit=2)
    assert [m["body"] for m in first["messages"]] == ["r0", ""]
    assert first["messages"][1]["deleted"] is True
    assert first["has_more"] is True
    rest = await replies(
        client, alice, room_id, root["id"], after_seq=first["messages"][-1]["seq"], limit=200
    )
    assert [m["body"] for m in rest["messages"]] == ["r2", "r3", "r4"]
    assert rest["has_more"] is False
    # Deleted replies still count.
    assert (await history(client, alice, room_id))["messages"][0]["reply_count"] == 5
    too_many = await client.get(
        f"/rooms/{room_id}/messages/{root['id']}/replies",
        params={"limit": 201},
        headers=alice.headers,
    )
    assert too_many.status_code == 422


async def test_reply_refusals(
    client: httpx.AsyncClient, users: UserFactory, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    other = await create_room(client, alice)
    elsewhere = await post(client, alice, other["id"], "elsewhere")
    # Not a message of this room: 404.
    await post(client, alice, room_id, "x", reply_to=elsewhere["id"], status=404)
    await post(client, alice, room_id, "x", reply_to=10**12, status=404)
    # A deleted message, or a reply whose root is deleted: 409.
    root = await post(client, alice, room_id, "root")
    reply = await post(client, bob, room_id, "reply", reply_to=root["id"])
    deleted_reply = await post(client, bob, room_id, "gone", reply_to=root["id"])
    await client.delete(f"/rooms/{room_id}/messages/{deleted_reply['id']}", headers=bob.headers)
    await post(client, alice, room_id, "x", reply_to=deleted_reply["id"], status=409)
    await client.delete(f"/rooms/{room_id}/messages/{root['id']}", headers=alice.headers)
    await post(client, alice, room_id, "x", reply_to=root["id"], status=409)
    await post(client, alice, room_id, "x", reply_to=reply["id"], status=409)
    # Out-of-range ids are refused at the edge.
    await post(client, alice, room_id, "x", reply_to=2**63, status=422)
    await post(client, alice, room_id, "x", reply_to=0, status=422)
    # Non-members: 403 in a public room, 404 in a private one; the replies list likewise.
    carol = await users.create()
    await post(client, carol, room_id, "x", reply_to=reply["id"], status=403)
    private = await create_room(client, alice, visibility="private")
    secret = await post(client, alice, private["id"], "secret")
    await post(client, carol, private["id"], "x", reply_to=secret["id"], status=404)
    hidden = await client.get(
        f"/rooms/{private['id']}/messages/{secret['id']}/replies", headers=carol.headers
    )
    assert hidden.status_code == 404
    not_member = await client.get(
        f"/rooms/{room_id}/messages/{reply['id']}/replies", headers=carol.headers
    )
    assert not_member.status_code == 403
    unknown = await client.get(
        f"/rooms/{room_id}/messages/{elsewhere['id']}/replies", headers=alice.headers
    )
    assert unknown.status_code == 404


async def test_a_repeated_reply_is_answered_with_the_original(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    root = await post(client, alice, room_id, "root")
    first = await post(client, bob, room_id, "once", reply_to=root["id"], client_id="r-1")
    published.clear()
    again = await post(
        client, bob, room_id, "once", reply_to=root["id"], client_id="r-1", status=200
    )
    assert again["id"] == first["id"]
    assert published == []
    assert (await history(client, bob, room_id))["messages"][0]["reply_count"] == 1
