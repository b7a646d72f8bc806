from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    # Lower-cased copy that carries the uniqueness, so "Alice" and "alice" are one account.
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    # A bot has no password: NO_PASSWORD matches no hash, and bots are refused before any
    # password check anyway (they authenticate with API keys, see app/bots).
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A bot account (its owner and keys: app/bots/models.py).
    is_bot: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set when a bot is deleted: the row stays so that its messages keep their author.
    deleted_at: Mapped[datetime | None]


NO_PASSWORD = "!"
