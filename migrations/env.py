"""Alembic environment: async engine, URL from Parley's settings, same naming as the models."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from app.core.config import Settings, normalise_database_url
from app.core.database import UTCDateTime, create_disposable_engine
from app.models import Base, include_in_autogenerate

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, _autogen_context: Any) -> str | bool:
    """Migrations must not import app code: render our UTC type as the plain column type."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def database_url() -> str:
    explicit = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if explicit:
        return normalise_database_url(explicit)
    return Settings().effective_database_url


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else (url or "").split(":")[0]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=include_in_autogenerate,
        render_item=render_item,
        render_as_batch=dialect.startswith("sqlite"),
        # Parley's SQLite engine emits its own BEGIN, so DDL there is transactional too.
        transactional_ddl=True,
        literal_binds=connection is None,
    )


def run_sync_migrations(connection: Connection) -> None:
    configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_disposable_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_sync_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    run_sync_migrations(connection)
else:
    asyncio.run(run_async_migrations())
