"""While the database refuses connections, every database-backed call answers 503."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.core.security import create_access_token
from app.main import create_app
from tests.conftest import TEST_SECRET_KEY
from tests.support.server import LiveServer, free_port, server_environment

pytestmark = pytest.mark.live

# Routes that never touch the database.
NO_DATABASE = {("GET", "/healthz"), ("GET", "/readyz")}

# A plausible body per request schema: the call must get as far as the database.
BODIES: dict[str, Any] = {
    "UserCreate": {"username": "outage_user", "password": "correct horse battery"},
    "Body_login_auth_login_post": {"username": "outage_user", "password": "correct horse"},
    "RefreshRequest": {"refresh_token": "r" * 43},
    "LogoutRequest": {"refresh_token": "r" * 43},
    "UserUpdate": {"display_name": "Someone"},
    "RoomCreate": {"name": "outage-room"},
    "RoomUpdate": {"topic": "a topic"},
    "MembershipUpdate": {"role": "member"},
    "ReadMarkerUpdate": {"seq": 1},
    "MessageCreate": {"body": "hello", "client_id": "outage-1"},
    "MessageUpdate": {"body": "edited"},
    "DirectMessageCreate": {"user_id": 2},
    "BotCreate": {"username": "outage_bot"},
    "WebhookCreate": {"url": "https://hooks.example.com/parley", "events": ["mention"]},
    "WebhookUpdate": {"state": "active"},
}
PATH_VALUES = {"emoji": "%F0%9F%91%8D"}
QUERY_VALUES = {"string": "hello", "integer": 1}


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref") or next(s["$ref"] for s in schema["anyOf"] if "$ref" in s)
    return str(ref).rsplit("/", 1)[1]


def _calls() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every REST operation of the app, with plausible arguments (from its OpenAPI)."""
    spec = create_app().openapi()
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), template) in NO_DATABASE:
                continue
            path = template
            params: dict[str, Any] = {}
            for parameter in operation.get("parameters", []):
                name, kind = parameter["name"], parameter["schema"].get("type", "string")
                if parameter["in"] == "path":
                    path = path.replace(f"{{{name}}}", str(PATH_VALUES.get(name, 1)))
                elif parameter["in"] == "query" and parameter.get("required"):
                    params[name] = QUERY_VALUES[kind]
            request: dict[str, Any] = {"params": params}
            contents = operation.get("requestBody", {}).get("content", {})
            for content_type, content in contents.items():
                body = BODIES[_schema_name(content["schema"])]  # a new schema needs a body here
                request["data" if "form" in content_type else "json"] = body
            yield method.upper(), path, request


def _refusing_database(kind: str, directory: Path) -> str:
    if kind == "postgresql":
        return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/parley"  # nothing listens
    return f"sqlite+aiosqlite:///{directory / 'missing' / 'parley.db'}"  # cannot be opened


@pytest.fixture(params=["postgresql", "sqlite"])
def outage_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    env = server_environment(_refusing_database(request.param, tmp_path), tmp_path)
    with LiveServer(env=env, cwd=tmp_path) as server:
        yield server


async def test_every_database_backed_route_answers_503_while_the_database_refuses(
    outage_server: LiveServer,
) -> None:
    token, _ = create_access_token(user_id=1, session_id=1, ttl_seconds=300, key=TEST_SECRET_KEY)
    headers = {"Authorization": f"Bearer {token}"}
    answers = {}
    async with httpx.AsyncClient(base_url=outage_server.base_url, headers=headers) as api:
        for method, path, request in _calls():
            try:
                response = await api.request(method, path, **request)
            except httpx.HTTPError as exc:  # the server dropped the connection
                answers[f"{method} {path}"] = (repr(exc), None, None, None)
                continue
            answers[f"{method} {path}"] = (
                response.status_code,
                response.headers.get("retry-after"),
                response.headers.get("content-type"),
                "detail" in response.json() if response.status_code == 503 else response.text,
            )
    assert len(answers) >= 20
    expected = (503, "1", "application/json", True)
    assert {call: answer for call, answer in answers.items() if answer != expected} == {}
    logs = outage_server.logs()
    assert "Traceback" not in logs
    assert logs.count("database unavailable") == 1, logs  # once per outage


async def test_the_websocket_handshake_is_refused_with_503_while_the_database_refuses(
    outage_server: LiveServer,
) -> None:
    token, _ = create_access_token(user_id=1, session_id=1, ttl_seconds=300, key=TEST_SECRET_KEY)
    for path in ("/ws", "/rooms/1/ws"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{outage_server.ws_url}{path}?token={token}", open_timeout=10):
                pass
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers.get("Retry-After") == "1"
    assert "Traceback" not in outage_server.logs()


def test_only_availability_errors_count_as_an_outage() -> None:
    import sqlite3

    import asyncpg
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from app.core.database import is_unavailable

    def wrapped(cause: BaseException) -> OperationalError:
        return OperationalError("SELECT 1", {}, cause)

    outages: list[BaseException] = [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),  # a pool checkout or a connect that timed out
        PoolTimeout("QueuePool limit of size 10 overflow 10 reached"),
        wrapped(sqlite3.OperationalError("unable to open database file")),
        wrapped(sqlite3.OperationalError("database is locked")),
        wrapped(asyncpg.CannotConnectNowError("the database system is starting up")),
        wrapped(asyncpg.AdminShutdownError("terminating connection")),
    ]
    bugs: list[BaseException] = [
        wrapped(sqlite3.OperationalError("no such table: rooms")),
        ProgrammingError("SELECT", {}, Exception("syntax error at or near")),
        IntegrityError("INSERT", {}, Exception("duplicate key value")),
        FileNotFoundError(2, "No such file or directory"),
        ValueError("a bug"),
    ]
    assert [e for e in outages if not is_unavailable(e)] == []
    assert [e for e in bugs if is_unavailable(e)] == []


async def test_a_real_bug_stays_a_500_and_an_outage_becomes_a_503(app: FastAPI) -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    async def bug() -> None:
        raise ProgrammingError("SELECT nonsense", {}, Exception("syntax error"))

    async def outage() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionResetError(104, "reset by peer"))

    app.add_api_route("/test-bug", bug)
    app.add_api_route("/test-outage", outage)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/test-bug")).status_code == 500
        response = await client.get("/test-outage")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "detail" in response.json()
