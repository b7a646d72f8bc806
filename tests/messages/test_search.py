from __future__ import annotations

import httpx
import pytest

from app.messages.search import fts5_query
from tests.support.rooms import create_room, send
from tests.support.users import TestUser, UserFactory


@pytest.fixture
async def room(client: httpx.AsyncClient, users: UserFactory) -> tuple[TestUser, int]:
    alice = await users.create()
    room = await create_room(client, alice)
    for body in (
        "The deploy is running smoothly",
        "deploy failed: database timeout on the deploy host",
        "lunch at noon?",
        "Running late, start the standup without me",
        "'); DROP TABLE messages; -- NEAR OR AND *",
    ):
        await send(client, alice, room["id"], body)
    return alice, room["id"]


async def search(client: httpx.AsyncClient, user: TestUser, room_id: int, q: str) -> list[str]:
    response = await client.get(
        f"/rooms/{room_id}/messages/search", params={"q": q}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return [m["body"] for m in response.json()["messages"]]


async def test_best_match_first(client: httpx.AsyncClient, room: tuple[TestUser, int]) -> None:
    alice, room_id = room
    found = await search(client, alice, room_id, "deploy")
    assert found[0] == "deploy failed: database timeout on the deploy host"
    assert set(found) == {
        "The deploy is running smoothly",
        "deploy failed: database timeout on the deploy host",
    }


async def test_stemming_and_case(client: httpx.AsyncClient, room: tuple[TestUser, int]) -> None:
    alice, room_id = room
    assert set(await search(client, alice, room_id, "RUN")) == {
        "The deploy is running smoothly",
        "Running late, start the standup without me",
    }


async def test_all_words_must_match(client: httpx.AsyncClient, room: tuple[TestUser, int]) -> None:
    alice, room_id = room
    assert await search(client, alice, room_id, "deploy timeout") == [
        "deploy failed: database timeout on the deploy host"
    ]
    assert await search(client, alice, room_id, "deploy lunch") == []


async def test_web_search_syntax(client: httpx.AsyncClient, room: tuple[TestUser, int]) -> None:
    alice, room_id = room
    assert set(await search(client, alice, room_id, "lunch OR standup")) == {
        "lunch at noon?",
        "Running late, start the standup without me",
    }
    assert await search(client, alice, room_id, "deploy -timeout") == [
        "The deploy is running smoothly"
    ]
    assert await search(client, alice, room_id, '"database timeout"') == [
        "deploy failed: database timeout on the deploy host"
    ]


@pytest.mark.parametrize("q", ['"', "NEAR(", "*", "OR", "AND NOT", "'); DROP", ")(", "-", "^x"])
async def test_operators_in_input_are_harmless(
    client: httpx.AsyncClient, room: tuple[TestUser, int], q: str
) -> None:
    alice, room_id = room
    await search(client, alice, room_id, q)  # a 200, whatever it finds


async def test_deleted_messages_are_not_found(
    client: httpx.AsyncClient, room: tuple[TestUser, int]
) -> None:
    alice, room_id = room
    sent = await send(client, alice, room_id, "ephemeral secret")
    assert await search(client, alice, room_id, "ephemeral") == ["ephemeral secret"]
    await client.delete(f"/rooms/{room_id}/messages/{sent['id']}", headers=alice.headers)
    assert await search(client, alice, room_id, "ephemeral") == []


async def test_edits_are_searchable(client: httpx.AsyncClient, room: tuple[TestUser, int]) -> None:
    alice, room_id = room
    sent = await send(client, alice, room_id, "before edit")
    await client.patch(
        f"/rooms/{room_id}/messages/{sent['id']}", json={"body": "zeppelin"}, headers=alice.headers
    )
    assert await search(client, alice, room_id, "zeppelin") == ["zeppelin"]
    assert "before edit" not in await search(client, alice, room_id, "edit")


async def test_search_stays_inside_the_room(
    client: httpx.AsyncClient, room: tuple[TestUser, int]
) -> None:
    alice, room_id = room
    other = await create_room(client, alice)
    await send(client, alice, other["id"], "deploy in the other room")
    assert "deploy in the other room" not in await search(client, alice, room_id, "deploy")


async def test_search_parameters(client: httpx.AsyncClient, room: tuple[TestUser, int]) -> None:
    alice, room_id = room
    for params in ({}, {"q": ""}, {"q": "x" * 201}, {"q": "deploy", "limit": 0}):
        response = await client.get(
            f"/rooms/{room_id}/messages/search", params=params, headers=alice.headers
        )
        assert response.status_code == 422
    limited = await client.get(
        f"/rooms/{room_id}/messages/search",
        params={"q": "deploy", "limit": 1},
        headers=alice.headers,
    )
    assert len(limited.json()["messages"]) == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("deploy", '"deploy"'),
        ("deploy timeout", '"deploy" AND "timeout"'),
        ('"database timeout"', '"database timeout"'),
        ("a OR b", '("a" OR "b")'),
        ("a -b", '("a") NOT "b"'),
        ("NEAR(a b)", '"NEAR a" AND "b"'),  # one term, one phrase: never an operator
        ("foo-bar", '"foo bar"'),
        ("-only", None),
        ("***", None),
    ],
)
def test_fts5_translation(query: str, expected: str | None) -> None:
    assert fts5_query(query) == expected
