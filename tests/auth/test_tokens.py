from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jose import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.security import decode_access_token
from app.delivery import events
from app.delivery.events import Event
from tests.conftest import TEST_SECRET_KEY
from tests.support.users import UserFactory


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_unauthorized(client: httpx.AsyncClient, token: str | None) -> None:
    headers = bearer(token) if token is not None else {}
    response = await client.get("/users/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "detail" in response.json()


async def test_me_returns_the_caller(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create("lena")
    response = await client.get("/users/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json() == user.profile


async def test_access_token_claims(users: UserFactory) -> None:
    user = await users.create("mona")
    claims = jwt.get_unverified_claims(user.access_token)
    assert jwt.get_unverified_header(user.access_token)["alg"] == "HS256"
    assert {"sub", "sid", "exp", "iat", "jti", "type"} <= set(claims)
    assert claims["sub"] == str(user.id)
    assert claims["type"] == "access"
    assert 900 <= claims["exp"] - claims["iat"] <= 901  # expiry rounded up to a second


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    await assert_unauthorized(client, None)
    response = await client.get("/users/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "", "Bearer"])
async def test_malformed_token_is_401(client: httpx.AsyncClient, garbage: str) -> None:
    await assert_unauthorized(client, garbage)


async def test_tampered_token_is_401(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create("nina")
    header, payload, signature = user.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(user.id + 1)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    await assert_unauthorized(client, f"{header}.{forged}.{signature}")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    await assert_unauthorized(client, f"{header}.{payload}.{flipped}")


async def test_alg_none_token_is_401(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create("olga")
    claims = jwt.get_unverified_claims(user.access_token)

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    await assert_unauthorized(client, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.")


async def test_token_signed_with_another_key_is_401(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create("pia")
    claims = jwt.get_unverified_claims(user.access_token)
    other = jwt.encode(claims, "another-key-that-is-long-enough-0123456789", algorithm="HS256")
    await assert_unauthorized(client, other)


async def test_expired_token_is_401(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create("quinn")
    await assert_unauthorized(client, user.expired_access_token())


async def test_refresh_token_is_never_an_access_token(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create("rita")
    await assert_unauthorized(client, user.refresh_token)
    # Even a correctly signed JWT is refused unless it says it is an access token.
    claims = jwt.get_unverified_claims(user.access_token) | {"type": "refresh"}
    await assert_unauthorized(client, jwt.encode(claims, TEST_SECRET_KEY, algorithm="HS256"))


async def test_refresh_rotates(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create("sam")
    response = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["refresh_token"] != user.refresh_token
    assert tokens["token_type"] == "bearer"
    me = await client.get("/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    # The same session carries on: the new access token names the same sid.
    old_sid = decode_access_token(user.access_token, key=TEST_SECRET_KEY).session_id
    new_sid = decode_access_token(tokens["access_token"], key=TEST_SECRET_KEY).session_id
    assert old_sid == new_sid
    # And the new refresh token works in turn.
    again = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_session(
    client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    user = await users.create("tom")
    other_session = await users.login("tom")
    rotated = (
        await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    ).json()

    reuse = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reuse.status_code == 401
    assert reuse.headers["www-authenticate"] == "Bearer"

    # Everything issued to that session is dead: old and new access tokens, the new refresh.
    await assert_unauthorized(client, user.access_token)
    await assert_unauthorized(client, rotated["access_token"])
    denied = await client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert denied.status_code == 401
    # The user's other session is untouched.
    ok = await client.get("/users/me", headers=bearer(str(other_session["access_token"])))
    assert ok.status_code == 200
    # The revocation was announced so that live sockets of the session get closed.
    sid = decode_access_token(user.access_token, key=TEST_SECRET_KEY).session_id
    assert events.session_revoked(session_id=sid) in published


@pytest.mark.parametrize("token", ["unknown-token", "x" * 43])
async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 401


async def test_refresh_requires_a_body(client: httpx.AsyncClient) -> None:
    assert (await client.post("/auth/refresh", json={})).status_code == 422
    assert (await client.post("/auth/refresh", json={"refresh_token": ""})).status_code == 422


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, users: UserFactory, connection: AsyncConnection
) -> None:
    user = await users.create("uma")
    past = datetime.now(UTC) - timedelta(seconds=1)
    await connection.execute(
        text("UPDATE refresh_tokens SET expires_at = :past"),
        {"past": past.replace(tzinfo=None) if connection.dialect.name == "sqlite" else past},
    )
    response = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert response.status_code == 401


async def test_logout_revokes_the_session_at_once(
    client: httpx.AsyncClient, users: UserFactory, published: list[Event]
) -> None:
    user = await users.create("vera")
    elsewhere = await users.login("vera")
    response = await client.post(
        "/auth/logout", json={"refresh_token": user.refresh_token}, headers=user.headers
    )
    assert response.status_code == 204
    assert response.content == b""
    await assert_unauthorized(client, user.access_token)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 401
    # Logging out one session leaves the user's others alone.
    ok = await client.get("/users/me", headers=bearer(str(elsewhere["access_token"])))
    assert ok.status_code == 200
    sid = decode_access_token(user.access_token, key=TEST_SECRET_KEY).session_id
    assert published == [events.session_revoked(session_id=sid)]


async def test_logout_needs_a_bearer_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create("wade")
    response = await client.post("/auth/logout", json={"refresh_token": user.refresh_token})
    assert response.status_code == 401
    assert (await client.get("/users/me", headers=user.headers)).status_code == 200


async def test_logout_cannot_revoke_someone_elses_session(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    xena = await users.create("xena")
    yuri = await users.create("yuri")
    response = await client.post(
        "/auth/logout", json={"refresh_token": yuri.refresh_token}, headers=xena.headers
    )
    assert response.status_code == 204
    assert (await client.get("/users/me", headers=yuri.headers)).status_code == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": yuri.refresh_token})
    assert refreshed.status_code == 200


async def test_token_of_a_deleted_session_is_401(
    client: httpx.AsyncClient, users: UserFactory, connection: AsyncConnection
) -> None:
    user = await users.create("zoe")
    await connection.execute(text("DELETE FROM auth_sessions"))
    await assert_unauthorized(client, user.access_token)


async def test_an_access_token_is_refused_from_the_second_it_expires(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    import asyncio
    import math
    import time

    from jose import jwt as jose_jwt

    from app.core.security import InvalidToken, create_access_token

    user = await users.create("punctual")
    session_id = jose_jwt.get_unverified_claims(user.access_token)["sid"]
    # Just after a whole second, so that `exp` (whole seconds) lies a fraction in the past.
    await asyncio.sleep(math.ceil(time.time()) - time.time() + 0.2)
    exp = math.floor(time.time())
    token, expires = create_access_token(
        user_id=user.id,
        session_id=session_id,
        ttl_seconds=60,
        key=TEST_SECRET_KEY,
        now=datetime.fromtimestamp(exp - 60, UTC),
    )
    assert expires.timestamp() == exp < time.time() < exp + 1
    with pytest.raises(InvalidToken):
        decode_access_token(token, key=TEST_SECRET_KEY)
    await assert_unauthorized(client, token)
