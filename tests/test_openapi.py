"""The OpenAPI document (what /docs shows) is honest: what a route answers, it lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.rooms import create_room, send
from tests.support.users import UserFactory

# Swagger UI's placeholder when a schema gives no example.
PLACEHOLDERS = {"string", "strin"}


@pytest.fixture
async def schema(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()  # type: ignore[no-any-return]


def documented(schema: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(status) for status in schema["paths"][path][method.lower()]["responses"]}


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def strings_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


async def test_statuses_that_routes_really_answer_are_documented(
    client: httpx.AsyncClient, users: UserFactory, schema: dict[str, Any]
) -> None:
    owner, stranger = await users.create(), await users.create()
    room = await create_room(client, owner, visibility="public")
    rid = room["id"]
    message = await send(client, owner, rid, "to be deleted")
    await client.delete(f"/rooms/{rid}/messages/{message['id']}", headers=owner.headers)
    mine, theirs = owner.headers, stranger.headers
    # (method, documented path, real URL, body, headers): each answers an error.
    attempts: list[tuple[str, str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("POST", "/auth/signup", "/auth/signup", _signup(owner), {}),
        ("POST", "/auth/refresh", "/auth/refresh", {"refresh_token": "nope"}, {}),
        ("GET", "/users/me", "/users/me", None, {}),
        ("GET", "/users/{user_id}", "/users/999999", None, mine),
        ("POST", "/rooms", "/rooms", {"name": room["name"]}, mine),
        ("GET", "/rooms/{room_id}", "/rooms/999999", None, mine),
        ("PATCH", "/rooms/{room_id}", f"/rooms/{rid}", {"topic": "x"}, theirs),
        ("DELETE", "/rooms/{room_id}/members/{user_id}", f"/rooms/{rid}/members/{owner.id}",
         None, mine),
        ("POST", "/rooms/{room_id}/messages", f"/rooms/{rid}/messages", {"body": "hi"}, theirs),
        ("GET", "/rooms/{room_id}/messages", f"/rooms/{rid}/messages", None, theirs),
        ("PATCH", "/rooms/{room_id}/messages/{message_id}",
         f"/rooms/{rid}/messages/{message['id']}", {"body": "again"}, mine),
    ]  # fmt: skip
    seen = []
    for method, path, url, body, headers in attempts:
        response = await client.request(method, url, json=body, headers=headers)
        seen.append((method, path, response))
    answered = {(method, path, response.status_code) for method, path, response in seen}
    assert {code for *_, code in answered} == {401, 403, 404, 409}, answered
    for method, path, status in sorted(answered):
        assert status in documented(schema, method, path), (method, path, status)


def _signup(user: Any) -> dict[str, str]:
    return {"username": user.username, "password": user.password}


def test_every_authenticated_route_documents_401(schema: dict[str, Any]) -> None:
    for method, path, operation in operations(schema):
        if operation.get("security"):
            assert "401" in operation["responses"], (method, path)


def test_rate_limits_and_outages_are_documented_with_their_header(schema: dict[str, Any]) -> None:
    login = schema["paths"]["/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]
    assert {429, 409, 503} <= documented(schema, "POST", "/rooms/{room_id}/messages")


def test_error_responses_show_the_real_body_and_messages(schema: dict[str, Any]) -> None:
    for method, path, operation in operations(schema):
        for status, response in operation["responses"].items():
            if (status.startswith("4") and status != "422") or (
                status == "503" and "/rooms" in path
            ):
                content = response["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorDetail"}
                details = [e["value"]["detail"] for e in content["examples"].values()]
                assert details, (method, path, status)
                assert all(d.endswith((".", ";", "!", "retry.")) for d in details), details
    signup = schema["paths"]["/auth/signup"]["post"]["responses"]["409"]
    assert "That username is taken." in signup["description"]


def test_examples_are_sensible(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    for name in ("UserCreate", "RoomCreate", "MessageCreate", "MessageRead", "Tokens"):
        (example,) = components[name]["examples"]
        assert not PLACEHOLDERS & set(strings_in(example)), (name, example)
    assert components["UserCreate"]["examples"][0]["username"] == "alice"


def test_the_login_form_is_pre_filled_sensibly(schema: dict[str, Any]) -> None:
    form = schema["components"]["schemas"]["Body_login_auth_login_post"]["properties"]
    assert form["username"]["examples"] == ["alice"]
    assert form["password"]["format"] == "password"
    for field in ("client_id", "client_secret"):
        assert form[field].get("examples") == [""], field
