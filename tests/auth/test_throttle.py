"""Signup and login limits, in process: per address, per username, known addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.conftest import make_settings
from tests.support.users import PASSWORD, UserFactory

Peer = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        tmp_path / "data",
        login_attempts_per_minute=3,
        login_failures_per_username_per_hour=5,
        signups_per_address_per_hour=2,
    )


@pytest.fixture
def peer(app: FastAPI) -> Peer:
    """A client that connects from the given address."""

    @asynccontextmanager
    async def connect(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
            yield http

    return connect


async def login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/auth/login", data={"username": username, "password": password})


async def test_signups_are_limited_per_address(peer: Peer) -> None:
    async with peer("10.0.0.1") as first, peer("10.0.0.2") as second:
        codes = [
            (
                await first.post("/auth/signup", json={"username": f"su{i}", "password": PASSWORD})
            ).status_code
            for i in range(3)
        ]
        assert codes == [201, 201, 429]
        refused = await first.post("/auth/signup", json={"username": "su9", "password": PASSWORD})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "detail" in refused.json()
        # Another address has its own budget.
        other = await second.post("/auth/signup", json={"username": "su3", "password": PASSWORD})
        assert other.status_code == 201


async def test_login_failures_are_limited_per_address_across_usernames(
    peer: Peer, users: UserFactory
) -> None:
    await users.create("judy")
    async with peer("10.0.1.1") as attacker, peer("10.0.1.2") as judy:
        codes = [(await login(attacker, f"victim{i}", "wrong-pass")).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]
        # Even the right password is refused from that address now: no oracle.
        assert (await login(attacker, "judy", PASSWORD)).status_code == 429
        # Judy's own address is not affected.
        assert (await login(judy, "judy", PASSWORD)).status_code == 200


async def test_login_failures_are_limited_per_username_across_addresses(
    peer: Peer, users: UserFactory
) -> None:
    await users.create("kate")
    codes = []
    for i in range(7):
        # A fresh address every time: the per-address budget (3) never runs out.
        async with peer(f"10.0.2.{i + 1}") as attacker:
            codes.append((await login(attacker, "kate", "wrong-pass")).status_code)
    assert codes == [401] * 5 + [429] * 2
    async with peer("10.0.2.99") as stranger:
        refused = await login(stranger, "kate", PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # Other accounts are not affected.
        assert (await login(stranger, "nobody-else", "wrong-pass")).status_code == 401


async def test_an_address_that_logged_in_before_is_not_locked_out_by_strangers(
    peer: Peer, users: UserFactory
) -> None:
    await users.create("liam")
    async with peer("10.0.3.1") as home:
        assert (await login(home, "liam", PASSWORD)).status_code == 200
    for i in range(6):
        async with peer(f"10.0.3.{i + 10}") as attacker:
            await login(attacker, "liam", "wrong-pass")
    async with peer("10.0.3.1") as home:
        assert (await login(home, "liam", PASSWORD)).status_code == 200
        # A typo from home still counts against the address budget, not a lock-out.
        assert (await login(home, "liam", "wrong-pass")).status_code == 401


async def test_successful_logins_spend_nothing(peer: Peer, users: UserFactory) -> None:
    await users.create("mona")
    async with peer("10.0.4.1") as http:
        codes = [(await login(http, "mona", PASSWORD)).status_code for _ in range(6)]
    assert codes == [200] * 6
