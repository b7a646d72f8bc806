"""Messages as clients read them: the row, its author, and its reactions and mentions,
loaded for a whole page in two queries (never one per message)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.messages.models import Mention, Message, Reaction
from app.messages.schemas import MessageRead, ReactionRead
from app.users.models import User
from app.users.schemas import UserRead

# How many reactors an entry names; `count` is always the full number.
REACTION_USERS_SHOWN = 50


def message_read(
    message: Message,
    author: User | UserRead,
    *,
    reactions: list[ReactionRead] | None = None,
    mentions: list[int] | None = None,
) -> MessageRead:
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
        reactions=reactions or [],
        reply_to=message.reply_to_id,
        reply_count=message.reply_count or 0,
        last_reply_at=message.last_reply_at,
        mentions=mentions or [],
    )


async def load_reactions(
    session: AsyncSession, message_ids: Sequence[int]
) -> dict[int, list[ReactionRead]]:
    """Each message's reactions: emoji in the order they (re)appeared, reactors in the
    order they reacted. A message holds at most MAX_EMOJI emoji."""
    if not message_ids:
        return {}
    # Only the first REACTION_USERS_SHOWN reactors of each emoji leave the database (with the
    # full count beside them): a popular message in a big room costs the same to read.
    per_emoji = (Reaction.message_id, Reaction.emoji)
    ranked = (
        select(
            Reaction.message_id,
            Reaction.emoji,
            Reaction.user_id,
            Reaction.emoji_rev,
            func.row_number().over(partition_by=per_emoji, order_by=Reaction.id).label("n"),
            func.count().over(partition_by=per_emoji).label("total"),
        )
        .where(Reaction.message_id.in_(message_ids))
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.message_id, ranked.c.emoji, ranked.c.user_id, ranked.c.total)
        .where(ranked.c.n <= REACTION_USERS_SHOWN)
        .order_by(ranked.c.message_id, ranked.c.emoji_rev, ranked.c.emoji, ranked.c.n)
    )
    entries: dict[int, dict[str, ReactionRead]] = defaultdict(dict)
    for message_id, emoji, user_id, total in rows:
        entry = entries[message_id].get(emoji)
        if entry is None:
            entry = entries[message_id][emoji] = ReactionRead(emoji=emoji, count=total, user_ids=[])
        entry.user_ids.append(user_id)
    return {message_id: list(by_emoji.values()) for message_id, by_emoji in entries.items()}


async def load_mentions(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, list[int]]:
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Mention.message_id, Mention.user_id)
        .where(Mention.message_id.in_(message_ids))
        .order_by(Mention.message_id, Mention.position)
    )
    found: dict[int, list[int]] = defaultdict(list)
    for message_id, user_id in rows:
        found[message_id].append(user_id)
    return found


async def hydrate(
    session: AsyncSession, rows: Iterable[tuple[Message, User | UserRead]]
) -> list[MessageRead]:
    """Full `MessageRead`s for (message, author) rows, in their order."""
    pairs = list(rows)
    ids = [message.id for message, _ in pairs]
    reactions = await load_reactions(session, ids)
    mentions = await load_mentions(session, ids)
    # A page has few authors: each is turned into its UserRead once, not once per message.
    authors: dict[int, UserRead] = {}
    for _message, author in pairs:
        if author.id not in authors:
            authors[author.id] = (
                author if isinstance(author, UserRead) else UserRead.model_validate(author)
            )
    return [
        message_read(
            message,
            authors[author.id],
            reactions=reactions.get(message.id),
            mentions=mentions.get(message.id),
        )
        for message, author in pairs
    ]


async def read_one(session: AsyncSession, message: Message, author: User | UserRead) -> MessageRead:
    return (await hydrate(session, [(message, author)]))[0]
