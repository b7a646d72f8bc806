"""conversations: reactions, replies and threads, mentions, direct messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 02:00:00+00:00

Existing messages become roots with no replies, existing rooms plain rooms (server
defaults); the new tables start empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MessageId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("messages", sa.Column("reply_to_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "messages", sa.Column("reply_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("messages", sa.Column("last_reply_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_reply_to_id", "messages", ["reply_to_id"])
    op.add_column("rooms", sa.Column("kind", sa.String(8), server_default="room", nullable=False))
    op.create_table(
        "message_reactions",
        sa.Column("id", MessageId, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("emoji", sa.String(128), nullable=False),
        sa.Column("emoji_rev", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_reactions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_message_reactions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_reactions")),
        sa.UniqueConstraint(
            "message_id",
            "user_id",
            "emoji",
            name=op.f("uq_message_reactions_message_id_user_id_emoji"),
        ),
    )
    op.create_table(
        "message_mentions",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_mentions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_message_mentions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", name=op.f("pk_message_mentions")),
    )
    op.create_index(
        "ix_message_mentions_user_room_seq", "message_mentions", ["user_id", "room_id", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_message_mentions_user_room_seq", table_name="message_mentions")
    op.drop_table("message_mentions")
    op.drop_table("message_reactions")
    op.drop_column("rooms", "kind")
    op.drop_index("ix_messages_reply_to_id", table_name="messages")
    op.drop_column("messages", "last_reply_at")
    op.drop_column("messages", "reply_count")
    op.drop_column("messages", "reply_to_id")
