"""SIGTERM is a drain: every send the database holds afterwards was acknowledged."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from app.core.database import create_engine
from tests.support.rooms import add_member, create_room
from tests.support.server import LiveServer, ServerFactory, server_environment
from tests.support.users import TestUser, UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live

ROUNDS = 3
CLIENTS = 4
WINDOW = 64  # sends in flight per client


async def _sender(client: WsClient, room_id: int, tag: str) -> tuple[set[str], int | None]:
    """Keep WINDOW sends in flight until the server closes; the client_ids that were acked."""
    acked: set[str] = set()
    window = asyncio.Semaphore(WINDOW)

    async def read() -> None:
        try:
            while True:
                frame = orjson.loads(await client.ws.recv())
                if frame["type"] == "ack":
                    acked.add(frame["client_id"])
                    window.release()
                elif frame["type"] == "error":
                    assert frame["code"] == "unavailable", frame
                    window.release()
        except ConnectionClosed:
            pass

    async def write() -> None:
        number = 0
        try:
            while True:
                await window.acquire()
                await client.send(
                    type="send",
                    room_id=room_id,
                    body=f"{tag} {number}",
                    client_id=f"{tag}-{number}",
                )
                number += 1
        except ConnectionClosed:
            pass

    writer = asyncio.create_task(write())
    try:
        await asyncio.wait_for(read(), 20)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    return acked, client.ws.close_code


async def _stored_client_ids(database_url: str, prefix: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT client_id FROM messages WHERE client_id LIKE :prefix"),
                {"prefix": f"{prefix}%"},
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_sigterm_acks_every_committed_send_then_closes_1012(
    make_server: ServerFactory, live_database: str, round_: int
) -> None:
    server = make_server(SHUTDOWN_DRAIN_SECONDS="5")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        people: list[TestUser] = [await UserFactory(api).create() for _ in range(CLIENTS)]
        room = await create_room(api, people[0])
        for person in people[1:]:
            await add_member(api, people[0], room["id"], person)
    clients = [await WsClient.connect(server.ws_url, p.access_token) for p in people]
    for client in clients:
        await client.subscribe(room["id"])
    prefix = f"drain-{room['id']}-"
    senders = [
        asyncio.create_task(_sender(client, room["id"], f"{prefix}{i}"))
        for i, client in enumerate(clients)
    ]
    await asyncio.sleep(0.4 + 0.2 * round_)  # mid-stream, at a different point each round
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    results = await asyncio.gather(*senders)
    server.stop()
    assert "Application shutdown complete" in server.logs()
    assert [code for _, code in results] == [1012] * CLIENTS, server.logs()
    acked = set().union(*(ids for ids, _ in results))
    stored = await _stored_client_ids(live_database, prefix)
    assert stored, "the test must send while the server shuts down"
    assert stored - acked == set(), f"{len(stored - acked)} of {len(stored)} stored sends unacked"
    assert acked <= stored


async def test_plain_uvicorn_still_closes_1012_and_shuts_down_cleanly(
    live_database: str, tmp_path: Path
) -> None:
    """The fallback: uvicorn closes the sockets itself, the lifespan's stop() drains the
    committer and returns promptly."""
    env = server_environment(live_database, tmp_path)
    server = LiveServer(env=env, cwd=tmp_path, plain_uvicorn=True).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as api:
            user = await UserFactory(api).create()
            room = await create_room(api, user)
        client = await WsClient.connect(server.ws_url, user.access_token)
        await client.subscribe(room["id"])
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert await client.closed() == 1012
        server.process.wait(15)
    finally:
        server.stop()
    logs = server.logs()
    assert "Application shutdown complete" in logs
    assert "Traceback" not in logs
