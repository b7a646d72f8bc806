"""The benchmark's own PostgreSQL database: created fresh, migrated, dropped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from app.core.config import normalise_database_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PARLEY = str(Path(sys.executable).with_name("parley"))


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL (any spelling) as a plain DSN asyncpg accepts."""
    parsed = make_url(normalise_database_url(url)).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def create_database(admin_url: str, prefix: str = "parley_bench") -> str:
    """Create an empty database on `admin_url`'s server; return its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return (
        make_url(normalise_database_url(admin_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )


def migrate(url: str) -> None:
    """`parley migrate` (alembic upgrade head) in a child process, as an operator would."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([PARLEY, "migrate"], env=env, check=True, capture_output=True)


async def drop_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(asyncpg_dsn(url, database="postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
