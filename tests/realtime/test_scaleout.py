"""Several server processes, one PostgreSQL, fan-out through Redis."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.metrics import scrape
from tests.support.redis_server import PrivateRedis
from tests.support.rooms import add_member, create_room
from tests.support.server import LiveServer, ServerFactory, ServersFactory
from tests.support.users import TestUser, UserFactory
from tests.support.ws import WsClient

pytestmark = [pytest.mark.live, pytest.mark.postgres_only]


async def people_in_a_room(base_url: str, count: int) -> tuple[list[TestUser], int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        factory = UserFactory(api)
        people = [await factory.create() for _ in range(count)]
        room = await create_room(api, people[0])
        for person in people[1:]:
            await add_member(api, person, room["id"], person)
    return people, room["id"]


async def messages(client: WsClient, count: int, timeout: float = 30) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(timeout):
        while len(seqs) < count:
            frame = await client.recv(timeout=timeout)
            if frame["type"] == "message":
                seqs.append(frame["message"]["seq"])
    return seqs


async def acks(client: WsClient, count: int) -> list[int]:
    """The seqs of the next `count` acks (message frames on the way are passed over)."""
    seqs: list[int] = []
    while len(seqs) < count:
        frame = await client.recv()
        if frame["type"] == "ack":
            seqs.append(frame["message"]["seq"])
    return seqs


async def send_all(client: WsClient, room_id: int, count: int, tag: str) -> None:
    for i in range(count):
        await client.send(type="send", room_id=room_id, body=f"{tag}{i}", client_id=f"{tag}{i}")


@pytest.fixture
def pair_of_servers(make_servers: ServersFactory, redis_url: str) -> tuple[LiveServer, LiveServer]:
    a, b = make_servers(2, BROKER_URL=redis_url, PRESENCE_TTL_SECONDS="3")
    return a, b


@pytest.fixture
async def clients() -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    for client in opened:
        await client.close()


async def connect(opened: list[WsClient], server: LiveServer, user: TestUser) -> WsClient:
    client = await WsClient.connect(server.ws_url, user.access_token)
    opened.append(client)
    return client


async def one_on_each(
    opened: list[WsClient], a: LiveServer, b: LiveServer
) -> tuple[TestUser, TestUser, WsClient, WsClient, int]:
    """Xena on server A and Yuri on server B, both in one room; Xena subscribed first."""
    (xena, yuri), room_id = await people_in_a_room(a.base_url, 2)
    x = await connect(opened, a, xena)
    await x.subscribe(room_id)
    y = await connect(opened, b, yuri)
    return xena, yuri, x, y, room_id


async def test_messages_cross_processes_in_order(
    pair_of_servers: tuple[LiveServer, LiveServer], clients: list[WsClient]
) -> None:
    a, b = pair_of_servers
    people, room_id = await people_in_a_room(a.base_url, 4)
    on_a = [await connect(clients, a, p) for p in people[:2]]
    on_b = [await connect(clients, b, p) for p in people[2:]]
    for client in (*on_a, *on_b):
        await client.subscribe(room_id)
    readers = [asyncio.create_task(messages(c, 200)) for c in (*on_a, *on_b)]
    await asyncio.gather(send_all(on_a[0], room_id, 100, "a"), send_all(on_b[0], room_id, 100, "b"))
    for seqs in await asyncio.gather(*readers):
        assert seqs == list(range(1, 201))


async def test_presence_across_processes(
    pair_of_servers: tuple[LiveServer, LiveServer], clients: list[WsClient]
) -> None:
    a, b = pair_of_servers
    xena, yuri, x, y, room_id = await one_on_each(clients, a, b)
    subscribed = await y.subscribe(room_id)
    assert {u["id"] for u in subscribed["online"]} == {xena.id, yuri.id}
    online = await x.next("presence", skip=())
    assert (online["user"]["id"], online["status"]) == (yuri.id, "online")
    await y.close()
    offline = await x.next("presence", skip=())
    assert (offline["user"]["id"], offline["status"]) == (yuri.id, "offline")


async def test_resume_on_the_other_process(
    pair_of_servers: tuple[LiveServer, LiveServer], clients: list[WsClient]
) -> None:
    a, b = pair_of_servers
    (reader, writer), room_id = await people_in_a_room(a.base_url, 2)
    sender = await connect(clients, b, writer)
    first = await connect(clients, a, reader)
    await first.subscribe(room_id)
    await send_all(sender, room_id, 10, "x")
    assert await messages(first, 10) == list(range(1, 11))
    await first.close()
    await send_all(sender, room_id, 15, "y")
    again = await connect(clients, b, reader)
    await again.send(type="subscribe", room_id=room_id, since_seq=10)
    catching_up = asyncio.create_task(messages(again, 20))
    await asyncio.sleep(0.2)
    await send_all(sender, room_id, 5, "z")
    assert await catching_up == list(range(11, 31))


async def test_a_stopping_process_says_goodbye_at_once(
    make_servers: ServersFactory, redis_url: str, clients: list[WsClient]
) -> None:
    a, b = make_servers(2, BROKER_URL=redis_url, PRESENCE_TTL_SECONDS="60")
    xena, _yuri, x, y, room_id = await one_on_each(clients, a, b)
    await y.subscribe(room_id)
    # Graceful: clients get 1012, and the room hears that Xena left. From a thread, so that
    # this loop's clients echo the close (a blocked loop would hold the server's drain for
    # its whole WS_CLOSE_TIMEOUT_SECONDS).
    await asyncio.to_thread(a.stop)
    assert await x.closed() == 1012
    offline = await y.next("presence", skip=(), timeout=5)
    assert (offline["user"]["id"], offline["status"]) == (xena.id, "offline")


async def test_a_dead_process_does_not_leave_its_users_online(
    pair_of_servers: tuple[LiveServer, LiveServer], clients: list[WsClient]
) -> None:
    a, b = pair_of_servers
    xena, _yuri, _x, y, room_id = await one_on_each(clients, a, b)
    await y.subscribe(room_id)
    a.stop(signal.SIGKILL)  # no goodbye: its connections' presence simply stops refreshing
    offline = await y.next("presence", skip=(), timeout=15)
    assert (offline["user"]["id"], offline["status"]) == (xena.id, "offline")
    async with httpx.AsyncClient(base_url=b.base_url) as api:
        assert (await api.get("/readyz")).status_code == 200


async def test_redis_going_away_and_coming_back(
    make_servers: ServersFactory, clients: list[WsClient], tmp_path: Path
) -> None:
    own = PrivateRedis(tmp_path).start()
    try:
        a, b = make_servers(2, BROKER_URL=own.url)
        (alice, bob), room_id = await people_in_a_room(a.base_url, 2)
        on_a = await connect(clients, a, alice)
        on_b = await connect(clients, b, bob)
        await on_a.subscribe(room_id)
        await on_b.subscribe(room_id)
        await send_all(on_a, room_id, 1, "before")
        assert await acks(on_a, 1) == [1]
        assert await messages(on_b, 1) == [1]

        own.stop()
        async with httpx.AsyncClient(base_url=a.base_url) as api:
            for _ in range(50):
                ready = await api.get("/readyz")
                if ready.status_code == 503:
                    break
                await asyncio.sleep(0.1)
            assert ready.status_code == 503
            assert ready.json()["checks"]["broker"].startswith("unreachable")
            assert ready.json()["checks"]["database"] == "ok"
            down = await scrape(api)
            assert down.value("parley_broker_connected") == 0
            assert down.value("parley_broker_outages_total") == 1

        # Sends are still stored and acknowledged, and local subscribers still get them.
        await send_all(on_a, room_id, 5, "during")
        assert await acks(on_a, 5) == [2, 3, 4, 5, 6]
        await on_b.quiet(0.5)

        own.start()  # same port: the brokers reconnect by themselves
        # What process B's subscriber missed comes from the database, in order, once.
        assert await messages(on_b, 5, timeout=20) == [2, 3, 4, 5, 6]
        async with httpx.AsyncClient(base_url=b.base_url) as api:
            back = await scrape(api)
        assert back.value("parley_broker_connected") == 1
        assert back.value("parley_broker_outages_total") == 1
        assert back.value("parley_resyncs_total") == 1
        await send_all(on_a, room_id, 1, "after")
        assert await messages(on_b, 1) == [7]
        async with httpx.AsyncClient(base_url=a.base_url) as api:
            for _ in range(50):
                if (await api.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await api.get("/readyz")).status_code == 200
        for server in (a, b):
            logs = server.logs()
            assert len(re.findall("Redis broker unreachable", logs)) == 1, logs
            assert "Redis broker reconnected" in logs
    finally:
        own.stop()


async def test_several_workers_share_the_room(
    make_server: ServerFactory, redis_url: str, clients: list[WsClient]
) -> None:
    server = make_server(BROKER_URL=redis_url, _args=("--no-migrate", "--workers", "2"))
    people, room_id = await people_in_a_room(server.base_url, 16)
    connected = [await connect(clients, server, person) for person in people]
    for client in connected:
        await client.subscribe(room_id)
    readers = [asyncio.create_task(messages(c, 20)) for c in connected]
    await send_all(connected[0], room_id, 20, "w")
    for seqs in await asyncio.gather(*readers):
        assert seqs == list(range(1, 21))
    accepted = re.findall(r"\[(\d+)\] uvicorn\.error: [\d.:]+ - \"WebSocket /ws", server.logs())
    assert len(set(accepted)) == 2, "connections should have landed on both workers"
