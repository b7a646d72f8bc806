"""Bot accounts and API keys over REST (in process): create, use, rotate, delete, refusals."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.bots import keys
from app.core.config import Settings
from app.delivery.events import Event, Kind
from app.models import ApiKey, Base
from tests.conftest import make_settings
from tests.support.bots import create_bot, rotate_key
from tests.support.rooms import add_member, create_room, send
from tests.support.users import UserFactory


async def test_a_bot_is_created_with_a_key_shown_once_and_is_marked_bot(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    response = await client.post(
        "/bots", json={"username": "Deploy-Bot", "display_name": "Deploy"}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["bot"]["username"] == "Deploy-Bot"
    assert body["bot"]["display_name"] == "Deploy"
    assert body["bot"]["bot"] is True
    key = body["api_key"]
    assert key.startswith("pk_")
    assert len(key) == len("pk_") + 16 + 1 + 43

    me = await client.get("/users/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json() == body["bot"]
    assert (await client.get("/users/me", headers=alice.headers)).json()["bot"] is False
    seen = await client.get(f"/users/{body['bot']['id']}", headers=alice.headers)
    assert seen.json()["bot"] is True

    listed = (await client.get("/bots", headers=alice.headers)).json()["bots"]
    assert [b["bot"]["id"] for b in listed] == [body["bot"]["id"]]
    assert key.startswith(listed[0]["key_hint"].rstrip("…"))
    assert key not in str(listed)


async def test_the_key_is_stored_hashed_and_nowhere_in_clear(
    client: httpx.AsyncClient, users: UserFactory, connection: AsyncConnection
) -> None:
    alice = await users.create()
    bot = await create_bot(client, alice)
    secret = bot.access_token[-43:]
    stored = (await connection.execute(select(ApiKey.key_hash))).scalars().all()
    assert len(stored) == 1
    assert len(stored[0]) == 64
    for table in Base.metadata.sorted_tables:
        for row in await connection.execute(text(f"SELECT * FROM {table.name}")):
            assert secret not in str(tuple(row)), table.name


async def test_a_bot_acts_like_a_member_and_is_marked_as_author(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    bot = await create_bot(client, alice)
    room = await create_room(client, alice, visibility="private")
    await add_member(client, alice, room["id"], bot)
    message = await send(client, bot, room["id"], "beep")
    assert message["author"]["bot"] is True
    history = await client.get(f"/rooms/{room['id']}/messages", headers=alice.headers)
    assert history.json()["messages"][0]["author"] == {**bot.profile}
    members = (await client.get(f"/rooms/{room['id']}/members", headers=bot.headers)).json()
    assert {m["user"]["id"]: m["user"]["bot"] for m in members["members"]} == {
        alice.id: False,
        bot.id: True,
    }
    public = await create_room(client, alice)
    joined = await client.put(f"/rooms/{public['id']}/members/{bot.id}", headers=bot.headers)
    assert joined.status_code == 201


async def test_rotation_stops_the_old_key_at_once(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    alice = await users.create()
    bot = await create_bot(client, alice)
    old_session = await _key_session(app, bot.access_token)
    rotated = await rotate_key(client, alice, bot)
    assert rotated.access_token != bot.access_token
    refused = await client.get("/users/me", headers=bot.headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/users/me", headers=rotated.headers)).status_code == 200
    # The old key's sockets close everywhere: its session is revoked through the broker.
    assert [(e.kind, e.session_id) for e in published] == [(Kind.SESSION_REVOKED, old_session)]


async def test_deleting_a_bot_stops_its_key_and_keeps_its_messages(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    alice, bob = await users.create(), await users.create()
    bot = await create_bot(client, alice)
    # A room the bot created (it owns it) and one it was added to.
    owned = await create_room(client, bot)
    await add_member(client, bot, owned["id"], bob)
    other = await create_room(client, bob)
    await add_member(client, bob, other["id"], bot)
    said = await send(client, bot, other["id"], "still here")
    key_session = await _key_session(app, bot.access_token)
    published.clear()

    deleted = await client.delete(f"/bots/{bot.id}", headers=alice.headers)
    assert deleted.status_code == 204
    assert (await client.get("/users/me", headers=bot.headers)).status_code == 401
    assert (Kind.SESSION_REVOKED, key_session) in [(e.kind, e.session_id) for e in published]
    assert (await client.get("/bots", headers=alice.headers)).json() == {"bots": []}

    # History stays readable: the message keeps its author.
    history = (await client.get(f"/rooms/{other['id']}/messages", headers=bob.headers)).json()
    assert [(m["id"], m["author"]["username"]) for m in history["messages"]] == [
        (said["id"], bot.username)
    ]
    # It left its rooms; the room it owned passed to its owner.
    members = (await client.get(f"/rooms/{other['id']}/members", headers=bob.headers)).json()
    assert [m["user"]["id"] for m in members["members"]] == [bob.id]
    members = (await client.get(f"/rooms/{owned['id']}/members", headers=bob.headers)).json()
    assert {m["user"]["id"]: m["role"] for m in members["members"]} == {
        alice.id: "owner",
        bob.id: "member",
    }
    # Gone for good: not added again, not found in the picker, its name not reusable.
    readd = await client.put(f"/rooms/{other['id']}/members/{bot.id}", headers=bob.headers)
    assert readd.status_code == 404
    found = await client.get("/users", params={"prefix": bot.username}, headers=bob.headers)
    assert found.json()["users"] == []
    again = await client.post("/bots", json={"username": bot.username}, headers=alice.headers)
    assert again.status_code == 409
    assert (await client.delete(f"/bots/{bot.id}", headers=alice.headers)).status_code == 404


async def test_only_the_owner_manages_a_bot(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice, mallory = await users.create(), await users.create()
    bot = await create_bot(client, alice)
    for method, path in (("POST", f"/bots/{bot.id}/key"), ("DELETE", f"/bots/{bot.id}")):
        response = await client.request(method, path, headers=mallory.headers)
        assert response.status_code == 404, (method, response.text)
        # A person's id answers the same: ids reveal nothing.
        response = await client.request(method, f"/bots/{alice.id}", headers=mallory.headers)
        assert response.status_code in (404, 405)
    assert (await client.post(f"/bots/{alice.id}/key", headers=alice.headers)).status_code == 404
    assert (await client.get("/bots", headers=mallory.headers)).json() == {"bots": []}
    assert (await client.get("/users/me", headers=bot.headers)).status_code == 200


async def test_bots_cannot_log_in_refresh_log_out_or_make_bots(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    bot = await create_bot(client, alice)
    login = await client.post("/auth/login", data={"username": bot.username, "password": "x" * 8})
    assert login.status_code == 403
    assert "API key" in login.json()["detail"]
    refresh = await client.post("/auth/refresh", json={"refresh_token": bot.access_token})
    assert refresh.status_code == 403
    logout = await client.post("/auth/logout", json={}, headers=bot.headers)
    assert logout.status_code == 403
    for method, path in (("POST", "/bots"), ("GET", "/bots"), ("POST", f"/bots/{bot.id}/key")):
        response = await client.request(
            method, path, json={"username": "child"}, headers=bot.headers
        )
        assert response.status_code == 403, (path, response.text)
        assert response.json()["detail"] == "Bots cannot create or manage bots."
    # None of that hurt the key.
    assert (await client.get("/users/me", headers=bot.headers)).status_code == 200


@pytest.mark.parametrize(
    "key",
    [
        "pk_",
        "pk_nothex_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "pk_0123456789abcdef_" + "a" * 43,  # well formed, unknown
        "pk_0123456789abcdef_" + "a" * 5000,
    ],
)
async def test_malformed_or_unknown_keys_answer_401(
    client: httpx.AsyncClient, users: UserFactory, key: str
) -> None:
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


async def test_a_wrong_secret_for_a_real_key_id_answers_401(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    bot = await create_bot(client, alice)
    secret = bot.access_token[-43:]
    forged = bot.access_token[:-43] + ("b" if secret[0] != "b" else "c") + secret[1:]
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url, tmp_path / "data", bots_per_user=2, bot_keys_per_user_per_hour=4
    )


async def test_bots_per_owner_and_keys_per_hour_are_bounded(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    first = await create_bot(client, alice)
    await create_bot(client, alice)
    third = await client.post("/bots", json={"username": "third"}, headers=alice.headers)
    assert third.status_code == 409
    assert "2" in third.json()["detail"]
    assert (await client.delete(f"/bots/{first.id}", headers=alice.headers)).status_code == 204
    fourth = await create_bot(client, alice)  # a deleted bot frees its place
    # Four keys were asked for this hour (the refused one counts too): no fifth.
    limited = await client.post(f"/bots/{fourth.id}/key", headers=alice.headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0


async def _key_session(app: FastAPI, key: str) -> int:
    """The id of the auth session behind a key (what its sockets are closed by)."""
    async with app.state.parley.transaction() as session:
        holder = await keys.find_holder(session, key)
    assert holder is not None
    return holder[1]
