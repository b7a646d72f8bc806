"""History, edits and deletes. New messages are stored by the group committer."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import defer_event, utcnow
from app.core.errors import Conflict, NotFound
from app.delivery import events, frames
from app.messages import changelog, mentions
from app.messages.models import Mention, Message, Reaction
from app.messages.reads import hydrate, load_mentions, read_one
from app.messages.schemas import MessageRead
from app.rooms import permissions
from app.rooms.models import Room
from app.rooms.service import get_membership
from app.users.models import User

DEFAULT_PAGE = 50
MAX_PAGE = 200
DEFAULT_CHANGES_PAGE = 100
MAX_CHANGES_PAGE = 1000


class MessageNotFound(NotFound):
    default_detail = "Message not found."


class MessageDeleted(Conflict):
    code = "invalid_frame"
    default_detail = "That message was deleted."


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
    return await hydrate(session, rows)


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
    rows = list(await session.execute(query.order_by(Message.rev).limit(limit)))
    reads = await hydrate(session, rows)
    return [
        (read, message.created_rev) for read, (message, _author) in zip(reads, rows, strict=True)
    ]


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
    return await hydrate(session, rows), has_more


async def load_message(
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
    message, author = await load_message(session, room_id, message_id)
    permissions.ensure_can_edit_message(actor.id, message.author_id)
    if message.deleted:
        raise MessageDeleted()
    if body == message.body:
        return await read_one(session, message, author)
    before = await load_mentions(session, [message.id])
    mentioned = await mentions.resolve(session, room_id, body)
    message.body = body
    message.edited_at = utcnow()
    message.rev = await take_rev(session, room_id)
    await session.flush()
    await mentions.record(session, message, mentioned)
    result = await read_one(session, message, author)
    message_json = result.model_dump_json()
    frame = frames.message_updated(message_json)
    defer_event(
        session,
        events.message_changed(room_id=room_id, seq=message.seq, rev=message.rev, frame=frame),
    )
    # Only people the edit adds hear of it: the others were told when they were first named.
    known = set(before.get(message.id, ()))
    added = [user_id for user_id in mentioned if user_id not in known]
    notify_mentioned(
        session, room_id=room_id, author_id=actor.id, user_ids=added, message_json=message_json
    )
    await changelog.record(
        session,
        room_id=room_id,
        rev=message.rev,
        event=changelog.MESSAGE_UPDATED,
        message_id=message.id,
        message_json=message_json,
    )
    await changelog.record_mention(
        session,
        room_id=room_id,
        rev=message.rev,
        message_id=message.id,
        message_json=message_json,
        user_ids=[user_id for user_id in added if user_id != actor.id],
    )
    return result


def notify_mentioned(
    session: AsyncSession,
    *,
    room_id: int,
    author_id: int,
    user_ids: Iterable[int],
    message_json: str,
) -> None:
    """After the commit, every connection of each mentioned user but the author gets
    `mention`, subscribed to the room or not."""
    frame = frames.mention(room_id=room_id, message_json=message_json)
    for user_id in user_ids:
        if user_id != author_id:
            defer_event(session, events.user_frame(user_id=user_id, frame=frame))


async def delete_message(session: AsyncSession, actor: User, room_id: int, message_id: int) -> None:
    """Soft delete: the body is emptied and `deleted` set; the seq stays taken."""
    _room, membership = await get_membership(session, room_id, actor.id)
    await lock_room(session, room_id)
    message, author = await load_message(session, room_id, message_id)
    permissions.ensure_can_delete_message(membership, message.author_id)
    if message.deleted:
        return
    message.body = ""
    message.deleted = True
    message.rev = await take_rev(session, room_id)
    await session.flush()
    # A tombstone keeps nothing of what it said: its reactions and mentions go with the body.
    await session.execute(delete(Reaction).where(Reaction.message_id == message.id))
    await session.execute(delete(Mention).where(Mention.message_id == message.id))
    if await changelog.logging_changes(session, room_id):
        await changelog.record(
            session,
            room_id=room_id,
            rev=message.rev,
            event=changelog.MESSAGE_DELETED,
            message_id=message.id,
            message_json=(await read_one(session, message, author)).model_dump_json(),
        )
    frame = frames.message_deleted(
        room_id=room_id, message_id=message.id, seq=message.seq, rev=message.rev
    )
    defer_event(
        session,
        events.message_changed(room_id=room_id, seq=message.seq, rev=message.rev, frame=frame),
    )
