"""What the database cannot store is refused at the edge with a 422, never a 500.

Each case once answered a plain-text 500 (PostgreSQL refuses U+0000 and numbers outside its
columns' range; a lone surrogate cannot be encoded at all; the password hasher chokes on a
huge password). Run on SQLite and PostgreSQL: the answer must not depend on the backend.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from app.core.validation import refuse_unstorable
from tests.support.rooms import create_room, send
from tests.support.users import PASSWORD, TestUser, UserFactory

INT4_OVER = 2**31
INT8_OVER = 2**63
SURROGATE = '"\\ud800"'  # JSON text for a lone surrogate: json.loads accepts it


def raw_json(template: str) -> dict[str, Any]:
    """A JSON body written by hand, for what `json=` could not encode (lone surrogates)."""
    return {"content": template, "headers": {"Content-Type": "application/json"}}


# (method, path, request kwargs); {room} and {message} are filled in.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/rooms", {"params": {"name": "a\x00"}}),
    ("GET", "/users", {"params": {"prefix": "a\x00"}}),
    ("GET", "/rooms/{room}/messages/search", {"params": {"q": "a\x00b"}}),
    ("POST", "/rooms", {"json": {"name": "nul-topic", "topic": "a\x00"}}),
    ("POST", "/rooms", {"json": {"name": "a\x00"}}),
    ("POST", "/rooms", raw_json('{"name": "sur", "topic": ' + SURROGATE + "}")),
    ("PATCH", "/rooms/{room}", {"json": {"topic": "\x00"}}),
    ("PATCH", "/users/me", {"json": {"display_name": "a\x00b"}}),
    ("PATCH", "/users/me", raw_json('{"display_name": ' + SURROGATE + "}")),
    ("POST", "/rooms/{room}/messages", {"json": {"body": "a\x00b"}}),
    ("POST", "/rooms/{room}/messages", {"json": {"body": "hi", "client_id": "c\x00"}}),
    ("POST", "/rooms/{room}/messages", raw_json('{"body": ' + SURROGATE + "}")),
    ("PATCH", "/rooms/{room}/messages/{message}", {"json": {"body": "\x00"}}),
    ("POST", "/auth/refresh", raw_json('{"refresh_token": ' + SURROGATE + "}")),
    ("GET", f"/rooms/{INT4_OVER}", {}),
    ("GET", f"/rooms/{INT8_OVER}", {}),
    ("GET", f"/users/{INT4_OVER}", {}),
    ("GET", f"/users/{INT8_OVER}", {}),
    ("GET", f"/rooms/{INT4_OVER}/members", {}),
    ("PUT", f"/rooms/{{room}}/members/{INT4_OVER}", {}),
    ("DELETE", f"/rooms/{{room}}/members/{INT4_OVER}", {}),
    ("PUT", "/rooms/{room}/read", {"json": {"seq": INT8_OVER}}),
    ("GET", "/rooms/{room}/messages", {"params": {"after_seq": INT8_OVER}}),
    ("GET", "/rooms/{room}/messages", {"params": {"before_seq": INT8_OVER}}),
    ("POST", f"/rooms/{INT4_OVER}/messages", {"json": {"body": "hi"}}),
    ("PATCH", f"/rooms/{{room}}/messages/{INT8_OVER}", {"json": {"body": "hi"}}),
    ("DELETE", f"/rooms/{{room}}/messages/{INT8_OVER}", {}),
]


@pytest.fixture
async def alice(users: UserFactory) -> TestUser:
    return await users.create()


@pytest.mark.parametrize(("method", "path", "kwargs"), CASES)
async def test_unstorable_input_is_refused_with_422(
    client: httpx.AsyncClient,
    alice: TestUser,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    room = await create_room(client, alice)
    message = await send(client, alice, room["id"], "hello")
    headers = {**alice.headers, **kwargs.pop("headers", {})}
    url = path.format(room=room["id"], message=message["id"])
    response = await client.request(method, url, headers=headers, **kwargs)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    # Nothing was changed on the way: the room still answers, with its one message.
    page = await client.get(f"/rooms/{room['id']}/messages", headers=alice.headers)
    assert [m["body"] for m in page.json()["messages"]] == ["hello"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "nul-name", "password": PASSWORD, "display_name": "a\x00"},
        {"username": "nul\x00", "password": PASSWORD},
        {"username": "nul-pass", "password": PASSWORD + "\x00"},
    ],
)
async def test_signup_refuses_nul(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post("/auth/signup", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "text",
    [
        f'{{"username": "sur-name", "password": "{PASSWORD}", "display_name": {SURROGATE}}}',
        f'{{"username": "sur-pass", "password": "\\ud800{PASSWORD}"}}',
    ],
    ids=["display_name", "password"],
)
async def test_signup_refuses_lone_surrogates(client: httpx.AsyncClient, text: str) -> None:
    response = await client.post("/auth/signup", **raw_json(text))
    assert response.status_code == 422, response.text
    # The refusal echoes the input, made encodable: it is still valid UTF-8 JSON.
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "form",
    [
        {"username": "a\x00", "password": PASSWORD},
        {"username": "someone", "password": "a\x00bcdefgh"},
        {"username": "someone", "password": "x" * 5000},
        {"username": "someone", "password": "x" * 129},
        {"username": "x" * 1000, "password": PASSWORD},
    ],
    ids=["nul-username", "nul-password", "huge-password", "longer-than-signup", "huge-username"],
)
async def test_login_refuses_what_can_never_match_at_once(
    client: httpx.AsyncClient, users: UserFactory, form: dict[str, str]
) -> None:
    await users.create("someone")
    started = time.monotonic()
    response = await client.post("/auth/login", data=form)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    # Refused before any hash is spent (the suite's Argon2 is cheap; this only catches a
    # hash of a huge password, which takes far longer).
    assert time.monotonic() - started < 1.0


async def test_login_still_takes_the_oauth2_form(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    response = await client.post(
        "/auth/login",
        data={"grant_type": "password", "username": user.username, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    schema = (await client.get("/openapi.json")).json()
    login = schema["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in login


@pytest.mark.parametrize(
    ("value", "ok"),
    [("plain", True), ("émoji 👍", True), ("a\x00", False), ("\ud800", False), ("b\udfffc", False)],
)
def test_refuse_unstorable(value: str, ok: bool) -> None:
    if ok:
        assert refuse_unstorable(value) == value
    else:
        with pytest.raises(ValueError):
            refuse_unstorable(value)
