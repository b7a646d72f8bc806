"""Where the schema's history lives, and whether a database is at its head.

The Alembic environment is the repository's top-level `migrations/` folder, installed as the
`parley_migrations` package (see setup.py). It is found from the installed package, never
from the current directory, so `parley migrate` works from anywhere; `alembic.ini` at the
repository root is only for people who run `alembic` by hand.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:  # Alembic is imported when needed: `parley chat` never needs it
    from alembic.config import Config

MIGRATIONS_PACKAGE = "parley_migrations"


def script_location() -> str:
    return str(files(MIGRATIONS_PACKAGE))


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, built in code (the same settings as the root `alembic.ini`)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", script_location())
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
    )
    config.set_main_option("timezone", "UTC")
    config.set_main_option("truncate_slug_length", "40")
    if url:
        config.attributes["url"] = url
    return config


@lru_cache(maxsize=1)
def schema_head() -> str | None:
    """The newest revision the installed code knows (read once: it cannot change at run time)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class SchemaNotAtHead(RuntimeError):
    """The database's schema is missing or older (or newer) than this code's."""


async def check_schema(session: AsyncSession, head: str | None) -> None:
    """Raise `SchemaNotAtHead` unless the database's `alembic_version` is `head`."""
    try:
        result = await session.execute(text("SELECT version_num FROM alembic_version"))
    except DBAPIError as exc:
        # No version table at all: nobody ran `parley migrate` on this database. A DBAPIError
        # for any other reason (the server went away) is the database probe's to report.
        if "alembic_version" in str(exc.orig):
            raise SchemaNotAtHead("not migrated: run `parley migrate`") from None
        raise
    versions = {row[0] for row in result}
    if versions != ({head} if head else set()):
        found = ", ".join(sorted(versions)) or "none"
        raise SchemaNotAtHead(f"at {found}, code expects {head}: run `parley migrate`")
