"""Accounts and rooms for the client's end-to-end tests, made through the client itself."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from app.client import ParleyClient

PASSWORD = "correct horse battery"
_counter = itertools.count(1)

Login = Callable[[str], Awaitable[ParleyClient]]


def unique(prefix: str) -> str:
    """Names are unique across the run: the live database is shared and never emptied."""
    return f"{prefix}{next(_counter)}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def new_client() -> AsyncIterator[Callable[..., Awaitable[ParleyClient]]]:
    """`await new_client(base_url)`: a fresh user, signed up and logged in."""
    made: list[ParleyClient] = []

    async def make(base_url: str, *, refresh_margin: float = 30.0) -> ParleyClient:
        client = ParleyClient(base_url, refresh_margin=refresh_margin)
        made.append(client)
        name = unique("u")
        await client.signup(name, PASSWORD)
        await client.login(name, PASSWORD)
        return client

    yield make
    for client in made:
        await client.aclose()
