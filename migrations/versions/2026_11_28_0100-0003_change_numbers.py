"""the room's change number: rooms.last_rev, messages.rev and messages.created_rev

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 01:00:00+00:00

Existing messages are backfilled as if each was created and never changed since:
rev = created_rev = seq, and each room's last_rev = last_seq. So a client that resumes
with `since_rev` = a seq it knows gets exactly what came after it.

SQLite cannot make an added column NOT NULL without rebuilding the table (which would drop
the full-text triggers), so there the new message columns keep a DEFAULT 0 that the
application never relies on (every insert names them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "rooms", sa.Column("last_rev", sa.BigInteger(), server_default="0", nullable=False)
    )
    for column in ("rev", "created_rev"):
        if postgres:  # made NOT NULL once backfilled
            op.add_column("messages", sa.Column(column, sa.BigInteger(), nullable=True))
        else:
            op.add_column(
                "messages",
                sa.Column(column, sa.BigInteger(), server_default="0", nullable=False),
            )
    op.execute("UPDATE messages SET rev = seq, created_rev = seq")
    op.execute("UPDATE rooms SET last_rev = last_seq")
    if postgres:
        op.alter_column("messages", "rev", nullable=False)
        op.alter_column("messages", "created_rev", nullable=False)
    op.create_index("uq_messages_room_id_rev", "messages", ["room_id", "rev"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_messages_room_id_rev", table_name="messages")
    op.drop_column("messages", "created_rev")
    op.drop_column("messages", "rev")
    op.drop_column("rooms", "last_rev")
