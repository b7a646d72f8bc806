"""Signing people up and logging them in, as a client would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from jose import jwt

from app.core.security import create_access_token
from tests.support.server import SECRET_KEY

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

    def expired_access_token(self) -> str:
        """An access token for this user's session, properly signed, expired minutes ago."""
        claims = jwt.get_unverified_claims(self.access_token)
        token, _ = create_access_token(
            user_id=self.id,
            session_id=claims["sid"],
            ttl_seconds=60,
            key=SECRET_KEY,
            now=datetime.now(UTC) - timedelta(minutes=5),
        )
        return token


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
