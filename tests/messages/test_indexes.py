"""History queries walk the (room_id, seq) index; the planners say so."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
