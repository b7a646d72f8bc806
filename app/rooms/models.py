from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, utcnow


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class RoomKind(StrEnum):
    ROOM = "room"
    DM = "dm"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (
        CheckConstraint("visibility IN ('public', 'private')", name="visibility"),
        CheckConstraint("last_seq >= 0", name="last_seq_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # Lower-cased copy that carries the uniqueness: "General" and "general" are one room.
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(500), default="")
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.PUBLIC.value)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The newest message's seq. Advanced inside the storing transaction (the row lock is what
    # makes seq gapless and unique under concurrent writers).
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The room's change number: every change to one of its messages takes the next one,
    # inside the transaction that makes the change (same row lock as last_seq).
    last_rev: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # "dm": a direct conversation of exactly two people, named `dm:<low id>:<high id>` (a
    # name no client can choose: names allow no `:`), whose unique name_key keeps it one.
    kind: Mapped[str] = mapped_column(String(8), default=RoomKind.ROOM.value, server_default="room")
    # Whether changes to the room's messages are also appended to `room_changes` (the change
    # log webhooks are delivered from): true while the room has a webhook. Read under the row
    # lock every change takes, so a change and a webhook's creation never miss each other.
    log_changes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class Membership(Base):
    __tablename__ = "room_members"
    __table_args__ = (CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),)

    room_id: Mapped[int] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER.value)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Highest seq this member has read; unread counts are the messages after it.
    last_read_seq: Mapped[int] = mapped_column(BigInteger, default=0)
