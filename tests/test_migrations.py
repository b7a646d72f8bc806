from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.database import create_disposable_engine
from app.models import Base, include_in_autogenerate
from tests.support.databases import run_alembic


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


async def execute(url: str, *statements: str) -> list[tuple]:  # type: ignore[type-arg]
    """Run statements in one transaction; the last one's rows (if it returns any)."""
    engine = create_disposable_engine(url)
    try:
        async with engine.begin() as conn:
            result = None
            for statement in statements:
                result = await conn.execute(text(statement))
            return (
                [tuple(row) for row in result] if result is not None and result.returns_rows else []
            )
    finally:
        await engine.dispose()


async def column_names(url: str, table: str) -> set[str]:
    engine = create_disposable_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                column["name"]
                for column in await conn.run_sync(lambda sync: inspect(sync).get_columns(table))
            }
    finally:
        await engine.dispose()


async def test_change_numbers_backfill_a_database_that_holds_messages(
    empty_database_url: str,
) -> None:
    """0003 on a database with rooms and messages: old messages get rev = created_rev = seq
    and each room last_rev = last_seq, so resuming by rev works at once; downgrade keeps
    the rows."""
    url = empty_database_url
    run_alembic(url, "upgrade", "0002")
    await execute(
        url,
        "INSERT INTO users (id, username, username_key, display_name, password_hash, created_at)"
        " VALUES (1, 'old', 'old', 'old', 'x', CURRENT_TIMESTAMP)",
        "INSERT INTO rooms (id, name, name_key, topic, visibility, created_by, created_at,"
        " last_seq) VALUES (1, 'a', 'a', '', 'public', 1, CURRENT_TIMESTAMP, 3),"
        " (2, 'b', 'b', '', 'public', 1, CURRENT_TIMESTAMP, 1),"
        " (3, 'c', 'c', '', 'public', 1, CURRENT_TIMESTAMP, 0)",
        "INSERT INTO messages (room_id, seq, author_id, body, created_at, deleted) VALUES"
        " (1, 1, 1, 'one', CURRENT_TIMESTAMP, false), (1, 2, 1, '', CURRENT_TIMESTAMP, true),"
        " (1, 3, 1, 'three', CURRENT_TIMESTAMP, false), (2, 1, 1, 'b1', CURRENT_TIMESTAMP, false)",
    )
    run_alembic(url, "upgrade", "head")
    assert await execute(
        url, "SELECT room_id, seq, rev, created_rev FROM messages ORDER BY room_id, seq"
    ) == [(1, 1, 1, 1), (1, 2, 2, 2), (1, 3, 3, 3), (2, 1, 1, 1)]
    assert await execute(url, "SELECT id, last_seq, last_rev FROM rooms ORDER BY id") == [
        (1, 3, 3),
        (2, 1, 1),
        (3, 0, 0),
    ]
    # The new rev index holds: one message per (room, rev).
    with pytest.raises(IntegrityError):
        await execute(
            url,
            "INSERT INTO messages (room_id, seq, rev, created_rev, author_id, body, created_at,"
            " deleted) VALUES (1, 4, 3, 3, 1, 'clash', CURRENT_TIMESTAMP, false)",
        )

    run_alembic(url, "downgrade", "0002")
    assert {"rev", "created_rev"}.isdisjoint(await column_names(url, "messages"))
    assert "last_rev" not in await column_names(url, "rooms")
    assert await execute(url, "SELECT count(*) FROM messages") == [(4,)]
    run_alembic(url, "upgrade", "head")
    assert await execute(url, "SELECT max(rev) FROM messages WHERE room_id = 1") == [(3,)]


async def test_conversations_migration_keeps_existing_rooms_and_messages(
    empty_database_url: str,
) -> None:
    """0004 on a database with rooms and messages: old messages become roots with no replies
    (reply_count 0), old rooms plain rooms; the reaction and mention tables hold their
    unique keys; downgrade keeps the rows."""
    url = empty_database_url
    run_alembic(url, "upgrade", "0003")
    await execute(
        url,
        "INSERT INTO users (id, username, username_key, display_name, password_hash, created_at)"
        " VALUES (1, 'old', 'old', 'old', 'x', CURRENT_TIMESTAMP)",
        "INSERT INTO rooms (id, name, name_key, topic, visibility, created_by, created_at,"
        " last_seq, last_rev) VALUES (1, 'a', 'a', '', 'public', 1, CURRENT_TIMESTAMP, 1, 1)",
        "INSERT INTO messages (id, room_id, seq, rev, created_rev, author_id, body, created_at,"
        " deleted) VALUES (1, 1, 1, 1, 1, 1, 'one', CURRENT_TIMESTAMP, false)",
    )
    run_alembic(url, "upgrade", "head")
    assert await execute(url, "SELECT reply_to_id, reply_count, last_reply_at FROM messages") == [
        (None, 0, None)
    ]
    assert await execute(url, "SELECT kind FROM rooms") == [("room",)]
    await execute(
        url,
        "INSERT INTO message_reactions (message_id, user_id, emoji, emoji_rev, created_at)"
        " VALUES (1, 1, 'x', 2, CURRENT_TIMESTAMP)",
        "INSERT INTO message_mentions (message_id, user_id, room_id, seq, position)"
        " VALUES (1, 1, 1, 1, 0)",
    )
    with pytest.raises(IntegrityError):
        await execute(
            url,
            "INSERT INTO message_reactions (message_id, user_id, emoji, emoji_rev, created_at)"
            " VALUES (1, 1, 'x', 3, CURRENT_TIMESTAMP)",
        )
    run_alembic(url, "downgrade", "0003")
    assert {"reply_to_id", "reply_count", "last_reply_at"}.isdisjoint(
        await column_names(url, "messages")
    )
    assert "kind" not in await column_names(url, "rooms")
    assert {"message_reactions", "message_mentions"}.isdisjoint(await table_names(url))
    assert await execute(url, "SELECT count(*) FROM messages") == [(1,)]
    run_alembic(url, "upgrade", "head")


async def test_bots_migration_keeps_people_and_their_messages(empty_database_url: str) -> None:
    """0005 on a database with people, rooms, memberships and messages: everyone becomes a
    person (not a bot, no owner, not deleted) and nothing else changes; api_keys holds its
    unique keys; downgrade keeps every row that points at a user (SQLite must not rebuild
    `users`)."""
    url = empty_database_url
    run_alembic(url, "upgrade", "0004")
    await execute(
        url,
        "INSERT INTO users (id, username, username_key, display_name, password_hash, created_at)"
        " VALUES (1, 'old', 'old', 'old', 'x', CURRENT_TIMESTAMP)",
        "INSERT INTO rooms (id, name, name_key, topic, visibility, created_by, created_at,"
        " last_seq, last_rev) VALUES (1, 'a', 'a', '', 'public', 1, CURRENT_TIMESTAMP, 1, 1)",
        "INSERT INTO room_members (room_id, user_id, role, joined_at, last_read_seq)"
        " VALUES (1, 1, 'owner', CURRENT_TIMESTAMP, 0)",
        "INSERT INTO messages (id, room_id, seq, rev, created_rev, author_id, body, created_at,"
        " deleted) VALUES (1, 1, 1, 1, 1, 1, 'one', CURRENT_TIMESTAMP, false)",
        "INSERT INTO auth_sessions (id, user_id, created_at, expires_at)"
        " VALUES (1, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    run_alembic(url, "upgrade", "head")
    assert await execute(url, "SELECT is_bot, deleted_at FROM users") == [(False, None)]
    await execute(
        url,
        "INSERT INTO users (id, username, username_key, display_name, password_hash, created_at,"
        " is_bot) VALUES (2, 'bot', 'bot', 'bot', '!', CURRENT_TIMESTAMP, true)",
        "INSERT INTO bots (user_id, owner_id, created_at) VALUES (2, 1, CURRENT_TIMESTAMP)",
        "INSERT INTO auth_sessions (id, user_id, created_at, expires_at)"
        " VALUES (2, 2, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO api_keys (key_id, key_hash, user_id, session_id, created_at)"
        " VALUES ('k1', 'h', 2, 2, CURRENT_TIMESTAMP)",
    )
    with pytest.raises(IntegrityError):
        await execute(
            url,
            "INSERT INTO api_keys (key_id, key_hash, user_id, session_id, created_at)"
            " VALUES ('k1', 'h', 2, 1, CURRENT_TIMESTAMP)",
        )
    run_alembic(url, "downgrade", "0004")
    assert {"is_bot", "deleted_at"}.isdisjoint(await column_names(url, "users"))
    assert {"api_keys", "bots"}.isdisjoint(await table_names(url))
    for table, rows in (("users", 2), ("room_members", 1), ("messages", 1), ("auth_sessions", 2)):
        assert await execute(url, f"SELECT count(*) FROM {table}") == [(rows,)], table
    assert await execute(url, "SELECT body FROM messages") == [("one",)]
    run_alembic(url, "upgrade", "head")
