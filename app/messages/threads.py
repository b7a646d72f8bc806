"""Sends that need more than the hot path: replies (the root changes too) and bodies that
may mention someone. Plain sends (no `reply_to`, no `@`) never come here.

The group committer hands such a send to `RichSends.store` on its own, in arrival order
between the batches around it, so per room `seq` and `rev` still follow arrival order. One
transaction: the room's row lock first (like every other change), then the checks, the
message, its mentions, and the root's `reply_count`, `last_reply_at` and next `rev`.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import utcnow
from app.core.errors import DomainError
from app.delivery import events, frames
from app.messages import changelog, mentions
from app.messages.models import Message
from app.messages.reads import hydrate, message_read, read_one
from app.messages.schemas import MessageRead
from app.messages.sends import NewMessage, Outcome, Stored, refusal_for, repeat_outcome, unavailable
from app.messages.service import MessageDeleted, MessageNotFound, lock_room, take_rev
from app.rooms.models import Membership, Room, Visibility
from app.rooms.service import get_membership
from app.users.models import User
from app.users.schemas import UserRead

logger = logging.getLogger(__name__)

DEFAULT_REPLIES_PAGE = 50
MAX_REPLIES_PAGE = 200


def is_plain(body: str, reply_to: int | None) -> bool:
    """The hot path's test: no reply and no `@` (so no mention) in the body."""
    return reply_to is None and not mentions.might_mention(body)


class RichSends:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def store(self, send: NewMessage, reply_to: int | None) -> Outcome:
        """Store one send; its outcome, never an exception."""
        for _attempt in range(2):
            try:
                async with self._sessionmaker() as session, session.begin():
                    return await _store(session, send, reply_to)
            except DomainError as exc:
                return exc
            except IntegrityError:
                # The same client_id was stored at the same moment (another process): the
                # second attempt finds it and answers with the original.
                continue
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("rich send to room %s not stored: %s", send.room_id, exc)
                return unavailable()
        return unavailable()

    async def current(self, repeat: Stored, send: NewMessage) -> Stored:
        """A repeat answered by the hot path, with the original as it is now (its reactions
        too, which the one-statement store does not read). The rare path: a retried send."""
        try:
            async with self._sessionmaker() as session:
                message = await session.get(Message, repeat.message_id)
                if message is None:
                    return repeat
                author = UserRead.model_validate_json(send.author_json)
                read = await read_one(session, message, author)
        except (SQLAlchemyError, OSError) as exc:
            # The original as the store read it is still a true answer, if less complete.
            logger.warning("repeat of message %s not refreshed: %s", repeat.message_id, exc)
            return repeat
        return Stored(
            repeat.message_id,
            repeat.room_id,
            repeat.seq,
            message.rev,
            read.model_dump_json(),
            False,
        )


async def _refusal(session: AsyncSession, send: NewMessage) -> DomainError | None:
    member = await session.get(Membership, (send.room_id, send.author_id))
    if member is not None:
        return None
    visibility = await session.scalar(select(Room.visibility).where(Room.id == send.room_id))
    return refusal_for(room_exists=visibility is not None, private=visibility == Visibility.PRIVATE)


async def _original(session: AsyncSession, send: NewMessage) -> Stored | None:
    if send.client_id is None:
        return None
    message = await session.scalar(
        select(Message).where(
            Message.author_id == send.author_id, Message.client_id == send.client_id
        )
    )
    if message is None:
        return None
    author = UserRead.model_validate_json(send.author_json)
    read = await read_one(session, message, author)
    return Stored(
        message.id, message.room_id, message.seq, message.rev, read.model_dump_json(), False
    )


async def thread_root(session: AsyncSession, room_id: int, message_id: int) -> Message:
    """The root a reply to `message_id` attaches to (a reply's own root: one level deep);
    404 if it is not in the room, 409 if it or its root is deleted."""
    named = await session.scalar(
        select(Message).where(Message.id == message_id, Message.room_id == room_id)
    )
    if named is None:
        raise MessageNotFound()
    root: Message | None = named
    if named.reply_to_id is not None:
        root = await session.get(Message, named.reply_to_id)
    if named.deleted or root is None or root.deleted:
        raise MessageDeleted("You cannot reply to a deleted message.")
    return root


async def _store(session: AsyncSession, send: NewMessage, reply_to: int | None) -> Outcome:
    refusal = await _refusal(session, send)
    if refusal is not None:
        return refusal
    original = await _original(session, send)
    if original is not None:
        return repeat_outcome(original, send)
    await lock_room(session, send.room_id)
    root = await thread_root(session, send.room_id, reply_to) if reply_to is not None else None
    mentioned = await mentions.resolve(session, send.room_id, send.body)
    seq, rev = (
        await session.execute(
            update(Room)
            .where(Room.id == send.room_id)
            .values(last_seq=Room.last_seq + 1, last_rev=Room.last_rev + 1)
            .returning(Room.last_seq, Room.last_rev)
            .execution_options(synchronize_session=False)
        )
    ).one()
    now = utcnow()
    message = Message(
        room_id=send.room_id,
        seq=seq,
        rev=rev,
        created_rev=rev,
        author_id=send.author_id,
        body=send.body,
        client_id=send.client_id,
        created_at=now,
        edited_at=None,
        deleted=False,
        reply_to_id=root.id if root is not None else None,
        reply_count=0,
        last_reply_at=None,
    )
    session.add(message)
    await session.flush()
    await mentions.record(session, message, mentioned)
    author = UserRead.model_validate_json(send.author_json)
    message_json = message_read(message, author, mentions=mentioned).model_dump_json()
    others = [user_id for user_id in mentioned if user_id != send.author_id]
    await changelog.record(
        session,
        room_id=send.room_id,
        rev=rev,
        event=changelog.MESSAGE_CREATED,
        message_id=message.id,
        message_json=message_json,
    )
    await changelog.record_mention(
        session,
        room_id=send.room_id,
        rev=rev,
        message_id=message.id,
        message_json=message_json,
        user_ids=others,
    )
    after: list[events.Event] = []
    if root is not None:
        # The reply took `rev`; its root takes the next one, so subscribers get the reply's
        # `message` first, then the root's `message.updated`.
        root.reply_count = (root.reply_count or 0) + 1
        root.last_reply_at = now
        root.rev = await take_rev(session, send.room_id)
        await session.flush()
        root_author = await session.get(User, root.author_id)
        assert root_author is not None  # authors go only with their messages (cascade)
        root_json = (await read_one(session, root, root_author)).model_dump_json()
        await changelog.record(
            session,
            room_id=root.room_id,
            rev=root.rev,
            event=changelog.MESSAGE_UPDATED,
            message_id=root.id,
            message_json=root_json,
        )
        after.append(
            events.message_changed(
                room_id=root.room_id,
                seq=root.seq,
                rev=root.rev,
                frame=frames.message_updated(root_json),
            )
        )
    mention_frame = frames.mention(room_id=send.room_id, message_json=message_json)
    after.extend(events.user_frame(user_id=user_id, frame=mention_frame) for user_id in others)
    return Stored(message.id, send.room_id, seq, rev, message_json, True, tuple(after))


async def list_replies(
    session: AsyncSession, actor: User, room_id: int, message_id: int, *, after_seq: int, limit: int
) -> tuple[list[MessageRead], bool]:
    """A root's replies after `after_seq`, oldest first, tombstones included. A reply has
    no replies of its own (an empty page)."""
    await get_membership(session, room_id, actor.id)
    exists = await session.scalar(
        select(Message.id).where(Message.id == message_id, Message.room_id == room_id)
    )
    if exists is None:
        raise MessageNotFound()
    rows = list(
        await session.execute(
            select(Message, User)
            .join(User, User.id == Message.author_id)
            # No room condition: a root's replies are in its room (checked above), and the
            # (reply_to_id, seq) index then gives the page in order, without a sort.
            .where(Message.reply_to_id == message_id, Message.seq > after_seq)
            .order_by(Message.seq)
            .limit(limit + 1)
        )
    )
    return await hydrate(session, [(m, a) for m, a in rows[:limit]]), len(rows) > limit
