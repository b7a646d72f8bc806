from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, utcnow


class Bot(Base):
    """What makes a user (`User.is_bot`) a bot: the person who manages it.

    A table of its own rather than a column of `users`, so that adding it never rebuilds
    `users` on SQLite (which would drop and recreate the table every row points at)."""

    __tablename__ = "bots"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A bot's API key, stored as a hash. Each key has an auth session of its own: revoking
    that session (rotation, deletion) ends the key, and its sockets close like any revoked
    session's (`events.session_revoked`)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The public part of the key (`pk_<key_id>_…`): found by one indexed lookup.
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    # SHA-256 of the whole key, hex. The key carries 256 random bits, so a fast hash is
    # enough (nothing to brute-force), and the plaintext is kept nowhere.
    key_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
