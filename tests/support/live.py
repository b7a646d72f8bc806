"""Fixtures for tests against the session's real server: imported by the conftest of each
directory that talks to it over the network (realtime, terminal, web)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.server import LiveServer
from tests.support.users import UserFactory


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the session server."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def users(api: httpx.AsyncClient) -> UserFactory:
    """Signs people up on the session server (instead of the in-process app)."""
    return UserFactory(api)
