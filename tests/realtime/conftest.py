"""Real WebSocket clients against real servers: timing and back-pressure as they really are."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.live import api, users  # noqa: F401 (shared fixtures)
from tests.support.server import LiveServer
from tests.support.users import TestUser
from tests.support.ws import WsClient


@pytest.fixture
async def ws(server: LiveServer) -> AsyncIterator[Callable[..., Awaitable[WsClient]]]:
    """Open WebSocket clients to the session server as a user (closed after the test)."""
    opened: list[WsClient] = []

    async def open_client(user: TestUser | str | None, **kwargs: object) -> WsClient:
        token = user.access_token if isinstance(user, TestUser) else user
        base = str(kwargs.pop("base", server.ws_url))
        client = await WsClient.connect(base, token, **kwargs)  # type: ignore[arg-type]
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()
