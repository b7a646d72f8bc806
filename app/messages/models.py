from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, utcnow

# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
MessageId = BigInteger().with_variant(Integer(), "sqlite")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Also the index every history query walks: (room_id, seq).
        UniqueConstraint("room_id", "seq"),
        # Idempotent sends: one message per (author, client_id); NULL client_ids never clash.
        UniqueConstraint("author_id", "client_id"),
        # "The changes after R" is a range scan on it; unique because a message keeps only
        # its latest change number, so each rev belongs to at most one message.
        Index("uq_messages_room_id_rev", "room_id", "rev", unique=True),
    )

    id: Mapped[int] = mapped_column(MessageId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    # The room's change number of this message's latest change (creation, edit, delete...).
    rev: Mapped[int] = mapped_column(BigInteger)
    # The change number it was created with: a change after R is a new message iff
    # created_rev > R (the replay sends it as `message`, not `message.updated`).
    created_rev: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
