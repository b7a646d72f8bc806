"""What a delivery says: its stable id and its JSON body, built from a change-log entry.

Body: `{"id", "event", "room_id", "rev", "message", "created_at"}` where `message` is the
message as that change left it (not as it is now: an edit made later is its own delivery),
and `created_at` the time of the change. A `mention` adds `user_ids` (the users it newly
mentions), a `reaction` adds `reaction` (`emoji`, `user_id`, `added`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.messages.models import Message, RoomChange
from app.messages.sends import message_json
from app.users.models import User
from app.users.schemas import UserRead

PING = "ping"
# Delivery ids are derived, not stored: the same webhook, rev and event always give the same
# id, so an attempt repeated after a restart carries the id the receiver may have seen.
NAMESPACE = uuid.UUID("5d4a3f0e-8c1b-4f5e-9a57-3b2b1f6c9e21")


def delivery_id(*, webhook_id: int, rev: int, event: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{webhook_id}/{rev}/{event}"))


@dataclass(frozen=True, slots=True)
class Outgoing:
    delivery_id: str
    event: str
    rev: int
    part: int
    body: bytes
    changed_at: datetime


def encode(
    *,
    delivery: str,
    event: str,
    room_id: int,
    rev: int,
    message: str | None,
    created_at: datetime,
    extra: dict[str, object] | None = None,
) -> bytes:
    return orjson.dumps(
        {
            "id": delivery,
            "event": event,
            "room_id": room_id,
            "rev": rev,
            "message": orjson.Fragment(message) if message is not None else None,
            "created_at": created_at,
            **(extra or {}),
        },
        option=orjson.OPT_UTC_Z,
    )


async def build(session: AsyncSession, webhook_id: int, change: RoomChange) -> Outgoing:
    message = change.message
    if message is None:
        message = await _as_created(session, change)
    extra: dict[str, object] = {}
    if change.detail is not None:
        detail = orjson.loads(change.detail)
        extra = {"reaction": detail} if change.event == "reaction" else dict(detail)
    delivery = delivery_id(webhook_id=webhook_id, rev=change.rev, event=change.event)
    body = encode(
        delivery=delivery,
        event=change.event,
        room_id=change.room_id,
        rev=change.rev,
        message=message,
        created_at=change.created_at,
        extra=extra,
    )
    return Outgoing(delivery, change.event, change.rev, change.part, body, change.created_at)


async def _as_created(session: AsyncSession, change: RoomChange) -> str:
    """A plain new message logged by the hot path (its body only), as it was created: a plain
    send has no reply, mentions or reactions, and its other fields never change."""
    row = (
        await session.execute(
            select(Message, User)
            .join(User, User.id == Message.author_id)
            .where(Message.id == change.message_id)
        )
    ).one()
    message, author = row
    return message_json(
        message_id=message.id,
        room_id=message.room_id,
        seq=message.seq,
        rev=change.rev,
        author_json=UserRead.model_validate(author).model_dump_json(),
        body=change.body or "",
        created_at=message.created_at,
        edited_at=None,
        deleted=False,
        client_id=message.client_id,
    )
