"""Setting up users and rooms over Parley's REST API, many requests at a time."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import httpx

PASSWORD = "benchmark-password"
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BenchUser:
    id: int
    username: str
    token: str


class Api:
    """A client for set-up calls; `concurrency` requests in flight at once."""

    def __init__(self, base_url: str, *, concurrency: int = 16) -> None:
        self.base_url = base_url
        self.concurrency = concurrency
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=60,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    async def _each(self, items: Iterable[T], call: Callable[[T], Awaitable[R]]) -> list[R]:
        semaphore = asyncio.Semaphore(self.concurrency)

        async def bounded(item: T) -> R:
            async with semaphore:
                return await call(item)

        return list(await asyncio.gather(*(bounded(item) for item in items)))

    async def create_users(self, count: int, *, prefix: str | None = None) -> list[BenchUser]:
        """Sign up and log in `count` new users (`<prefix>_<n>`)."""
        prefix = prefix or f"b{secrets.token_hex(3)}"
        return await self._each((f"{prefix}_{n}" for n in range(count)), self._signup_and_login)

    async def _signup_and_login(self, username: str) -> BenchUser:
        signup = await self._http.post(
            "/auth/signup", json={"username": username, "password": PASSWORD}
        )
        if signup.status_code != 201:
            raise RuntimeError(f"signup {username}: {signup.status_code} {signup.text}")
        login = await self._http.post(
            "/auth/login", data={"username": username, "password": PASSWORD}
        )
        if login.status_code != 200:
            raise RuntimeError(f"login {username}: {login.status_code} {login.text}")
        return BenchUser(signup.json()["id"], username, login.json()["access_token"])

    async def create_room(self, owner: BenchUser, name: str) -> int:
        response = await self._http.post("/rooms", json={"name": name}, headers=_bearer(owner))
        if response.status_code != 201:
            raise RuntimeError(f"create room {name}: {response.status_code} {response.text}")
        return int(response.json()["id"])

    async def join(self, room_id: int, members: Sequence[BenchUser]) -> None:
        async def join_one(user: BenchUser) -> None:
            response = await self._http.put(
                f"/rooms/{room_id}/members/{user.id}", json={}, headers=_bearer(user)
            )
            if response.status_code not in (200, 201):
                raise RuntimeError(
                    f"join room {room_id} as {user.username}: "
                    f"{response.status_code} {response.text}"
                )

        await self._each(members, join_one)

    async def room_with(self, members: Sequence[BenchUser], name: str) -> int:
        """A public room owned by the first member, joined by all the others."""
        room_id = await self.create_room(members[0], name)
        await self.join(room_id, members[1:])
        return room_id


def _bearer(user: BenchUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}
