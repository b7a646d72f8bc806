"""Reactions: add or remove yours. Each change that changes something takes the room's next
`rev` under the room's row lock, so two processes reacting at once never lose a count."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import defer_event, utcnow
from app.core.errors import Conflict
from app.delivery import events, frames
from app.messages import changelog
from app.messages.models import Message, Reaction
from app.messages.reads import read_one
from app.messages.schemas import MessageRead
from app.messages.service import MessageDeleted, load_message, lock_room, take_rev
from app.rooms.service import get_membership
from app.users.models import User

# Different emoji one message may carry.
MAX_EMOJI = 20


class TooManyEmoji(Conflict):
    code = "invalid_frame"
    default_detail = f"A message carries at most {MAX_EMOJI} different emoji."


async def _changed(
    session: AsyncSession,
    message: Message,
    author: User,
    *,
    reaction: dict[str, object],
    rev: int | None = None,
) -> MessageRead:
    """The message changed with `rev` (by default the room's next): log the `reaction`,
    leave `message.updated` for after the commit, and answer the message as it is now."""
    message.rev = rev if rev is not None else await take_rev(session, message.room_id)
    await session.flush()
    result = await read_one(session, message, author)
    await changelog.record(
        session,
        room_id=message.room_id,
        rev=message.rev,
        event=changelog.REACTION,
        message_id=message.id,
        message_json=result.model_dump_json(),
        detail=reaction,
    )
    defer_event(
        session,
        events.message_changed(
            room_id=message.room_id,
            seq=message.seq,
            rev=message.rev,
            frame=frames.message_updated(result.model_dump_json()),
        ),
    )
    return result


async def react(
    session: AsyncSession, actor: User, room_id: int, message_id: int, emoji: str
) -> MessageRead:
    """Add the caller's reaction; again with the same emoji changes nothing (no rev)."""
    await get_membership(session, room_id, actor.id)
    await lock_room(session, room_id)
    message, author = await load_message(session, room_id, message_id)
    if message.deleted:
        raise MessageDeleted()
    emoji_revs = dict(
        (
            await session.execute(
                select(Reaction.emoji, func.min(Reaction.emoji_rev))
                .where(Reaction.message_id == message.id)
                .group_by(Reaction.emoji)
            )
        ).all()
    )
    mine = await session.scalar(
        select(Reaction.id).where(
            Reaction.message_id == message.id,
            Reaction.user_id == actor.id,
            Reaction.emoji == emoji,
        )
    )
    if mine is not None:
        return await read_one(session, message, author)
    if emoji not in emoji_revs and len(emoji_revs) >= MAX_EMOJI:
        raise TooManyEmoji()
    rev = await take_rev(session, room_id)
    await session.execute(
        insert(Reaction).values(
            message_id=message.id,
            user_id=actor.id,
            emoji=emoji,
            # An emoji already in use keeps its place; a new one (or one back from zero)
            # goes last.
            emoji_rev=emoji_revs.get(emoji, rev),
            created_at=utcnow(),
        )
    )
    added = {"emoji": emoji, "user_id": actor.id, "added": True}
    return await _changed(session, message, author, reaction=added, rev=rev)


async def unreact(
    session: AsyncSession, actor: User, room_id: int, message_id: int, emoji: str
) -> MessageRead:
    """Remove the caller's reaction; removing one you don't have changes nothing."""
    await get_membership(session, room_id, actor.id)
    await lock_room(session, room_id)
    message, author = await load_message(session, room_id, message_id)
    if message.deleted:
        raise MessageDeleted()
    removed = await session.execute(
        delete(Reaction)
        .where(
            Reaction.message_id == message.id,
            Reaction.user_id == actor.id,
            Reaction.emoji == emoji,
        )
        .execution_options(synchronize_session=False)
    )
    if not removed.rowcount:  # type: ignore[attr-defined]
        return await read_one(session, message, author)
    removed_one = {"emoji": emoji, "user_id": actor.id, "added": False}
    return await _changed(session, message, author, reaction=removed_one)
