"""0007 (history indexes) up and down on a database that holds messages, on both databases."""

from __future__ import annotations

from sqlalchemy import inspect

from app.core.database import create_disposable_engine
from tests.support.databases import run_alembic
from tests.test_migrations import execute

NEW = {"ix_messages_deleted_room_seq", "ix_messages_author_room_seq", "ix_messages_reply_to_id_seq"}


async def message_indexes(url: str) -> set[str]:
    engine = create_disposable_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda sync: inspect(sync).get_indexes("messages"))
            names = {index["name"] for index in found}
            if engine.dialect.name == "postgresql":  # expression indexes: not all inspectable
                rows = await conn.exec_driver_sql(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'messages'"
                )
                names |= {row[0] for row in rows}
            return {name for name in names if name}
    finally:
        await engine.dispose()


async def test_0007_builds_and_drops_the_history_indexes_over_existing_messages(
    empty_database_url: str, backend: str
) -> None:
    url = empty_database_url
    run_alembic(url, "upgrade", "0004")
    await execute(
        url,
        "INSERT INTO users (id, username, username_key, display_name, password_hash, created_at)"
        " VALUES (1, 'old', 'old', 'old', 'x', CURRENT_TIMESTAMP)",
        "INSERT INTO rooms (id, name, name_key, topic, visibility, created_by, created_at,"
        " last_seq, last_rev) VALUES (1, 'a', 'a', '', 'public', 1, CURRENT_TIMESTAMP, 2, 2)",
        "INSERT INTO messages (room_id, seq, rev, created_rev, author_id, body, created_at,"
        " deleted) VALUES (1, 1, 1, 1, 1, 'deploy now', CURRENT_TIMESTAMP, false),"
        " (1, 2, 2, 2, 1, '', CURRENT_TIMESTAMP, true)",
    )
    before = await message_indexes(url)
    assert "ix_messages_reply_to_id" in before
    assert not NEW & before

    run_alembic(url, "upgrade", "0007")
    after = await message_indexes(url)
    assert after >= NEW
    assert "ix_messages_reply_to_id" not in after
    if backend == "postgresql":
        assert "ix_messages_room_search" in after
        assert "ix_messages_body_search" not in after
        assert await execute(
            url,
            "SELECT id FROM messages WHERE room_id = 1 AND "
            "to_tsvector('english'::regconfig, body) @@ websearch_to_tsquery('english', 'deploy')",
        ) == [(1,)]

    run_alembic(url, "downgrade", "-1")
    undone = await message_indexes(url)
    assert not NEW & undone
    assert "ix_messages_reply_to_id" in undone
    if backend == "postgresql":
        assert "ix_messages_body_search" in undone
        assert "ix_messages_room_search" not in undone
    assert await execute(url, "SELECT count(*) FROM messages") == [(2,)]
