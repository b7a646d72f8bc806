"""History, edits and deletes. New messages are stored by the group committer."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import defer_event, utcnow
from app.core.errors import Conflict, NotFound
from app.delivery import events, frames
from app.messages.models import Message
from app.messages.schemas import MessageRead
from app.rooms import permissions
from app.rooms.service import get_membership
from app.users.models import User
from app.users.schemas import UserRead

DEFAULT_PAGE = 50
MAX_PAGE = 200


class MessageNotFound(NotFound):
    default_detail = "Message not found."


class MessageDeleted(Conflict):
    default_detail = "That message was deleted."


def message_read(message: Message, author: User | UserRead) -> MessageRead:
    return MessageRead(
        id=message.id,
        room_id=message.room_id,
        seq=message.seq,
        author=author if isinstance(author, UserRead) else UserRead.model_validate(author),
        body=message.body,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted=message.deleted,
        client_id=message.client_id,
    )


def _with_authors(rows: Iterable[tuple[Message, User]]) -> list[MessageRead]:
    return [message_read(message, author) for message, author in rows]


async def fetch_range(
    session: AsyncSession, room_id: int, *, after_seq: int, upto_seq: int, limit: int
) -> list[MessageRead]:
    """Messages with after_seq < seq <= upto_seq, ascending (replay and gap filling)."""
    rows = await session.execute(
        select(Message, User)
        .join(User, User.id == Message.author_id)
        .where(Message.room_id == room_id, Message.seq > after_seq, Message.seq <= upto_seq)
        .order_by(Message.seq)
        .limit(limit)
    )
    return _with_authors(rows)


async def list_history(
    session: AsyncSession,
    actor: User,
    room_id: int,
    *,
    before_seq: int | None,
    after_seq: int | None,
    limit: int,
) -> tuple[list[MessageRead], bool]:
    """A page of history in ascending seq, and whether more lies beyond it.

    No bounds: the newest `limit`. `before_seq`: the newest before it (has_more: older exist).
    `after_seq`: the oldest after it (has_more: newer exist). Both: from after_seq up.
    Deleted messages stay as tombstones so that seq has no holes.
    """
    await get_membership(session, room_id, actor.id)
    query = (
        select(Message, User)
        .join(User, User.id == Message.author_id)
        .where(Message.room_id == room_id)
    )
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    if after_seq is not None:
        query = query.where(Message.seq > after_seq)
    ascending = after_seq is not None
    query = query.order_by(Message.seq if ascending else Message.seq.desc()).limit(limit + 1)
    rows = list(await session.execute(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not ascending:
        rows.reverse()
    return _with_authors(rows), has_more


async def _load_message(
    session: AsyncSession, room_id: int, message_id: int
) -> tuple[Message, User]:
    row = await session.execute(
        select(Message, User)
        .join(User, User.id == Message.author_id)
        .where(Message.id == message_id, Message.room_id == room_id)
    )
    found = row.one_or_none()
    if found is None:
        raise MessageNotFound()
    return found


async def edit_message(
    session: AsyncSession, actor: User, room_id: int, message_id: int, body: str
) -> MessageRead:
    await get_membership(session, room_id, actor.id)
    message, author = await _load_message(session, room_id, message_id)
    permissions.ensure_can_edit_message(actor.id, message.author_id)
    if message.deleted:
        raise MessageDeleted()
    if body != message.body:
        message.body = body
        message.edited_at = utcnow()
        await session.flush()
    result = message_read(message, author)
    defer_event(
        session,
        events.room_frame(room_id=room_id, frame=frames.message_updated(result.model_dump_json())),
    )
    return result


async def delete_message(session: AsyncSession, actor: User, room_id: int, message_id: int) -> None:
    """Soft delete: the body is emptied and `deleted` set; the seq stays taken."""
    _room, membership = await get_membership(session, room_id, actor.id)
    message, _author = await _load_message(session, room_id, message_id)
    permissions.ensure_can_delete_message(membership, message.author_id)
    if message.deleted:
        return
    message.body = ""
    message.deleted = True
    await session.flush()
    frame = frames.message_deleted(room_id=room_id, message_id=message.id, seq=message.seq)
    defer_event(session, events.room_frame(room_id=room_id, frame=frame))
