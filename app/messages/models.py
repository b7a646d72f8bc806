from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
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
        # Unread counts: last_seq - last_read_seq, less the deleted messages after the marker
        # and the reader's own (two short range counts; see app/rooms/service.py).
        Index(
            "ix_messages_deleted_room_seq",
            "room_id",
            "seq",
            postgresql_where=text("deleted"),
            sqlite_where=text("deleted = 1"),
        ),
        Index(
            "ix_messages_author_room_seq",
            "author_id",
            "room_id",
            "seq",
            postgresql_where=text("NOT deleted"),
            sqlite_where=text("deleted = 0"),
        ),
        # A thread's replies in seq order, straight from the index.
        Index("ix_messages_reply_to_id_seq", "reply_to_id", "seq"),
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
    # Threads are one level deep: a reply names its root, never another reply. No foreign
    # key: messages are only ever removed with their room, which takes the whole thread.
    reply_to_id: Mapped[int | None] = mapped_column(BigInteger)
    # Replies to this root (deleted ones included), kept under the room's row lock.
    reply_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_reply_at: Mapped[datetime | None]


class Reaction(Base):
    """One user's reaction with one emoji; the unique key makes a count exact whatever the
    concurrency (reacting again is a no-op, never a second row)."""

    __tablename__ = "message_reactions"
    __table_args__ = (UniqueConstraint("message_id", "user_id", "emoji"),)

    id: Mapped[int] = mapped_column(MessageId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    emoji: Mapped[str] = mapped_column(String(128))
    # The rev at which this emoji (re)appeared on the message: emoji are listed in that order,
    # so one that fell to zero and came back goes last.
    emoji_rev: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mention(Base):
    """A member named in a message. (user_id, room_id, seq) makes `mention_count` a short
    range scan from the user's read marker."""

    __tablename__ = "message_mentions"
    __table_args__ = (Index("ix_message_mentions_user_room_seq", "user_id", "room_id", "seq"),)

    message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    room_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    # Order of first appearance in the body.
    position: Mapped[int] = mapped_column(Integer)


class RoomChange(Base):
    """One entry of a room's change log: append-only, written in the transaction that makes
    the change, and only while the room's `log_changes` is set (it has a webhook).

    A message row keeps only its latest change; this keeps every one, with its kind, so a
    webhook is delivered each change it subscribed to, in order, even when several changes
    to one message happen before it is delivered. `part` orders the entries of one `rev`:
    0 is the change itself, 1 the `mention` a new or edited message causes.
    """

    __tablename__ = "room_changes"

    room_id: Mapped[int] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    rev: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    # No foreign key: messages go only with their room, which takes its log with it.
    message_id: Mapped[int] = mapped_column(BigInteger)
    # The message as this change left it (MessageRead JSON). NULL for a plain new message
    # stored by the hot path, which logs only `body`: its JSON as created is rebuilt from
    # the message's fixed fields (a plain send has no reply, mentions or reactions yet).
    message: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    # JSON: a mention's `user_ids`, a reaction's emoji, user and whether it was added.
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
