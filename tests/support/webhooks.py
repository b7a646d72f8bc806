"""Creating webhooks through the REST API, as a room's owner would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.users import TestUser
from tests.support.webhook_receiver import Receiver

ALL_EVENTS = ["message.created", "message.updated", "message.deleted", "reaction", "mention"]


async def create_webhook(
    client: httpx.AsyncClient,
    owner: TestUser,
    room_id: int,
    receiver: Receiver,
    *,
    path: str = "/hook",
    events: list[str] | None = None,
) -> dict[str, Any]:
    """A webhook to `receiver` at `path`; the receiver learns its secret."""
    response = await client.post(
        f"/rooms/{room_id}/webhooks",
        json={"url": receiver.url(path), "events": events or ALL_EVENTS},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secrets[path] = created["secret"]
    return created
