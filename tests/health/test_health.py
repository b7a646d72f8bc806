from __future__ import annotations

from pathlib import Path

import httpx

from app.core.database import Database
from app.main import create_app
from tests.conftest import make_settings
from tests.support.databases import run_alembic


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
