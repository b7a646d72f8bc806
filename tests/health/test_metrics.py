"""`GET /metrics`: Prometheus text, guarded by METRICS_ENABLED / METRICS_TOKEN, and values
that move as people use the service, in one process and summed over several workers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.database import Database
from app.main import create_app
from tests.conftest import make_settings
from tests.support.metrics import Scrape, scrape
from tests.support.rooms import add_member, create_room, send
from tests.support.server import LiveServer, ServerFactory
from tests.support.users import UserFactory
from tests.support.ws import WsClient

METRICS_TOKEN = "metrics-token-0123456789"


@pytest.fixture
async def guarded(
    database_url: str, tmp_path: Path, connection: AsyncConnection
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, tmp_path, metrics_token=METRICS_TOKEN)
    app = create_app(settings, database=Database.bound_to(connection))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
            yield http


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    scraped = await scrape(client)
    for name in (
        "parley_websocket_connections",
        "parley_subscriptions",
        "parley_messages_stored_total",
        "parley_commit_batch_size_bucket",
        "parley_send_ack_seconds_bucket",
        "parley_commit_delivered_seconds_count",
        "parley_frames_sent_total",
        "parley_slow_consumer_closes_total",
        "parley_replays_total",
        "parley_resyncs_total",
        "parley_broker_outages_total",
    ):
        assert name in scraped.names, name
    assert scraped.value("parley_broker_connected") == 1


async def test_a_token_guards_the_metrics(guarded: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        refused = await guarded.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "detail" in refused.json()
    await scrape(guarded, Authorization=f"Bearer {METRICS_TOKEN}")


async def test_metrics_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, metrics_enabled=False)
    app: FastAPI = create_app(settings, database=Database.from_url(database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/metrics")
    assert response.status_code == 404
    assert "detail" in response.json()


async def test_requests_are_counted_by_route_template(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    labels = {"method": "POST", "route": "/rooms/{room_id}/messages", "status": "201"}
    missing = {"method": "GET", "route": "/rooms/{room_id}", "status": "404"}
    before = await scrape(client)
    await send(client, owner, room["id"], "hello")
    await send(client, owner, room["id"], "again")
    assert (await client.get("/rooms/987654321", headers=owner.headers)).status_code == 404
    assert (await client.get("/no/such/page")).status_code == 404
    after = await scrape(client)
    requests = "parley_http_requests_total"
    assert after.value(requests, labels) - before.value(requests, labels) == 2
    assert after.value(requests, missing) - before.value(requests, missing) == 1
    unmatched = {"route": "unmatched", "status": "404"}
    assert after.value(requests, unmatched) - before.value(requests, unmatched) == 1
    stored = "parley_messages_stored_total"
    assert after.value(stored) - before.value(stored) == 2
    # One label value per route, never per room or per unknown path.
    assert "987654321" not in after.text
    assert "/no/such/page" not in after.text
    timed = {"method": "POST", "route": "/rooms/{room_id}/messages"}
    durations = "parley_http_request_duration_seconds_count"
    assert after.value(durations, timed) - before.value(durations, timed) == 2


async def until(check: object, server: LiveServer, timeout: float = 10) -> Scrape:
    """Scrape until `check(scrape)` holds (other workers flush their counts every second)."""
    assert callable(check)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            scraped = await scrape(http)
            if check(scraped) or asyncio.get_running_loop().time() > deadline:
                return scraped
            await asyncio.sleep(0.2)


@pytest.mark.live
async def test_values_move_as_messages_flow(make_server: ServerFactory) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        factory = UserFactory(api)
        alice, bob = await factory.create(), await factory.create()
        room_id = (await create_room(api, alice))["id"]
        await add_member(api, bob, room_id, bob)
        start = await scrape(api)
    a = await WsClient.connect(server.ws_url, alice.access_token)
    b = await WsClient.connect(server.ws_url, bob.access_token)
    try:
        await a.subscribe(room_id)
        await b.subscribe(room_id)
        for i in range(5):
            await a.send(type="send", room_id=room_id, body=f"m{i}", client_id=f"c{i}")
        for _ in range(5):
            await a.next("ack", skip=("presence", "message"))
            await b.next("message")
        live = await until(lambda s: s.value("parley_frames_sent_total") >= 19, server)
        assert live.value("parley_websocket_connections") == 2
        assert live.value("parley_subscriptions") == 2
        assert (
            live.value("parley_messages_stored_total") - start.value("parley_messages_stored_total")
            == 5
        )
        assert live.value("parley_send_ack_seconds_count") == 5
        assert live.value("parley_commit_batch_size_sum") == 5
        assert 1 <= live.value("parley_commit_batch_size_count") <= 5
        assert live.value("parley_commit_delivered_seconds_count") >= 1
        # hello, subscribed, 5 acks and 5 messages each for Alice; hello, subscribed, 5 for Bob
        assert live.value("parley_frames_sent_total") >= 19

        await b.close()
        b = await WsClient.connect(server.ws_url, bob.access_token)
        await b.subscribe(room_id, since_seq=2)
        resumed = await until(lambda s: s.value("parley_replays_total") >= 1, server)
        assert resumed.value("parley_replays_total") == 1
        assert resumed.value("parley_replayed_messages_total") == 3
        assert resumed.value("parley_incomplete_replays_total") == 0
    finally:
        await a.close()
        await b.close()
    idle = await until(lambda s: s.value("parley_websocket_connections") == 0, server)
    assert idle.value("parley_websocket_connections") == 0
    assert idle.value("parley_subscriptions") == 0


def per_process(directory: Path, metric: str) -> dict[str, float]:
    """Each worker's own value of `metric`, read from its files as the collector does."""
    found: dict[str, float] = {}
    for path in directory.glob("*.db"):
        pid = re.sub(r"\D", "", path.stem.rsplit("_", 1)[-1])
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if key.startswith(f'["{metric}"'):
                found[pid] = found.get(pid, 0.0) + value
    return found


async def both_workers_started(server: LiveServer, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while server.logs().count("Application startup complete") < 2:
        assert asyncio.get_running_loop().time() < deadline, server.logs()
        await asyncio.sleep(0.1)


@pytest.mark.live
@pytest.mark.postgres_only
async def test_two_workers_report_one_view(
    make_server: ServerFactory, redis_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "prometheus"
    server = make_server(
        ("--no-migrate", "--workers", "2"),
        BROKER_URL=redis_url,
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        WS_MAX_CONNECTIONS_PER_USER="100",  # one user opens up to 40 sockets here
    )
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        owner = await UserFactory(api).create()
        room_id = (await create_room(api, owner))["id"]
    # The server answers once one worker is up. Connecting before the second one serves only
    # piles connections on the first (and every message goes to every connection).
    await both_workers_started(server)
    clients: list[WsClient] = []
    try:
        # Connect until both workers hold some of the connections (the kernel decides).
        while (
            len(per_process(directory, "parley_websocket_connections")) < 2
            or min(per_process(directory, "parley_websocket_connections").values()) < 1
        ):
            assert len(clients) < 40, "every connection landed on one worker"
            batch = await asyncio.gather(
                *(WsClient.connect(server.ws_url, owner.access_token) for _ in range(4))
            )
            clients.extend(batch)
        for client in clients:
            await client.subscribe(room_id)
        for i, client in enumerate(clients):
            await client.send(type="send", room_id=room_id, body=f"m{i}", client_id=f"w{i}")
        for client in clients:
            await client.next("ack", skip=("presence", "message"), timeout=10)
        count = len(clients)

        def settled(s: Scrape) -> bool:
            return s.value("parley_messages_stored_total") == count

        await until(settled, server)
        stored_by_worker = per_process(directory, "parley_messages_stored")
        assert len(stored_by_worker) == 2
        assert min(stored_by_worker.values()) >= 1  # both workers stored some
        # A fresh connection per scrape, so the scrapes are answered by both workers.
        scrapes = []
        for _ in range(8):
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as fresh:
                scrapes.append(await scrape(fresh))
        for scraped in scrapes:
            assert scraped.value("parley_websocket_connections") == count
            assert scraped.value("parley_subscriptions") == count
            assert scraped.value("parley_messages_stored_total") == count
            assert scraped.value("parley_send_ack_seconds_count") == count
            assert scraped.value("parley_broker_connected") == 1
    finally:
        for client in clients:
            await client.close()
