"""history at scale: indexes for unread counts, threads and room-scoped search

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-05 03:00:00+00:00

- `ix_messages_deleted_room_seq` (room_id, seq) WHERE deleted, and
  `ix_messages_author_room_seq` (author_id, room_id, seq) WHERE NOT deleted: an unread count
  becomes `last_seq - last_read_seq` less two short range counts (the deleted messages after
  the marker, and the caller's own), instead of counting every message after the marker.
- `ix_messages_reply_to_id_seq` (reply_to_id, seq) replaces `ix_messages_reply_to_id`: a
  thread page is read in seq order from the index, never sorted.
- PostgreSQL: `ix_messages_room_search`, a GIN index on (room_id, to_tsvector('english', body))
  (btree_gin, a trusted extension), replaces the body-only `ix_messages_body_search`: a search
  in one room no longer visits every room's matches. SQLite keeps its FTS5 table.

The partial indexes' predicates are spelled as each database's SQL for `deleted` / `NOT
deleted` (SQLite stores booleans as 0/1 and matches a partial index only on the same terms).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    deleted, live = ("deleted", "NOT deleted") if postgres else ("deleted = 1", "deleted = 0")
    op.create_index(
        "ix_messages_deleted_room_seq",
        "messages",
        ["room_id", "seq"],
        postgresql_where=sa.text(deleted),
        sqlite_where=sa.text(deleted),
    )
    op.create_index(
        "ix_messages_author_room_seq",
        "messages",
        ["author_id", "room_id", "seq"],
        postgresql_where=sa.text(live),
        sqlite_where=sa.text(live),
    )
    op.create_index("ix_messages_reply_to_id_seq", "messages", ["reply_to_id", "seq"])
    op.drop_index("ix_messages_reply_to_id", table_name="messages")
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        op.execute(
            "CREATE INDEX ix_messages_room_search ON messages "
            "USING gin (room_id, to_tsvector('english'::regconfig, body))"
        )
        op.execute("DROP INDEX IF EXISTS ix_messages_body_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_messages_body_search ON messages "
            "USING gin (to_tsvector('english'::regconfig, body))"
        )
        op.execute("DROP INDEX IF EXISTS ix_messages_room_search")
        op.execute("DROP EXTENSION IF EXISTS btree_gin")
    op.create_index("ix_messages_reply_to_id", "messages", ["reply_to_id"])
    op.drop_index("ix_messages_reply_to_id_seq", table_name="messages")
    op.drop_index("ix_messages_author_room_seq", table_name="messages")
    op.drop_index("ix_messages_deleted_room_seq", table_name="messages")
