"""`@username` mentions: the contract's parsing rule, resolving names to room members, and
storing them (the `message_mentions` rows that `mention_count` counts)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.messages.models import Mention, Message
from app.rooms.models import Membership
from app.users.models import User
from app.users.service import username_key

# `@` at the start or after anything but a letter, digit, `_`, `.`, `-` or `@` (so that
# `bob@example.com` and `@@bob` mention nobody), then the longest run of username characters.
MENTION = re.compile(r"(?<![\w.\-@])@([A-Za-z0-9_.\-]+)")
# A body of 4000 characters could name ~1300 people: only the first this many distinct names
# are looked up, which bounds the query and the `mention` frames one message can cause.
MAX_MENTIONS = 50
MAX_USERNAME = 32


def might_mention(body: str) -> bool:
    """The hot path's test: a body with no `@` mentions nobody."""
    return "@" in body


def mentioned_names(body: str) -> list[str]:
    """The username keys a body mentions, in order of first appearance (not yet checked
    against the room's members)."""
    names: list[str] = []
    for match in MENTION.finditer(body):
        name = match.group(1).rstrip(".-")
        if not 3 <= len(name) <= MAX_USERNAME:
            continue
        key = username_key(name)
        if key not in names:
            names.append(key)
            if len(names) == MAX_MENTIONS:
                break
    return names


async def resolve(session: AsyncSession, room_id: int, body: str) -> list[int]:
    """The ids of the room's members the body mentions, in order of first appearance."""
    names = mentioned_names(body) if might_mention(body) else []
    if not names:
        return []
    rows = await session.execute(
        select(User.username_key, User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room_id, User.username_key.in_(names))
    )
    ids: dict[str, int] = dict(rows.all())
    return [ids[name] for name in names if name in ids]


async def record(session: AsyncSession, message: Message, user_ids: Sequence[int]) -> None:
    """Store (or, after an edit, replace) the message's mentions."""
    await session.execute(delete(Mention).where(Mention.message_id == message.id))
    if user_ids:
        await session.execute(
            insert(Mention),
            [
                {
                    "message_id": message.id,
                    "user_id": user_id,
                    "room_id": message.room_id,
                    "seq": message.seq,
                    "position": position,
                }
                for position, user_id in enumerate(user_ids)
            ],
        )
