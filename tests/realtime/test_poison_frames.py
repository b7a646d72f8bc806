"""Frames the database could not store are refused at the edge, and never cost anyone else.

A `send` with U+0000 in its body or client_id, or a room_id beyond INTEGER, once reached
PostgreSQL inside a group-commit batch: the whole batch was refused, so every innocent
sender in it got `unavailable`, and the offender was told to retry forever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.rooms import add_member, create_room, history
from tests.support.users import UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live

Connect = Callable[..., Awaitable[WsClient]]

# Sends refused by the database (PostgreSQL) if they ever reached it.
POISONS: list[dict[str, Any]] = [
    {"body": "nul \x00 in the body", "client_id": "p-body"},
    {"body": "fine", "client_id": "p-\x00-client-id"},
    {"body": "fine", "client_id": "p-room", "room_id": 2**31},
    {"body": "fine", "client_id": "p-room8", "room_id": 2**63 - 1},
    {"body": "\x00", "client_id": "p-only-nul"},
]


async def collect(client: WsClient, count: int, types: tuple[str, ...]) -> list[dict[str, Any]]:
    """The next `count` frames of these types (others are skipped)."""
    frames: list[dict[str, Any]] = []
    while len(frames) < count:
        frame = await client.recv(timeout=10)
        if frame["type"] in types:
            frames.append(frame)
    return frames


async def test_a_poisoned_send_is_refused_alone_and_innocents_in_its_batch_are_acked(
    ws: Connect, api: httpx.AsyncClient, users: UserFactory
) -> None:
    mallory, bob = await users.create(), await users.create()
    own_room = await create_room(api, mallory)
    other_room = await create_room(api, bob)
    await add_member(api, mallory, other_room["id"], mallory)
    m, b = await ws(mallory), await ws(bob)

    # The innocent sends and the poisoned ones go out interleaved, without waiting for
    # answers, so that they land in the committer's batches together.
    innocent = [f"b-{uuid.uuid4().hex[:8]}-{n}" for n in range(3 * len(POISONS))]
    own = [f"m-{uuid.uuid4().hex[:8]}-{n}" for n in range(len(POISONS))]
    sends: list[Awaitable[None]] = []
    for n, poison in enumerate(POISONS):
        for client_id in innocent[3 * n : 3 * n + 3]:
            sends.append(
                b.send(type="send", room_id=other_room["id"], body=client_id, client_id=client_id)
            )
        sends.append(
            m.send(**{"type": "send", "room_id": own_room["id"], "ref": f"poison-{n}", **poison})
        )
        sends.append(m.send(type="send", room_id=own_room["id"], body=own[n], client_id=own[n]))
    await asyncio.gather(*sends)

    acks = await collect(b, len(innocent), ("ack", "error"))
    assert [frame for frame in acks if frame["type"] != "ack"] == []
    assert sorted(frame["client_id"] for frame in acks) == sorted(innocent)
    answers = await collect(m, 2 * len(POISONS), ("ack", "error"))
    errors = {f["ref"]: f for f in answers if f["type"] == "error"}
    assert sorted(errors) == [f"poison-{n}" for n in range(len(POISONS))], answers
    assert {f["code"] for f in errors.values()} == {"invalid_frame"}
    assert sorted(f["client_id"] for f in answers if f["type"] == "ack") == sorted(own)

    # Only the innocent messages were stored, in the order they were sent.
    stored = await history(api, bob, other_room["id"])
    assert [msg["body"] for msg in stored["messages"]] == innocent
    own_history = await history(api, mallory, own_room["id"])
    assert [msg["body"] for msg in own_history["messages"]] == own


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "subscribe", "room_id": 2**31},
        {"type": "subscribe", "room_id": 1, "since_seq": 2**63},
        {"type": "unsubscribe", "room_id": 2**31},
        {"type": "typing", "room_id": 2**31},
        {"type": "read", "room_id": 2**31, "seq": 1},
        {"type": "read", "room_id": 1, "seq": 2**63},
        {"type": "send", "room_id": 1, "body": "a\x00b", "client_id": "c"},
        {"type": "send", "room_id": 1, "body": "ok", "client_id": "\x00"},
        {"type": "auth", "token": "a\x00b"},
    ],
)
async def test_unstorable_frames_are_invalid(
    ws: Connect, users: UserFactory, frame: dict[str, Any]
) -> None:
    client = await ws(await users.create())
    await client.send(**frame, ref="r")
    error = await client.next("error")
    assert (error["code"], error["ref"]) == ("invalid_frame", "r"), error
    await client.send(type="ping", ref="still-there")
    assert await client.next("pong") == {"type": "pong", "ref": "still-there"}


async def test_a_room_socket_path_beyond_integer_is_refused(
    ws: Connect, users: UserFactory
) -> None:
    user = await users.create()
    for path, params in ((f"/rooms/{2**31}/ws", {}), ("/rooms/1/ws", {"since_seq": 2**63})):
        with pytest.raises(InvalidStatus) as refused:
            await ws(user, path=path, **params)
        assert refused.value.response.status_code == 403
