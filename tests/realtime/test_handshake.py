"""The token is checked before the handshake is accepted; a refusal is an HTTP 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jose import jwt
from websockets.exceptions import InvalidStatus

from tests.support.server import LiveServer
from tests.support.users import UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live

Connect = Callable[..., Awaitable[WsClient]]


async def assert_refused(server: LiveServer, token: str | None, **kwargs: object) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await WsClient.connect(server.ws_url, token, **kwargs)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


async def test_hello_after_accept(ws: Connect, users: UserFactory) -> None:
    user = await users.create()
    client = await ws(user)
    hello = client.hello
    assert hello["user"] == user.profile
    assert hello["heartbeat_interval"] == 30
    expires = datetime.fromisoformat(hello["expires_at"].replace("Z", "+00:00"))
    # Whole seconds, rounded up: the token lives at least the 15 minutes it promises.
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15, seconds=1)


async def test_token_in_an_authorization_header(ws: Connect, users: UserFactory) -> None:
    user = await users.create()
    client = await ws(None, headers={"Authorization": f"Bearer {user.access_token}"})
    assert client.hello["user"]["id"] == user.id


async def test_missing_token_is_refused(server: LiveServer) -> None:
    await assert_refused(server, None)
    await assert_refused(server, None, headers={"Authorization": "Basic abc"})


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 300])
async def test_malformed_token_is_refused(server: LiveServer, token: str) -> None:
    await assert_refused(server, token)


async def test_expired_tampered_and_refresh_tokens_are_refused(
    server: LiveServer, users: UserFactory
) -> None:
    user = await users.create()
    claims = jwt.get_unverified_claims(user.access_token)
    await assert_refused(server, user.expired_access_token())
    await assert_refused(server, user.refresh_token)
    forged = jwt.encode(claims | {"sub": str(user.id + 1)}, "another-key" * 4, algorithm="HS256")
    await assert_refused(server, forged)


async def test_revoked_session_is_refused(
    server: LiveServer, users: UserFactory, api: httpx.AsyncClient
) -> None:
    user = await users.create()
    await api.post("/auth/logout", json={"refresh_token": user.refresh_token}, headers=user.headers)
    await assert_refused(server, user.access_token)


async def test_tokens_never_reach_the_log(
    server: LiveServer, ws: Connect, users: UserFactory
) -> None:
    user = await users.create()
    await ws(user)
    await assert_refused(server, "refused-token-value")
    logs = server.logs()
    assert user.access_token not in logs
    assert "refused-token-value" not in logs
    assert '"WebSocket /ws?token=[redacted]" [accepted]' in logs
    assert '"WebSocket /ws?token=[redacted]" 403' in logs
