from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.security import PasswordHasher
from app.users.models import User
from tests.support.users import PASSWORD, UserFactory

USER_FIELDS = {"id", "username", "display_name", "created_at", "bot"}


async def test_signup_returns_the_user_and_never_the_hash(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/signup", json={"username": "Alice", "password": PASSWORD, "display_name": " Al "}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["username"] == "Alice"
    assert body["display_name"] == "Al"
    assert body["created_at"].endswith("Z")
    assert PASSWORD not in response.text
    assert "argon2" not in response.text


async def test_display_name_defaults_to_username(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/signup", json={"username": "bob", "password": PASSWORD})
    assert response.json()["display_name"] == "bob"


async def test_password_is_stored_as_an_argon2id_hash(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await client.post("/auth/signup", json={"username": "carol", "password": PASSWORD})
    stored = (await connection.execute(select(User.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize("taken", ["dave", "DAVE", "Dave"])
async def test_username_taken_regardless_of_case(client: httpx.AsyncClient, taken: str) -> None:
    first = await client.post("/auth/signup", json={"username": "dave", "password": PASSWORD})
    assert first.status_code == 201
    again = await client.post("/auth/signup", json={"username": taken, "password": PASSWORD})
    assert again.status_code == 409
    assert again.json() == {"detail": "That username is taken."}


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "ab", "password": PASSWORD},  # too short
        {"username": "a" * 33, "password": PASSWORD},  # too long
        {"username": "has space", "password": PASSWORD},
        {"username": "semi;colon", "password": PASSWORD},
        {"username": "émile", "password": PASSWORD},  # outside [A-Za-z0-9_.-]
        {"username": "valid_name", "password": "short"},  # 7 characters
        {"username": "valid_name", "password": "x" * 129},
        {"username": "valid_name", "password": PASSWORD, "display_name": "x" * 65},
        {"username": "valid_name", "password": PASSWORD, "display_name": "   "},
        {"username": "valid_name"},
        {"password": PASSWORD},
        {"username": 12345, "password": PASSWORD},
    ],
)
async def test_signup_rejects_invalid_input(client: httpx.AsyncClient, payload: dict) -> None:
    response = await client.post("/auth/signup", json=payload)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("username", "password"), [("abc", "x" * 8), ("A.b-c_9" * 4 + "Zzzz", "y" * 128)]
)
async def test_signup_accepts_the_boundaries(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    assert len(username) in (3, 32)
    response = await client.post("/auth/signup", json={"username": username, "password": password})
    assert response.status_code == 201, response.text


async def test_login_returns_tokens(client: httpx.AsyncClient, users: UserFactory) -> None:
    await users.create("erin")
    response = await client.post("/auth/login", data={"username": "erin", "password": PASSWORD})
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    assert tokens["access_token"] != tokens["refresh_token"]


async def test_login_username_is_case_insensitive(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    await users.create("Frank")
    response = await client.post("/auth/login", data={"username": "fRANK", "password": PASSWORD})
    assert response.status_code == 200


async def test_login_is_a_form_not_json(client: httpx.AsyncClient, users: UserFactory) -> None:
    await users.create("gina")
    response = await client.post("/auth/login", json={"username": "gina", "password": PASSWORD})
    assert response.status_code == 422


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await users.create("hank")
    verified: list[str | None] = []
    original = PasswordHasher.verify

    async def spy(self: PasswordHasher, password: str, password_hash: str | None):  # type: ignore[no-untyped-def]
        verified.append(password_hash)
        return await original(self, password, password_hash)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    wrong = await client.post("/auth/login", data={"username": "hank", "password": "not-it-at-all"})
    unknown = await client.post("/auth/login", data={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Incorrect username or password."}
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    # Both paths pay for one Argon2 verification: the unknown user against a dummy hash.
    assert len(verified) == 2
    assert verified[0] is not None
    assert verified[1] is None


async def test_dummy_verification_costs_a_real_argon2_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=64, parallelism=1)
    calls: list[str] = []
    context = hasher._context
    original = context.verify

    def counting_verify(secret: str, hash_: str, **kwargs: object) -> bool:
        calls.append(hash_)
        return original(secret, hash_, **kwargs)

    monkeypatch.setattr(context, "verify", counting_verify)
    assert await hasher.verify("anything", None) == (False, None)
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$")


async def test_login_rehashes_when_parameters_grew(
    client: httpx.AsyncClient, users: UserFactory, app, connection: AsyncConnection
) -> None:
    await users.create("ivan")
    state = app.state.parley
    state.hasher = PasswordHasher(time_cost=2, memory_cost_kib=128, parallelism=1)
    await users.login("ivan")
    stored = (await connection.execute(text("SELECT password_hash FROM users"))).scalar_one()
    assert "m=128,t=2" in stored


async def test_refresh_tokens_are_stored_hashed(
    users: UserFactory, connection: AsyncConnection
) -> None:
    user = await users.create("kate")
    stored = (
        (await connection.execute(text("SELECT token_hash FROM refresh_tokens"))).scalars().all()
    )
    assert user.refresh_token not in stored
    assert hashlib.sha256(user.refresh_token.encode()).hexdigest() in stored


# "Ångström" composed (U+00C5) and decomposed (A + U+030A), and with a fullwidth digit:
# the same password to a person, different code points to a naive hash.
COMPOSED = "\u00c5ngstr\u00f6m-\uff11234"
DECOMPOSED = "A\u030angstro\u0308m-\uff11234"


async def test_passwords_are_unicode_normalised(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    await users.create("nfkc_user", password=COMPOSED)
    for typed in (COMPOSED, DECOMPOSED, "\u00c5ngstr\u00f6m-1234"):
        response = await client.post(
            "/auth/login", data={"username": "nfkc_user", "password": typed}
        )
        assert response.status_code == 200, typed


async def test_a_hash_made_before_normalisation_still_logs_in_and_is_upgraded(
    client: httpx.AsyncClient, users: UserFactory, app, connection: AsyncConnection
) -> None:
    await users.create("legacy_user")
    legacy = app.state.parley.hasher._context.hash(DECOMPOSED)  # hashed raw, as before
    await connection.execute(
        text("UPDATE users SET password_hash = :h WHERE username = 'legacy_user'"), {"h": legacy}
    )
    response = await client.post(
        "/auth/login", data={"username": "legacy_user", "password": DECOMPOSED}
    )
    assert response.status_code == 200
    upgraded = (
        await connection.execute(
            text("SELECT password_hash FROM users WHERE username = 'legacy_user'")
        )
    ).scalar_one()
    assert upgraded != legacy
    # Now the other spelling of the same password works too.
    response = await client.post(
        "/auth/login", data={"username": "legacy_user", "password": COMPOSED}
    )
    assert response.status_code == 200
