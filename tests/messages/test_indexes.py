"""History queries walk the (room_id, seq) index; the planners say so."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.messages.models import Message
from app.messages.search import SEARCH_CONFIG
from app.rooms.models import Membership, Room
from app.rooms.service import unread_count_expression

HISTORY = (
    "SELECT id, seq FROM messages WHERE room_id = :room AND seq < :before "
    "ORDER BY seq DESC LIMIT 51"
)


async def fill(connection: AsyncConnection, rooms: int = 4, per_room: int = 2500) -> None:
    await connection.execute(
        text(
            "INSERT INTO users (id, username, username_key, display_name, password_hash,"
            " created_at)"
            " VALUES (424242, 'planner', 'planner', 'planner', 'x', CURRENT_TIMESTAMP)"
        )
    )
    for room in range(1, rooms + 1):
        await connection.execute(
            text(
                "INSERT INTO rooms (id, name, name_key, topic, visibility, created_by, created_at,"
                " last_seq) VALUES (:id, :name, :name, '', 'public', 424242, CURRENT_TIMESTAMP, :n)"
            ),
            {"id": 424242 + room, "name": f"planner-{room}", "n": per_room},
        )
        await connection.execute(
            text(
                "INSERT INTO messages (room_id, seq, rev, created_rev, author_id, body,"
                " created_at, deleted)"
                " VALUES (:room, :seq, :seq, :seq, 424242, 'x', CURRENT_TIMESTAMP, false)"
            ),
            [{"room": 424242 + room, "seq": seq} for seq in range(1, per_room + 1)],
        )


async def test_history_uses_the_room_seq_index(connection: AsyncConnection, backend: str) -> None:
    await fill(connection)
    params = {"room": 424243, "before": 2000}
    if backend == "postgresql":
        await connection.execute(text("ANALYZE messages"))
        plan = "\n".join((await connection.execute(text(f"EXPLAIN {HISTORY}"), params)).scalars())
        assert "Index Scan Backward using uq_messages_room_id_seq" in plan, plan
        assert "Seq Scan" not in plan
        assert "Sort" not in plan
    else:
        rows = (await connection.execute(text(f"EXPLAIN QUERY PLAN {HISTORY}"), params)).all()
        plan = "\n".join(str(row[-1]) for row in rows)
        # SQLite names a unique constraint's index itself; check the one it uses is ours.
        used = re.search(
            r"SEARCH messages USING (?:COVERING )?INDEX (\S+) \(room_id=\? AND seq<\?\)", plan
        )
        assert used, plan
        columns = (await connection.execute(text(f"PRAGMA index_info('{used[1]}')"))).all()
        assert [column[2] for column in columns] == ["room_id", "seq"]
        assert "TEMP B-TREE" not in plan


CHANGES = (
    "SELECT id, rev FROM messages WHERE room_id = :room AND rev > :after ORDER BY rev LIMIT 101"
)


async def test_changes_after_a_rev_walk_the_room_rev_index(
    connection: AsyncConnection, backend: str
) -> None:
    await fill(connection)
    params = {"room": 424243, "after": 2400}
    if backend == "postgresql":
        await connection.execute(text("ANALYZE messages"))
        plan = "\n".join((await connection.execute(text(f"EXPLAIN {CHANGES}"), params)).scalars())
        assert "Index Scan using uq_messages_room_id_rev" in plan, plan
        assert "Seq Scan" not in plan
        assert "Sort" not in plan
    else:
        rows = (await connection.execute(text(f"EXPLAIN QUERY PLAN {CHANGES}"), params)).all()
        plan = "\n".join(str(row[-1]) for row in rows)
        assert "INDEX uq_messages_room_id_rev (room_id=? AND rev>?)" in plan, plan
        assert "TEMP B-TREE" not in plan


async def plan_of(connection: AsyncConnection, backend: str, statement: Select[Any]) -> str:
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    if backend == "postgresql":
        await connection.execute(text("ANALYZE messages"))
        return "\n".join((await connection.execute(text(f"EXPLAIN {sql}"))).scalars())
    rows = (await connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all()
    return "\n".join(str(row[-1]) for row in rows)


async def test_unread_counts_read_two_partial_indexes_not_every_unread_message(
    connection: AsyncConnection, backend: str
) -> None:
    await fill(connection)
    await connection.execute(
        text(
            "INSERT INTO users (id, username, username_key, display_name, password_hash,"
            " created_at) VALUES (424241, 'reader', 'reader', 'reader', 'x', CURRENT_TIMESTAMP)"
        )
    )
    # A reader who never read the room: every one of its 2,500 messages is unread.
    await connection.execute(
        text(
            "INSERT INTO room_members (room_id, user_id, role, joined_at, last_read_seq)"
            " VALUES (424243, 424241, 'member', CURRENT_TIMESTAMP, 0)"
        )
    )
    await connection.execute(
        text(
            "UPDATE messages SET deleted = true, body = '' WHERE room_id = 424243 AND seq % 97 = 0"
        )
    )
    statement = (
        select(unread_count_expression(424241))
        .select_from(Membership)
        .join(Room, Room.id == Membership.room_id)
        .where(Membership.room_id == 424243, Membership.user_id == 424241)
    )
    plan = await plan_of(connection, backend, statement)
    assert "ix_messages_deleted_room_seq" in plan, plan
    assert "ix_messages_author_room_seq" in plan, plan
    assert "uq_messages_room_id_seq" not in plan, plan
    assert "Seq Scan on messages" not in plan, plan
    assert "SCAN messages" not in plan, plan


async def test_a_thread_page_is_read_in_seq_order_from_its_index(
    connection: AsyncConnection, backend: str
) -> None:
    await fill(connection)
    await connection.execute(
        text("UPDATE messages SET reply_to_id = 7 WHERE room_id = 424243 AND seq % 10 = 0")
    )
    statement = (
        select(Message.id)
        .where(Message.reply_to_id == 7, Message.seq > 100)
        .order_by(Message.seq)
        .limit(51)
    )
    plan = await plan_of(connection, backend, statement)
    assert "ix_messages_reply_to_id_seq" in plan, plan
    assert "Sort" not in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@pytest.mark.postgres_only
async def test_search_in_a_room_uses_the_room_scoped_text_index(
    connection: AsyncConnection, backend: str
) -> None:
    await fill(connection)
    await connection.execute(
        text("UPDATE messages SET body = 'a rare zebra' WHERE room_id = 424243 AND seq % 500 = 0")
    )
    document = func.to_tsvector(SEARCH_CONFIG, Message.body)
    statement = select(Message.id).where(
        Message.room_id == 424243,
        Message.deleted.is_(False),
        document.op("@@")(func.websearch_to_tsquery(SEARCH_CONFIG, "zebra")),
    )
    plan = await plan_of(connection, backend, statement)
    assert "ix_messages_room_search" in plan, plan
