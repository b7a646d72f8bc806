"""History, edits and deletes. New messages are stored by the group committer."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import defer_event, utcnow
from app.core.errors import Conflict, NotFound
from app.delivery import events, frames
from app.messages.models import Message
from app.messages.schemas import MessageRead
from app.rooms import permissions
from app.rooms.models import Room
from app.rooms.service import get_membership
from app.users.models import User
from app.users.schemas import UserRead

DEFAULT_PAGE = 50
MAX_PAGE = 200
DEFAULT_CHANGES_PAGE = 100
MAX_CHANGES_PAGE = 1000


class MessageNotFound(NotFound):
    default_detail = "Message not found."


class MessageDeleted(Conflict):
    default_detail = "That message was deleted."


def message_read(message: Message, author: User | UserRead) -> MessageRead:
    return MessageRead(
        id=message.id,
        room_id=message.room_id,
        seq=message.seq,
        rev=message.rev,
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


async def fetch_changes(
    session: AsyncSession,
    room_id: int,
    *,
    after_rev: int,
    upto_rev: int | None = None,
    limit: int,
) -> list[tuple[MessageRead, int]]:
    """The changes after `after_rev` (up to `upto_rev`): each message whose latest change
    falls there, once, in its current state, in rev order; with its created_rev."""
    query = (
        select(Message, User)
        .join(User, User.id == Message.author_id)
        .where(Message.room_id == room_id, Message.rev > after_rev)
    )
    if upto_rev is not None:
        query = query.where(Message.rev <= upto_rev)
    rows = await session.execute(query.order_by(Message.rev).limit(limit))
    return [(message_read(message, author), message.created_rev) for message, author in rows]


def change_frame(message: MessageRead, *, created_rev: int, after_rev: int) -> str:
    """How a change after `after_rev` reaches a client that has everything up to it: a
    message created since is new to it (`message`, a tombstone if deleted since); an older
    one was either deleted or otherwise changed."""
    if created_rev > after_rev:
        return frames.message(message.model_dump_json())
    if message.deleted:
        return frames.message_deleted(
            room_id=message.room_id, message_id=message.id, seq=message.seq, rev=message.rev
        )
    return frames.message_updated(message.model_dump_json())


async def list_changes(
    session: AsyncSession, actor: User, room_id: int, *, after_rev: int, limit: int
) -> tuple[list[MessageRead], int, bool]:
    """A page of the changes after `after_rev`, the next after_rev, and whether more exist."""
    await get_membership(session, room_id, actor.id)
    rows = await fetch_changes(session, room_id, after_rev=after_rev, limit=limit + 1)
    messages = [message for message, _created_rev in rows[:limit]]
    return messages, messages[-1].rev if messages else after_rev, len(rows) > limit


async def lock_room(session: AsyncSession, room_id: int) -> None:
    """Take the room's row lock before reading what a change depends on: changes to the
    room's messages (the committer's too, in other processes) then happen one at a time."""
    await session.execute(select(Room.id).where(Room.id == room_id).with_for_update())


async def take_rev(session: AsyncSession, room_id: int) -> int:
    """The room's next change number, taken in the caller's transaction (so a rollback
    gives it back); the row lock it takes orders it against every other change."""
    result = await session.execute(
        update(Room)
        .where(Room.id == room_id)
        .values(last_rev=Room.last_rev + 1)
        .returning(Room.last_rev)
        .execution_options(synchronize_session=False)
    )
    return int(result.scalar_one())


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
    """Change the body; an edit that changes nothing takes no rev and tells nobody."""
    await get_membership(session, room_id, actor.id)
    # Locked before the message is read, so that a concurrent delete is seen, not undone.
    await lock_room(session, room_id)
    message, author = await _load_message(session, room_id, message_id)
    permissions.ensure_can_edit_message(actor.id, message.author_id)
    if message.deleted:
        raise MessageDeleted()
    if body == message.body:
        return message_read(message, author)
    message.body = body
    message.edited_at = utcnow()
    message.rev = await take_rev(session, room_id)
    await session.flush()
    result = message_read(message, author)
    frame = frames.message_updated(result.model_dump_json())
    defer_event(
        session,
        events.message_changed(room_id=room_id, seq=message.seq, rev=message.rev, frame=frame),
    )
    return result


async def delete_message(session: AsyncSession, actor: User, room_id: int, message_id: int) -> None:
    """Soft delete: the body is emptied and `deleted` set; the seq stays taken."""
    _room, membership = await get_membership(session, room_id, actor.id)
    await lock_room(session, room_id)
    message, _author = await _load_message(session, room_id, message_id)
    permissions.ensure_can_delete_message(membership, message.author_id)
    if message.deleted:
        return
    message.body = ""
    message.deleted = True
    message.rev = await take_rev(session, room_id)
    await session.flush()
    frame = frames.message_deleted(
        room_id=room_id, message_id=message.id, seq=message.seq, rev=message.rev
    )
    defer_event(
        session,
        events.message_changed(room_id=room_id, seq=message.seq, rev=message.rev, frame=frame),
    )
