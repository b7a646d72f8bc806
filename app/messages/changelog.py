"""The room's change log (`room_changes`): every change to a room's messages, in `rev` order,
appended in the transaction that makes it, while the room has a webhook (`log_changes`).

The hot path (plain sends) appends in its own statement (`pg_store.STORE`) or transaction
(`session_store`); every other change calls `record` here, after it has taken its `rev`
(so under the room's row lock, which also orders it against a webhook being created).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import utcnow
from app.messages.models import RoomChange
from app.rooms.models import Room

MESSAGE_CREATED: Final = "message.created"
MESSAGE_UPDATED: Final = "message.updated"
MESSAGE_DELETED: Final = "message.deleted"
REACTION: Final = "reaction"
MENTION: Final = "mention"
EVENTS: Final = (MESSAGE_CREATED, MESSAGE_UPDATED, MESSAGE_DELETED, REACTION, MENTION)

# Session.info key: {room_id: log_changes} read once per transaction (the row lock the change
# holds keeps it from changing before the commit).
_LOGGED = "parley.log_changes"


async def logging_changes(session: AsyncSession, room_id: int) -> bool:
    """Whether the room's changes are logged; call it after taking the room's row lock."""
    cache: dict[int, bool] = session.info.setdefault(_LOGGED, {})
    if room_id not in cache:
        cache[room_id] = bool(
            await session.scalar(select(Room.log_changes).where(Room.id == room_id))
        )
    return cache[room_id]


async def record(
    session: AsyncSession,
    *,
    room_id: int,
    rev: int,
    event: str,
    message_id: int,
    message_json: str,
    detail: dict[str, object] | None = None,
) -> None:
    """Append one change (if the room logs them). A `mention` shares its message's rev."""
    if not await logging_changes(session, room_id):
        return
    await session.execute(
        insert(RoomChange).values(
            room_id=room_id,
            rev=rev,
            part=1 if event == MENTION else 0,
            event=event,
            message_id=message_id,
            message=message_json,
            detail=orjson.dumps(detail).decode() if detail is not None else None,
            created_at=utcnow(),
        )
    )


async def record_mention(
    session: AsyncSession,
    *,
    room_id: int,
    rev: int,
    message_id: int,
    message_json: str,
    user_ids: Sequence[int],
) -> None:
    """The `mention` a new or edited message causes, naming the users it newly mentions
    (never its author); nothing when there are none."""
    if user_ids:
        await record(
            session,
            room_id=room_id,
            rev=rev,
            event=MENTION,
            message_id=message_id,
            message_json=message_json,
            detail={"user_ids": list(user_ids)},
        )
