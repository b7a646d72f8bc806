from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.database import create_disposable_engine
from app.models import Base, include_in_autogenerate
from tests.conftest import TEST_DATABASE_URL
from tests.support.databases import create_postgres_database, drop_postgres_database, run_alembic


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_postgres_database(TEST_DATABASE_URL, prefix="parley_migrate")
    try:
        yield url
    finally:
        drop_postgres_database(url)


async def table_names(url: str) -> set[str]:
    engine = create_disposable_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    """Autogenerate against the migrated database finds nothing to do."""

    def diff(sync_conn):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(
            sync_conn,
            opts={"compare_type": True, "include_name": include_in_autogenerate},
        )
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    run_alembic(empty_database_url, "upgrade", "head")
    assert model_tables <= await table_names(empty_database_url)
    run_alembic(empty_database_url, "downgrade", "base")
    assert await table_names(empty_database_url) <= {"alembic_version"}
    run_alembic(empty_database_url, "upgrade", "head")
    assert model_tables <= await table_names(empty_database_url)
