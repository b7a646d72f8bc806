"""Bots through the REST API, as their owner would make them."""

from __future__ import annotations

import itertools

import httpx

from tests.support.users import TestUser

_names = itertools.count(1)


async def create_bot(
    client: httpx.AsyncClient, owner: TestUser, username: str | None = None
) -> TestUser:
    """A new bot of `owner`, as a TestUser whose `access_token` is its API key."""
    response = await client.post(
        "/bots", json={"username": username or f"bot{next(_names)}"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return bot_user(body["bot"], body["api_key"])


def bot_user(profile: dict[str, object], api_key: str) -> TestUser:
    return TestUser(
        id=int(profile["id"]),  # type: ignore[call-overload]
        username=str(profile["username"]),
        password="",
        access_token=api_key,
        refresh_token="",
        profile=profile,
    )


async def rotate_key(client: httpx.AsyncClient, owner: TestUser, bot: TestUser) -> TestUser:
    response = await client.post(f"/bots/{bot.id}/key", headers=owner.headers)
    assert response.status_code == 200, response.text
    return bot_user(response.json()["bot"], response.json()["api_key"])
