from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
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
    )

    id: Mapped[int] = mapped_column(MessageId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
