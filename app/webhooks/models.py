from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, utcnow

RowId = BigInteger().with_variant(Integer(), "sqlite")

MAX_URL_LENGTH = 2048


class State(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # after WEBHOOK_MAX_FAILURES consecutive failures, or by hand


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (CheckConstraint("state IN ('active', 'disabled')", name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    # Comma-separated, in the order the client gave them.
    events: Mapped[str] = mapped_column(String(200))
    # The signing secret, encrypted with a key derived from SECRET_KEY (`secret_box`).
    secret: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=State.ACTIVE.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The last change delivered (or skipped: not subscribed), as (rev, part) of room_changes.
    cursor_rev: Mapped[int] = mapped_column(BigInteger)
    cursor_part: Mapped[int] = mapped_column(SmallInteger)
    # Consecutive failed attempts at the change after the cursor; the next is attempt + 1.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None]
    # The process delivering it, until lease_expires_at (renewed before every attempt).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]


class Delivery(Base):
    """One attempt and its answer; only the newest WEBHOOK_DELIVERY_LOG_SIZE are kept."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    rev: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
