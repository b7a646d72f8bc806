"""Many writers, and a reader who stops reading: order, exactly-once, nobody held up."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.support.metrics import scrape
from tests.support.rooms import add_member, create_room
from tests.support.server import LiveServer, ServerFactory
from tests.support.users import UserFactory
from tests.support.ws import StalledClient, WsClient

pytestmark = pytest.mark.live


async def read_messages(
    client: WsClient, room_id: int, count: int, timeout: float = 60
) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(timeout):
        while len(seqs) < count:
            frame = await client.recv(timeout=timeout)
            if frame["type"] == "message" and frame["message"]["room_id"] == room_id:
                seqs.append(frame["message"]["seq"])
    return seqs


async def test_ten_clients_fifty_sends_each(server: LiveServer, api: httpx.AsyncClient) -> None:
    """Every subscriber sees 500 messages, seq 1..500, exactly once, in order."""
    factory = UserFactory(api)
    people = [await factory.create() for _ in range(10)]
    room = await create_room(api, people[0])
    for person in people[1:]:
        await add_member(api, person, room["id"], person)
    clients = [await WsClient.connect(server.ws_url, p.access_token) for p in people]
    for client in clients:
        await client.subscribe(room["id"])

    async def send_fifty(n: int, client: WsClient) -> None:
        for i in range(50):
            await client.send(
                type="send", room_id=room["id"], body=f"{n}:{i}", client_id=f"{n}-{i}"
            )

    readers = [asyncio.create_task(read_messages(c, room["id"], 500)) for c in clients]
    await asyncio.gather(*(send_fifty(n, c) for n, c in enumerate(clients)))
    for seqs in await asyncio.gather(*readers):
        assert seqs == list(range(1, 501))
    for client in clients:
        await client.close()


async def test_a_stalled_reader_delays_nobody_and_is_cut_off(make_server: ServerFactory) -> None:
    server = make_server(
        WS_SEND_QUEUE_SIZE="400", COMMIT_BATCH_SIZE="100", WS_CLOSE_TIMEOUT_SECONDS="30"
    )
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        factory = UserFactory(api)
        sender, healthy, sleepy = [await factory.create() for _ in range(3)]
        room = await create_room(api, sender)
        for person in (healthy, sleepy):
            await add_member(api, person, room["id"], person)
    stalled = await StalledClient.connect(server.ws_url, sleepy.access_token, room["id"])
    reader = await WsClient.connect(server.ws_url, healthy.access_token)
    await reader.subscribe(room["id"])
    writer = await WsClient.connect(server.ws_url, sender.access_token)

    total, body = 2000, "x" * 3900  # ~8 MB: more than every buffer between server and client

    async def read_acks() -> None:
        for _ in range(total):
            assert (await writer.recv(timeout=60))["type"] == "ack"

    receiving = asyncio.create_task(read_messages(reader, room["id"], total))
    acks = asyncio.create_task(read_acks())
    for i in range(total):
        await writer.send(type="send", room_id=room["id"], body=body, client_id=f"b{i}")
    await acks
    # The healthy reader gets everything, in order, while the other one reads nothing at all.
    assert await receiving == list(range(1, total + 1))
    assert "too slow: closing 1013" in server.logs()

    # When the sleeper finally reads, it finds what was already on its way, then 1013.
    frames, code = await stalled.read_to_the_end()
    stalled.close()
    received = [f["message"]["seq"] for f in frames if f["type"] == "message"]
    assert code == 1013
    assert received == list(range(1, len(received) + 1))  # in order up to where it was cut
    assert 0 < len(received) < total
    assert re.search(r"connection \w+ of user \d+ is too slow", server.logs())
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        assert (await scrape(api)).value("parley_slow_consumer_closes_total") == 1
    await reader.close()
    await writer.close()
