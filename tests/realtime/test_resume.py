"""Resume with since_seq: exactly what was missed, even while others keep sending."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.support.rooms import add_member, create_room, history
from tests.support.server import ServerFactory
from tests.support.users import TestUser, UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live

Connect = Callable[..., Awaitable[WsClient]]


async def send_many(
    client: WsClient, room_id: int, count: int, prefix: str, *, pause: float = 0.0
) -> list[int]:
    """Send `count` messages (`pause` apart, or pipelined), then collect the acked seqs."""
    for i in range(count):
        await client.send(
            type="send", room_id=room_id, body=f"{prefix}{i}", client_id=f"{prefix}{i}"
        )
        if pause:
            await asyncio.sleep(pause)
    seqs = []
    while len(seqs) < count:
        frame = await client.recv(timeout=20)
        if frame["type"] == "ack":
            seqs.append(frame["message"]["seq"])
        else:
            assert frame["type"] in ("message", "presence"), frame
    return seqs


async def collect_until(
    client: WsClient, last_seq: int, *, subscribing: bool = False, timeout: float = 30
) -> tuple[list[int], dict]:
    """Every message seq until `last_seq` arrives (and, if `subscribing`, `subscribed`)."""
    seqs: list[int] = []
    subscribed: dict = {}
    async with asyncio.timeout(timeout):
        while not seqs or seqs[-1] < last_seq or (subscribing and not subscribed):
            frame = await client.recv(timeout=timeout)
            if frame["type"] == "message":
                seqs.append(frame["message"]["seq"])
            elif frame["type"] == "subscribed":
                subscribed = frame
    return seqs, subscribed


@pytest.fixture
async def crowd(api: httpx.AsyncClient, users: UserFactory) -> tuple[list[TestUser], int]:
    people = [await users.create() for _ in range(4)]
    room = await create_room(api, people[0])
    for person in people[1:]:
        await add_member(api, person, room["id"], person)
    return people, room["id"]


async def test_resume_while_others_send_loses_and_repeats_nothing(
    ws: Connect, crowd: tuple[list[TestUser], int]
) -> None:
    (reader, *senders), room_id = crowd
    seeder = await ws(senders[0])
    assert await send_many(seeder, room_id, 600, "old") == list(range(1, 601))

    writers = [await ws(person) for person in senders]
    resuming = await ws(reader)
    live = [
        asyncio.create_task(send_many(w, room_id, 60, f"new{n}-", pause=0.01))
        for n, w in enumerate(writers)
    ]
    await asyncio.sleep(0.05)  # the senders are under way while the replay is read and sent
    await resuming.send(type="subscribe", room_id=room_id, since_seq=0)
    seqs, subscribed = await collect_until(resuming, 600 + 60 * len(writers), subscribing=True)
    await asyncio.gather(*live)

    assert seqs == list(range(1, 600 + 60 * len(writers) + 1))
    assert subscribed["complete"] is True
    assert subscribed["replayed"] == subscribed["last_seq"]
    # The snapshot fell while the others were sending: some came by replay, some live.
    assert 600 < subscribed["last_seq"] < 600 + 60 * len(writers)
    await resuming.quiet(0.3)


async def test_reconnect_resumes_where_the_client_left(
    ws: Connect, crowd: tuple[list[TestUser], int], api: httpx.AsyncClient
) -> None:
    (reader, writer, *_), room_id = crowd
    w = await ws(writer)
    first = await ws(reader)
    await first.subscribe(room_id)
    await send_many(w, room_id, 10, "before")
    seen, _ = await collect_until(first, 10)
    await first.close()

    await send_many(w, room_id, 25, "while-away")
    again = await ws(reader)
    await again.send(type="subscribe", room_id=room_id, since_seq=seen[-1])
    catch_up = asyncio.create_task(collect_until(again, 45, subscribing=True))
    await send_many(w, room_id, 10, "after")
    seqs, subscribed = await catch_up
    assert seen + seqs == list(range(1, 46))
    assert subscribed["replayed"] >= 25
    # Tombstones are replayed too, so the client's seq has no holes.
    assert (await history(api, reader, room_id, after_seq=0, limit=200))["messages"][-1][
        "seq"
    ] == 45


async def test_replay_limit_says_incomplete_and_rest_comes_from_rest(
    shared_server: ServerFactory, users: UserFactory
) -> None:
    server = shared_server(REPLAY_LIMIT="5")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        alice = await UserFactory(api).create()
        room = await create_room(api, alice)
        client = await WsClient.connect(server.ws_url, alice.access_token)
        await send_many(client, room["id"], 12, "m")
        await client.send(type="subscribe", room_id=room["id"], since_seq=2)
        replayed = [(await client.next("message"))["message"]["seq"] for _ in range(5)]
        subscribed = await client.next("subscribed")
        assert replayed == [3, 4, 5, 6, 7]
        assert (subscribed["replayed"], subscribed["complete"], subscribed["last_seq"]) == (
            5,
            False,
            12,
        )
        rest = await history(api, alice, room["id"], after_seq=7)
        assert [m["seq"] for m in rest["messages"]] == [8, 9, 10, 11, 12]
        await client.send(type="send", room_id=room["id"], body="live", client_id="live")
        assert (await client.next("message", skip=("ack",)))["message"]["seq"] == 13
        await client.close()


async def test_since_seq_beyond_the_end_replays_nothing(
    ws: Connect, crowd: tuple[list[TestUser], int]
) -> None:
    (reader, writer, *_), room_id = crowd
    await send_many(await ws(writer), room_id, 3, "x")
    client = await ws(reader)
    subscribed = await client.subscribe(room_id, since_seq=99)
    assert (subscribed["replayed"], subscribed["complete"], subscribed["last_seq"]) == (0, True, 3)
