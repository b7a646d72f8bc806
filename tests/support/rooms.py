"""Rooms and messages through the REST API, as a client would use them."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.support.users import TestUser

_names = itertools.count(1)


async def create_room(
    client: httpx.AsyncClient,
    owner: TestUser,
    name: str | None = None,
    *,
    visibility: str = "public",
    topic: str = "",
) -> dict[str, Any]:
    response = await client.post(
        "/rooms",
        json={"name": name or f"room-{next(_names)}", "visibility": visibility, "topic": topic},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def add_member(
    client: httpx.AsyncClient,
    actor: TestUser,
    room_id: int,
    user: TestUser,
    role: str | None = None,
) -> None:
    body = {"role": role} if role else None
    response = await client.put(
        f"/rooms/{room_id}/members/{user.id}", json=body, headers=actor.headers
    )
    assert response.status_code in (200, 201), response.text


async def send(
    client: httpx.AsyncClient, user: TestUser, room_id: int, body: str, client_id: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"body": body}
    if client_id is not None:
        payload["client_id"] = client_id
    response = await client.post(f"/rooms/{room_id}/messages", json=payload, headers=user.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def history(
    client: httpx.AsyncClient, user: TestUser, room_id: int, **params: int
) -> dict[str, Any]:
    response = await client.get(f"/rooms/{room_id}/messages", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
