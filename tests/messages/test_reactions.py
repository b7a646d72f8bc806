"""Reactions (CONTRACT "Version 2" → Reactions), through the REST API on both databases."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

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
    await add_member(client, bob, room["id"], bob)
    return alice, bob, room["id"]


def path(room_id: int, message_id: int, emoji: str) -> str:
    return f"/rooms/{room_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}"


async def react(
    client: httpx.AsyncClient,
    user: TestUser,
    room_id: int,
    message_id: int,
    emoji: str,
    *,
    remove: bool = False,
    status: int = 200,
) -> dict[str, Any]:
    method = client.delete if remove else client.put
    response = await method(path(room_id, message_id, emoji), headers=user.headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_new_messages_carry_empty_conversation_fields(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    sent = await send(client, alice, room_id, "hello")
    for message in (sent, (await history(client, alice, room_id))["messages"][0]):
        assert message["reactions"] == []
        assert message["reply_to"] is None
        assert message["reply_count"] == 0
        assert message["last_reply_at"] is None
        assert message["mentions"] == []


async def test_reactions_count_order_and_users(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, bob, room_id = pair
    message = await send(client, alice, room_id, "ship it")
    first = await react(client, alice, room_id, message["id"], "👍")
    assert first["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [alice.id]}]
    assert first["rev"] == message["rev"] + 1
    await react(client, bob, room_id, message["id"], ":shipit:")
    both = await react(client, bob, room_id, message["id"], "👍")
    assert both["reactions"] == [
        {"emoji": "👍", "count": 2, "user_ids": [alice.id, bob.id]},
        {"emoji": ":shipit:", "count": 1, "user_ids": [bob.id]},
    ]
    # Alice leaves 👍: it keeps its place (its count never fell to 0).
    after = await react(client, alice, room_id, message["id"], "👍", remove=True)
    assert [(r["emoji"], r["count"]) for r in after["reactions"]] == [("👍", 1), (":shipit:", 1)]
    # Bob's 👍 goes too: it disappears, and used again it goes last.
    await react(client, bob, room_id, message["id"], "👍", remove=True)
    again = await react(client, alice, room_id, message["id"], "👍")
    assert [r["emoji"] for r in again["reactions"]] == [":shipit:", "👍"]
    # Every change took a rev and told subscribers with message.updated.
    changes = [e for e in published if e.kind == Kind.MESSAGE]
    assert [e.rev for e in changes] == list(range(message["rev"], again["rev"] + 1))
    frame = orjson.loads(changes[-1].frame)
    assert frame["type"] == "message.updated"
    assert frame["message"]["reactions"] == again["reactions"]
    # History and the changes feed show the reactions too.
    stored = (await history(client, bob, room_id))["messages"][0]
    assert stored["reactions"] == again["reactions"]
    feed = (
        await client.get(
            f"/rooms/{room_id}/changes", params={"after_rev": message["rev"]}, headers=bob.headers
        )
    ).json()
    assert [(m["id"], m["rev"]) for m in feed["messages"]] == [(message["id"], again["rev"])]


async def test_repeating_or_removing_nothing_takes_no_rev(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], published: list[Event]
) -> None:
    alice, _bob, room_id = pair
    message = await send(client, alice, room_id, "hi")
    first = await react(client, alice, room_id, message["id"], "🎉")
    published.clear()
    assert await react(client, alice, room_id, message["id"], "🎉") == first
    removed_nothing = await react(client, alice, room_id, message["id"], "👀", remove=True)
    assert removed_nothing == first
    assert published == []


@pytest.mark.parametrize("emoji", ["👩‍💻", "👍🏽", "❤️", ":party_parrot:", "🇫🇷", "x" * 32, "🏳️‍🌈"])
async def test_emoji_accepted(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], emoji: str
) -> None:
    alice, _bob, room_id = pair
    message = await send(client, alice, room_id, "hi")
    reacted = await react(client, alice, room_id, message["id"], emoji)
    assert reacted["reactions"][0]["emoji"] == emoji


@pytest.mark.parametrize("emoji", ["a b", "x" * 33, "\t", "👍\n", "\x07", "\u00a0", "\u2028"])
async def test_emoji_refused(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int], emoji: str
) -> None:
    alice, _bob, room_id = pair
    message = await send(client, alice, room_id, "hi")
    response = await client.put(path(room_id, message["id"], emoji), headers=alice.headers)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


async def test_twenty_first_emoji_is_refused(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    message = await send(client, alice, room_id, "vote")
    for n in range(20):
        await react(client, alice, room_id, message["id"], f":e{n}:")
    await react(client, alice, room_id, message["id"], ":e20:", status=409)
    # An emoji already there still takes more people.
    more = await react(client, bob, room_id, message["id"], ":e0:")
    assert more["reactions"][0]["count"] == 2
    assert len(more["reactions"]) == 20


async def test_deleted_message_takes_no_reactions_and_drops_its_own(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    message = await send(client, alice, room_id, "oops")
    await react(client, bob, room_id, message["id"], "👍")
    response = await client.delete(
        f"/rooms/{room_id}/messages/{message['id']}", headers=alice.headers
    )
    assert response.status_code == 204
    await react(client, bob, room_id, message["id"], "👍", status=409)
    await react(client, bob, room_id, message["id"], "👍", remove=True, status=409)
    tombstone = (await history(client, bob, room_id))["messages"][0]
    assert tombstone["deleted"] is True
    assert tombstone["reactions"] == []


async def test_refusals_foreign_room_non_member_unknown(
    client: httpx.AsyncClient, users: UserFactory, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    carol = await users.create()
    message = await send(client, alice, room_id, "mine")
    other = await create_room(client, alice)
    private = await create_room(client, alice, visibility="private")
    # The message is not in that room.
    await react(client, alice, other["id"], message["id"], "👍", status=404)
    await react(client, alice, room_id, 10**12, "👍", status=404)
    # A public room's non-member: 403; a private room's: 404.
    await react(client, carol, room_id, message["id"], "👍", status=403)
    in_private = await send(client, alice, private["id"], "secret")
    await react(client, carol, private["id"], in_private["id"], "👍", status=404)
    await react(client, carol, private["id"], in_private["id"], "👍", remove=True, status=404)


def test_the_hot_paths_json_is_what_message_read_serializes() -> None:
    """`message_json` (plain sends, no validation) must write exactly what `MessageRead`
    does, new fields and their empty values included."""
    from datetime import UTC, datetime

    from app.messages.schemas import MessageRead
    from app.messages.sends import message_json
    from app.users.schemas import UserRead

    author = UserRead.model_validate(
        {"id": 7, "username": "ann", "display_name": "Ann", "created_at": "2026-01-01T00:00:00Z"}
    )
    created = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)
    fast = message_json(
        message_id=1,
        room_id=2,
        seq=3,
        rev=4,
        author_json=author.model_dump_json(),
        body='héllo "you"',
        created_at=created,
        edited_at=None,
        deleted=False,
        client_id="c",
    )
    slow = MessageRead(
        id=1,
        room_id=2,
        seq=3,
        rev=4,
        author=author,
        body='héllo "you"',
        created_at=created,
        edited_at=None,
        deleted=False,
        client_id="c",
    ).model_dump_json()
    assert fast == slow


async def test_an_entry_names_the_first_50_reactors_and_counts_them_all(
    client: httpx.AsyncClient, users: UserFactory, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, _bob, room_id = pair
    message = await send(client, alice, room_id, "popular")
    crowd = [await users.create() for _ in range(52)]
    for person in crowd:
        await add_member(client, person, room_id, person)
        await react(client, person, room_id, message["id"], "🔥")
    entry = (await history(client, alice, room_id))["messages"][0]["reactions"][0]
    assert entry["count"] == 52
    assert entry["user_ids"] == [person.id for person in crowd[:50]]


async def test_a_repeated_send_is_answered_with_the_original_as_it_is_now(
    client: httpx.AsyncClient, pair: tuple[TestUser, TestUser, int]
) -> None:
    alice, bob, room_id = pair
    first = await send(client, alice, room_id, "once", client_id="same-1")
    reacted = await react(client, bob, room_id, first["id"], "👍")
    again = await client.post(
        f"/rooms/{room_id}/messages",
        json={"body": "once", "client_id": "same-1"},
        headers=alice.headers,
    )
    assert again.status_code == 200
    assert again.json()["reactions"] == reacted["reactions"]
    assert again.json()["rev"] == reacted["rev"]
