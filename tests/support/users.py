"""Signing people up and logging them in, as a client would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class TestUser:
    __test__ = False

    id: int
    username: str
    password: str
    access_token: str
    refresh_token: str
    profile: dict[str, object] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class UserFactory:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create(self, username: str | None = None, *, password: str = PASSWORD) -> TestUser:
        username = username or f"user{next(_counter)}"
        signup = await self.client.post(
            "/auth/signup", json={"username": username, "password": password}
        )
        assert signup.status_code == 201, signup.text
        tokens = await self.login(username, password)
        return TestUser(
            id=signup.json()["id"],
            username=username,
            password=password,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            profile=signup.json(),
        )

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, object]:
        response = await self.client.post(
            "/auth/login", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]
