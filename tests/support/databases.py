"""Creating, migrating and dropping the databases tests run against."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from app.cli import alembic_config
from app.core.config import normalise_database_url


def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    # Alembic's env.py calls asyncio.run(); a worker thread keeps it away from the test loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def run_alembic(url: str, action: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    _in_thread(getattr(command, action), config, revision)


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(normalise_database_url(url)).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def create_postgres_database(admin_url: str, prefix: str = "parley_test") -> str:
    """Create an empty database next to `admin_url`'s and return its (asyncpg) URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    _in_thread(asyncio.run, create())
    return (
        make_url(normalise_database_url(admin_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database

    async def drop() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(url, database="postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _in_thread(asyncio.run, drop())
