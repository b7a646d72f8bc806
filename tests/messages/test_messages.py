from __future__ import annotations

import httpx
import orjson
import pytest

from app.delivery.events import Event, Kind
from tests.support.rooms import add_member, create_room, history, send
from tests.support.users import TestUser, UserFactory

MESSAGE_FIELDS = {
    "id",
    "room_id",
    "seq",
    "rev",
    "author",
    "body",
    "created_at",
    "edited_at",
    "deleted",
    "client_id",
    "reactions",
    "reply_to",
    "reply_count",
    "last_reply_at",
    "mentions",
}


@pytest.fixture
async def pair(client: httpx.AsyncClient, users: UserFactory) -> tuple[TestUser, TestUser, int]:
    alice, bob = await users.create(), await users.create()
    room = await create_room(client, alice)
    await add_member(client, bob, room["id"], bob)
    return alice, bob, room["id"]


async def test_send_stores_numbers_and_broadcasts(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    response = await client.post(
        f"/rooms/{room_id}/messages", json={"body": "hello"}, headers=alice.headers
    )
    assert response.status_code == 201
    message = response.json()
    assert set(message) == MESSAGE_FIELDS
    assert message["seq"] == 1
    assert message["room_id"] == room_id
    assert message["author"] == alice.profile
    assert message["body"] == "hello"
    assert message["deleted"] is False
    assert message["edited_at"] is None
    assert message["client_id"] is None
    assert message["created_at"].endswith("Z")
    second = await send(client, bob, room_id, "hi alice")
    assert second["seq"] == 2
    # Broadcast once each, after the commit, as the contract's `message` frame.
    assert [(e.kind, e.room_id, e.seq) for e in published] == [
        (Kind.MESSAGE, room_id, 1),
        (Kind.MESSAGE, room_id, 2),
    ]
    assert orjson.loads(published[0].frame) == {"type": "message", "message": message}


async def test_same_client_id_returns_the_original_and_broadcasts_nothing(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    first = await client.post(
        f"/rooms/{room_id}/messages",
        json={"body": "once", "client_id": "c-1"},
        headers=alice.headers,
    )
    again = await client.post(
        f"/rooms/{room_id}/messages",
        json={"body": "once (retried)", "client_id": "c-1"},
        headers=alice.headers,
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(published) == 1
    # The key is per user: bob may use the same client_id.
    bobs = await client.post(
        f"/rooms/{room_id}/messages", json={"body": "mine", "client_id": "c-1"}, headers=bob.headers
    )
    assert bobs.status_code == 201
    assert bobs.json()["seq"] == 2
    assert [m["seq"] for m in (await history(client, alice, room_id))["messages"]] == [1, 2]


async def test_client_id_reused_in_another_room_is_409(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    other = await create_room(client, alice)
    await send(client, alice, room_id, "here", client_id="dup")
    response = await client.post(
        f"/rooms/{other['id']}/messages",
        json={"body": "there", "client_id": "dup"},
        headers=alice.headers,
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        "'); DROP TABLE messages; --",
        "<script>alert('x')</script>",
        '<img src=x onerror="alert(1)"> & &amp; "quotes"',
        "emoji 🎉 and ünïcödé and RTL \u202e text",
        "line one\nline two\n\ttabbed",
        "%s %d {0} ${x} \\n \\u0000",
    ],
)
async def test_bodies_come_back_verbatim(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], body: str
) -> None:
    alice, bob, room_id = pair
    sent = await send(client, alice, room_id, body)
    assert sent["body"] == body
    assert (await history(client, bob, room_id))["messages"][-1]["body"] == body


async def test_bodies_are_trimmed_and_limited_to_4000_characters(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    assert (await send(client, alice, room_id, "  padded \n"))["body"] == "padded"
    assert len((await send(client, alice, room_id, "x" * 4000))["body"]) == 4000
    assert len((await send(client, alice, room_id, "  " + "é" * 4000 + "  "))["body"]) == 4000
    for bad in ("", "   ", "\n\t", "x" * 4001):
        response = await client.post(
            f"/rooms/{room_id}/messages", json={"body": bad}, headers=alice.headers
        )
        assert response.status_code == 422, bad[:10]
    for bad_payload in (
        {},
        {"body": 5},
        {"body": "ok", "client_id": ""},
        {"body": "ok", "client_id": "c" * 129},
    ):
        response = await client.post(
            f"/rooms/{room_id}/messages", json=bad_payload, headers=alice.headers
        )
        assert response.status_code == 422, bad_payload


async def test_sending_needs_a_token(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    _alice, _bob, room_id = pair
    response = await client.post(f"/rooms/{room_id}/messages", json={"body": "anon"})
    assert response.status_code == 401


async def test_sends_are_rate_limited(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], app
) -> None:
    from app.core.ratelimit import KeyedLimit

    alice, bob, room_id = pair
    state = app.state.parley
    state.send_limiter = KeyedLimit.from_rate(state.limiter, per_second=0.5, burst=2, namespace="t")
    codes = [
        (
            await client.post(
                f"/rooms/{room_id}/messages", json={"body": "x"}, headers=alice.headers
            )
        ).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]
    assert (
        await client.post(f"/rooms/{room_id}/messages", json={"body": "x"}, headers=bob.headers)
    ).status_code == 201


async def test_edit_own_message(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    sent = await send(client, alice, room_id, "typo")
    published.clear()
    response = await client.patch(
        f"/rooms/{room_id}/messages/{sent['id']}", json={"body": " fixed "}, headers=alice.headers
    )
    assert response.status_code == 200
    edited = response.json()
    assert edited["body"] == "fixed"
    assert edited["seq"] == sent["seq"]
    assert edited["edited_at"] is not None
    assert edited["rev"] == sent["rev"] + 1
    assert [(e.kind, e.rev) for e in published] == [(Kind.MESSAGE, edited["rev"])]
    assert orjson.loads(published[0].frame) == {"type": "message.updated", "message": edited}
    assert (await history(client, bob, room_id))["messages"][0]["body"] == "fixed"
    # Not the author: refused, even for the owner.
    bobs = await send(client, bob, room_id, "bob's")
    refused = await client.patch(
        f"/rooms/{room_id}/messages/{bobs['id']}", json={"body": "no"}, headers=alice.headers
    )
    assert refused.status_code == 403
    empty = await client.patch(
        f"/rooms/{room_id}/messages/{sent['id']}", json={"body": " "}, headers=alice.headers
    )
    assert empty.status_code == 422


async def test_delete_keeps_a_tombstone(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    first = await send(client, bob, room_id, "regret")
    await send(client, bob, room_id, "keep")
    published.clear()
    response = await client.delete(f"/rooms/{room_id}/messages/{first['id']}", headers=bob.headers)
    assert response.status_code == 204
    messages = (await history(client, alice, room_id))["messages"]
    assert [(m["seq"], m["body"], m["deleted"]) for m in messages] == [
        (1, "", True),
        (2, "keep", False),
    ]
    assert [orjson.loads(e.frame) for e in published] == [
        {"type": "message.deleted", "room_id": room_id, "id": first["id"], "seq": 1, "rev": 3}
    ]
    # Deleting again changes nothing and announces nothing; editing a deleted message is 409.
    again = await client.delete(f"/rooms/{room_id}/messages/{first['id']}", headers=bob.headers)
    assert again.status_code == 204
    assert len(published) == 1
    edit = await client.patch(
        f"/rooms/{room_id}/messages/{first['id']}", json={"body": "undo"}, headers=bob.headers
    )
    assert edit.status_code == 409
    # The next message still takes the next seq.
    assert (await send(client, alice, room_id, "after"))["seq"] == 3


async def test_unknown_message_is_404(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    other_room = await create_room(client, alice)
    elsewhere = await send(client, alice, other_room["id"], "in the other room")
    for message_id in (999999, elsewhere["id"]):
        response = await client.patch(
            f"/rooms/{room_id}/messages/{message_id}", json={"body": "x"}, headers=alice.headers
        )
        assert response.status_code == 404
        assert (
            await client.delete(f"/rooms/{room_id}/messages/{message_id}", headers=alice.headers)
        ).status_code == 404


async def test_read_markers(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    for i in range(5):
        await send(client, alice, room_id, f"m{i}")
    published.clear()
    marker = await client.put(f"/rooms/{room_id}/read", json={"seq": 3}, headers=bob.headers)
    assert marker.status_code == 200
    assert marker.json() == {"room_id": room_id, "seq": 3, "unread_count": 2, "mention_count": 0}
    assert [orjson.loads(e.frame) for e in published] == [
        {"type": "read", "room_id": room_id, "user_id": bob.id, "seq": 3}
    ]
    # Never backwards, never past the last message.
    back = await client.put(f"/rooms/{room_id}/read", json={"seq": 1}, headers=bob.headers)
    assert back.json()["seq"] == 3
    beyond = await client.put(f"/rooms/{room_id}/read", json={"seq": 99}, headers=bob.headers)
    assert beyond.json() == {"room_id": room_id, "seq": 5, "unread_count": 0, "mention_count": 0}
    assert len(published) == 2
    bad = await client.put(f"/rooms/{room_id}/read", json={"seq": -1}, headers=bob.headers)
    assert bad.status_code == 422


async def test_unread_count_skips_deleted_messages(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    sent = [await send(client, alice, room_id, f"m{i}") for i in range(3)]
    await client.delete(f"/rooms/{room_id}/messages/{sent[1]['id']}", headers=alice.headers)
    room = (await client.get(f"/rooms/{room_id}", headers=bob.headers)).json()
    assert room["unread_count"] == 2


async def test_history_pages(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    for i in range(1, 8):
        await send(client, alice, room_id, f"m{i}")

    def seqs(page: dict) -> list[int]:
        return [m["seq"] for m in page["messages"]]

    newest = await history(client, bob, room_id, limit=3)
    assert (seqs(newest), newest["has_more"]) == ([5, 6, 7], True)
    older = await history(client, bob, room_id, before_seq=5, limit=3)
    assert (seqs(older), older["has_more"]) == ([2, 3, 4], True)
    oldest = await history(client, bob, room_id, before_seq=2, limit=3)
    assert (seqs(oldest), oldest["has_more"]) == ([1], False)
    exact = await history(client, bob, room_id, before_seq=4, limit=3)
    assert (seqs(exact), exact["has_more"]) == ([1, 2, 3], False)
    forward = await history(client, bob, room_id, after_seq=2, limit=3)
    assert (seqs(forward), forward["has_more"]) == ([3, 4, 5], True)
    tail = await history(client, bob, room_id, after_seq=4, limit=3)
    assert (seqs(tail), tail["has_more"]) == ([5, 6, 7], False)
    caught_up = await history(client, bob, room_id, after_seq=7)
    assert (seqs(caught_up), caught_up["has_more"]) == ([], False)
    window = await history(client, bob, room_id, after_seq=1, before_seq=6, limit=2)
    assert (seqs(window), window["has_more"]) == ([2, 3], True)
    rest = await history(client, bob, room_id, after_seq=3, before_seq=6, limit=2)
    assert (seqs(rest), rest["has_more"]) == ([4, 5], False)
    everything = await history(client, bob, room_id)
    assert (seqs(everything), everything["has_more"]) == ([1, 2, 3, 4, 5, 6, 7], False)


async def test_history_of_an_empty_room(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    assert await history(client, alice, room_id) == {"messages": [], "has_more": False}
    assert await history(client, alice, room_id, before_seq=1) == {
        "messages": [],
        "has_more": False,
    }


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"before_seq": -1}, {"after_seq": -5}, {"limit": "many"}],
)
async def test_history_rejects_bad_parameters(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], params: dict
) -> None:
    alice, _bob, room_id = pair
    response = await client.get(f"/rooms/{room_id}/messages", params=params, headers=alice.headers)
    assert response.status_code == 422


async def test_history_limit_is_at_most_200(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    for i in range(205):
        await send(client, alice, room_id, f"n{i}")
    page = await history(client, alice, room_id, limit=200)
    assert [m["seq"] for m in page["messages"]] == list(range(6, 206))
    assert page["has_more"] is True
    default = await history(client, alice, room_id)
    assert [m["seq"] for m in default["messages"]] == list(range(156, 206))
