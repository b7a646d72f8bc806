"""Imports every model so that `Base.metadata` is complete (Alembic and tests use it)."""

from __future__ import annotations

from typing import Any

from app.auth.models import AuthSession, RefreshToken
from app.bots.models import ApiKey, Bot
from app.core.database import Base
from app.messages.models import Mention, Message, Reaction, RoomChange
from app.rooms.models import Membership, Room
from app.users.models import User
from app.webhooks.models import Delivery, Webhook

__all__ = [
    "ApiKey",
    "AuthSession",
    "Base",
    "Bot",
    "Delivery",
    "Membership",
    "Mention",
    "Message",
    "Reaction",
    "RefreshToken",
    "Room",
    "RoomChange",
    "User",
    "Webhook",
    "include_in_autogenerate",
]

# Objects that exist only in raw SQL in the migrations (full-text search), with no model.
RAW_SQL_OBJECTS = ("messages_fts", "ix_messages_body_search", "ix_messages_room_search")


def include_in_autogenerate(name: str | None, _type: str, _parent: Any) -> bool:
    if name is None:
        return True
    return not any(name == raw or name.startswith(f"{raw}_") for raw in RAW_SQL_OBJECTS)
