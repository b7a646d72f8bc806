from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from app.core.database import Database
from app.main import create_app
from tests.conftest import make_settings
from tests.support.databases import run_alembic
from tests.support.redis_server import PrivateRedis


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


async def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    app = create_app(make_settings(url, tmp_path), database=Database.from_url(url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
            live = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("unreachable")
    assert live.status_code == 200


async def test_docs_authorize_button_logs_in_with_the_password_form(
    client: httpx.AsyncClient,
) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    schema = (await client.get("/openapi.json")).json()
    scheme = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/login"
    login_body = schema["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in login_body
    assert schema["paths"]["/users/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]


async def test_readyz_is_unavailable_until_the_schema_is_at_head(tmp_path: Path) -> None:
    """`parley serve --no-migrate` on an empty database must not look ready."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(make_settings(url, tmp_path), database=Database.from_url(url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            empty = await client.get("/readyz")
            run_alembic(url, "upgrade", "0001")
            behind = await client.get("/readyz")
            run_alembic(url, "upgrade", "head")
            current = await client.get("/readyz")
    assert empty.status_code == 503
    assert empty.json()["checks"]["database"] == "ok"
    assert "parley migrate" in empty.json()["checks"]["schema"]
    assert behind.status_code == 503
    assert "0001" in behind.json()["checks"]["schema"]
    assert current.status_code == 200, current.text
    assert current.json()["checks"]["schema"] == "ok"


async def test_readyz_answers_within_a_second_while_redis_is_paused_and_logs_once(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = PrivateRedis(tmp_path).start()
    app = create_app(
        make_settings(database_url, tmp_path, broker_url=redis.url),
        database=Database.from_url(database_url),
    )
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert (await client.get("/readyz")).status_code == 200
                assert redis.process is not None
                os.kill(redis.process.pid, signal.SIGSTOP)  # answers nothing, drops nothing
                try:
                    caplog.clear()
                    for _ in range(3):
                        started = time.monotonic()
                        response = await client.get("/readyz")
                        assert time.monotonic() - started < 1.5
                        assert response.status_code == 503
                        checks = response.json()["checks"]
                        assert checks["database"] == "ok"
                        assert checks["broker"].startswith("unreachable")
                finally:
                    os.kill(redis.process.pid, signal.SIGCONT)
                outage_logs = [r for r in caplog.records if "broker" in r.getMessage()]
                assert len(outage_logs) == 1, [r.getMessage() for r in outage_logs]
    finally:
        redis.stop()
