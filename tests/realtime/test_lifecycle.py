"""How connections end: expiry, logout, shutdown, oversized frames, rate limits."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from jose import jwt
from sqlalchemy.engine import make_url

from app.core.security import create_access_token
from tests.conftest import TEST_SECRET_KEY
from tests.support.rooms import create_room
from tests.support.server import LiveServer, ServerFactory, server_environment
from tests.support.users import UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live

Connect = Callable[..., Awaitable[WsClient]]


async def test_expired_token_closes_with_4401(shared_server: ServerFactory) -> None:
    server = shared_server(ACCESS_TOKEN_TTL_SECONDS="2")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        user = await UserFactory(api).create()
    client = await WsClient.connect(server.ws_url, user.access_token)
    assert await client.closed(timeout=10) == 4401


async def test_a_fresh_token_keeps_the_connection_open(shared_server: ServerFactory) -> None:
    server = shared_server(ACCESS_TOKEN_TTL_SECONDS="2")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        user = await UserFactory(api).create()
    client = await WsClient.connect(server.ws_url, user.access_token)
    # A token for the same session that lives longer than the server would issue.
    session_id = jwt.get_unverified_claims(user.access_token)["sid"]
    fresh, _ = create_access_token(
        user_id=user.id, session_id=session_id, ttl_seconds=60, key=TEST_SECRET_KEY
    )
    await client.send(type="auth", token=fresh)
    assert (await client.recv())["type"] == "authenticated"
    await asyncio.sleep(3)  # past the first token's expiry
    await client.send(type="ping")
    assert await client.recv() == {"type": "pong"}
    await client.close()


async def test_logout_closes_the_sessions_sockets(
    ws: Connect, users: UserFactory, api: httpx.AsyncClient
) -> None:
    alice = await users.create()
    other_session = await users.login(alice.username)
    first = await ws(alice)
    second = await ws(alice)
    elsewhere = await ws(str(other_session["access_token"]))
    response = await api.post(
        "/auth/logout", json={"refresh_token": alice.refresh_token}, headers=alice.headers
    )
    assert response.status_code == 204
    assert await first.closed() == 4401
    assert await second.closed() == 4401
    await elsewhere.send(type="ping")
    assert await elsewhere.recv() == {"type": "pong"}


async def test_refresh_token_reuse_closes_the_sessions_sockets(
    ws: Connect, users: UserFactory, api: httpx.AsyncClient
) -> None:
    alice = await users.create()
    client = await ws(alice)
    await api.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    reuse = await api.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert reuse.status_code == 401
    assert await client.closed() == 4401


async def test_shutdown_closes_with_1012(make_server: ServerFactory) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        user = await UserFactory(api).create()
        room = await create_room(api, user)
    client = await WsClient.connect(server.ws_url, user.access_token)
    await client.subscribe(room["id"])
    server.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    assert await client.closed() == 1012
    server.stop()
    assert "Application shutdown complete" in server.logs()


async def test_frames_over_64_kib_close_with_1009(ws: Connect, users: UserFactory) -> None:
    user = await users.create()
    client = await ws(user)
    # Exactly 64 KiB is still fine.
    head = '{"type":"ping","ref":"fits","pad":"'
    exact = head + "x" * (64 * 1024 - len(head) - 2) + '"}'
    assert len(exact.encode()) == 64 * 1024
    await client.send_raw(exact)
    assert await client.recv() == {"type": "pong", "ref": "fits"}
    await client.send_raw(exact[:-2] + 'x"}')
    assert await client.closed() == 1009


async def test_plain_uvicorn_closes_an_oversized_frame_with_1009(
    live_database: str, tmp_path: Path
) -> None:
    """Plain uvicorn lets frames up to 16 MiB reach the app: the app's own 1009 must go out
    before the ASGI app returns (it used to end as 1006, no close frame)."""
    env = server_environment(live_database, tmp_path)
    with LiveServer(env=env, cwd=tmp_path, plain_uvicorn=True) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as api:
            user = await UserFactory(api).create()
        for _ in range(3):
            client = await WsClient.connect(server.ws_url, user.access_token)
            await client.send_raw('{"type":"ping","pad":"' + "x" * 80 * 1024 + '"}')
            assert await client.closed() == 1009
    assert "Traceback" not in server.logs()


async def test_a_frame_flood_is_rate_limited(make_server: ServerFactory) -> None:
    server = make_server(WS_FRAMES_PER_SECOND="1", WS_FRAMES_BURST="3")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        user = await UserFactory(api).create()
    client = await WsClient.connect(server.ws_url, user.access_token)
    for i in range(4):
        await client.send(type="ping", ref=i)
    replies = [await client.recv() for _ in range(4)]
    assert [r["type"] for r in replies] == ["pong", "pong", "pong", "error"]
    assert (replies[3]["code"], replies[3]["ref"]) == ("rate_limited", 3)
    await asyncio.sleep(replies[3]["retry_after"] + 0.05)
    await client.send(type="ping", ref="later")
    assert await client.recv() == {"type": "pong", "ref": "later"}
    await client.close()


async def test_sending_too_fast_is_rate_limited(make_server: ServerFactory) -> None:
    server = make_server(MESSAGES_PER_SECOND="1", MESSAGES_BURST="2")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        user = await UserFactory(api).create()
        room = await create_room(api, user)
    client = await WsClient.connect(server.ws_url, user.access_token)
    for i in range(3):
        await client.send(type="send", room_id=room["id"], body="spam", client_id=f"s{i}", ref=i)
    frames = [await client.recv() for _ in range(3)]
    limited = [f for f in frames if f["type"] == "error"]
    assert [f["type"] for f in frames].count("ack") == 2
    assert len(limited) == 1
    assert limited[0]["code"] == "rate_limited"
    assert limited[0]["ref"] == 2
    assert 0 < limited[0]["retry_after"] <= 1
    await asyncio.sleep(limited[0]["retry_after"] + 0.05)
    await client.send(type="send", room_id=room["id"], body="patient", client_id="later")
    assert (await client.recv())["type"] == "ack"
    await client.close()


@pytest.mark.postgres_only
async def test_a_database_blip_refuses_one_frame_and_keeps_the_connection(
    make_server: ServerFactory, live_database: str
) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        user = await UserFactory(api).create()
        room = await create_room(api, user)
    client = await WsClient.connect(server.ws_url, user.access_token)
    database = make_url(live_database).database
    admin = await asyncpg.connect(
        make_url(live_database)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        await client.send(type="subscribe", room_id=room["id"], ref="during")
        refused = await client.next("error")
        assert (refused["code"], refused["ref"]) == ("unavailable", "during")
        await client.send(type="ping", ref="alive")
        assert await client.next("pong") == {"type": "pong", "ref": "alive"}
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
    subscribed = await client.subscribe(room["id"])
    assert subscribed["room_id"] == room["id"]
    await client.close()
