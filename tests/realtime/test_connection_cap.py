"""One user cannot hold more than WS_MAX_CONNECTIONS_PER_USER sockets in a process."""

from __future__ import annotations

import asyncio

import httpx
from websockets.exceptions import ConnectionClosed

from tests.support.server import ServerFactory
from tests.support.users import UserFactory
from tests.support.ws import WsClient


async def test_connections_over_the_cap_close_with_4429(make_server: ServerFactory) -> None:
    server = make_server(WS_MAX_CONNECTIONS_PER_USER="3")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        user = await UserFactory(api).create()
        other = await UserFactory(api).create()
    opened = [await WsClient.connect(server.ws_url, user.access_token) for _ in range(3)]
    refused = await WsClient.connect(server.ws_url, user.access_token, expect_hello=False)
    assert await refused.closed() == 4429
    assert "too many connections" in (refused.ws.close_reason or "")
    # The earlier connections are untouched, and other users are not limited by this one.
    for i, client in enumerate(opened):
        await client.send(type="ping", ref=i)
        assert await client.recv() == {"type": "pong", "ref": i}
    bystander = await WsClient.connect(server.ws_url, other.access_token)
    await bystander.close()
    # Closing one frees its place.
    await opened.pop().close()
    for _ in range(50):  # the server notices the close a moment later
        again = await WsClient.connect(server.ws_url, user.access_token, expect_hello=False)
        try:
            first = await again.recv()
        except ConnectionClosed:
            assert again.ws.close_code == 4429
            await asyncio.sleep(0.1)
            continue
        assert first["type"] == "hello"
        opened.append(again)
        break
    else:
        raise AssertionError("the freed place was never given back")
    for client in opened:
        await client.close()
