"""Storing a batch through SQLAlchemy, on any backend: the portable store.

Used on SQLite, and wherever sessions must share an outer transaction (the test suite's
rollback isolation). One transaction per batch: one membership query, one
`UPDATE rooms … RETURNING last_seq, last_rev` per room (the room's row lock, held until
commit, keeps `seq` gapless and in commit order), one insert. Repeated `client_id`s are
rare, so they are not looked up in advance: the unique constraint catches them
(RepeatedClientId).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Table, insert, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import utcnow
from app.core.errors import DomainError
from app.messages.models import Message
from app.messages.sends import (
    Batch,
    Outcome,
    RepeatedClientId,
    Send,
    Stored,
    StoreUnavailable,
    message_json,
    refusal_for,
)
from app.rooms.models import Membership, Room, Visibility

MESSAGES: Table = Message.__table__  # type: ignore[assignment]


class SessionStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def store(self, sends: Sequence[Send], *, look_up_repeats: bool) -> list[Outcome]:
        try:
            async with self._sessionmaker() as session, session.begin():
                return await _store(session, sends, look_up_repeats=look_up_repeats)
        except IntegrityError as exc:
            raise RepeatedClientId() from exc
        except DBAPIError as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def close(self) -> None:
        return None


async def _store(
    session: AsyncSession, sends: Sequence[Send], *, look_up_repeats: bool
) -> list[Outcome]:
    existing = await _existing(session, sends) if look_up_repeats else {}
    refusals = await _refusals(session, sends)
    batch = Batch.sort_out(
        sends, existing, refuse=lambda send: refusals.get((send.room_id, send.author_id))
    )
    by_room: dict[int, list[int]] = defaultdict(list)
    for index in batch.to_store:
        by_room[sends[index].room_id].append(index)

    numbers = await _allocate_numbers(session, by_room)
    if numbers:
        now = utcnow()
        chosen = [(index, sends[index], seq, rev) for index, (seq, rev) in numbers.items()]
        result = await session.execute(
            insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True),
            [
                {
                    "room_id": send.room_id,
                    "seq": seq,
                    "rev": rev,
                    "created_rev": rev,
                    "author_id": send.author_id,
                    "body": send.body,
                    "client_id": send.client_id,
                    "created_at": now,
                    "edited_at": None,
                    "deleted": False,
                }
                for _, send, seq, rev in chosen
            ],
        )
        for (index, _, seq, rev), message_id in zip(chosen, result.scalars(), strict=True):
            batch.stored(index, message_id=message_id, seq=seq, rev=rev, created_at=now)
    return batch.finish()


async def _allocate_numbers(
    session: AsyncSession, by_room: dict[int, list[int]]
) -> dict[int, tuple[int, int]]:
    """Advance each room's last_seq and last_rev once for all its sends;
    {send index: (seq, rev)}."""
    numbers: dict[int, tuple[int, int]] = {}
    # Rooms in a fixed order, so that two writers never wait on each other's locks.
    for room_id in sorted(by_room):
        indexes = by_room[room_id]
        last_seq, last_rev = (
            await session.execute(
                update(Room)
                .where(Room.id == room_id)
                .values(
                    last_seq=Room.last_seq + len(indexes), last_rev=Room.last_rev + len(indexes)
                )
                .returning(Room.last_seq, Room.last_rev)
                .execution_options(synchronize_session=False)
            )
        ).one()
        first_seq = last_seq - len(indexes) + 1
        first_rev = last_rev - len(indexes) + 1
        for offset, index in enumerate(indexes):
            numbers[index] = (first_seq + offset, first_rev + offset)
    return numbers


async def _existing(session: AsyncSession, sends: Sequence[Send]) -> dict[tuple[int, str], Stored]:
    authors = {send.author_id: send.author_json for send in sends}
    keys = sorted({(s.author_id, s.client_id) for s in sends if s.client_id is not None})
    if not keys:
        return {}
    rows = await session.execute(
        select(Message).where(tuple_(Message.author_id, Message.client_id).in_(keys))
    )
    return {
        (message.author_id, message.client_id or ""): Stored(
            message.id,
            message.room_id,
            message.seq,
            message.rev,
            message_json(
                message_id=message.id,
                room_id=message.room_id,
                seq=message.seq,
                rev=message.rev,
                author_json=authors[message.author_id],
                body=message.body,
                created_at=message.created_at,
                edited_at=message.edited_at,
                deleted=message.deleted,
                client_id=message.client_id,
            ),
            created=False,
        )
        for message in rows.scalars()
    }


async def _refusals(
    session: AsyncSession, sends: Sequence[Send]
) -> dict[tuple[int, int], DomainError]:
    """Why each (room, author) pair may not send, checked inside the storing transaction."""
    pairs = {(s.room_id, s.author_id) for s in sends}
    members = {
        (room_id, user_id)
        for room_id, user_id in await session.execute(
            select(Membership.room_id, Membership.user_id).where(
                tuple_(Membership.room_id, Membership.user_id).in_(sorted(pairs))
            )
        )
    }
    outsiders = pairs - members
    if not outsiders:
        return {}
    visibility = dict(
        (
            await session.execute(
                select(Room.id, Room.visibility).where(
                    Room.id.in_(sorted({room_id for room_id, _ in outsiders}))
                )
            )
        ).all()
    )
    return {
        (room_id, user_id): refusal_for(
            room_exists=room_id in visibility,
            private=visibility.get(room_id) == Visibility.PRIVATE,
        )
        for room_id, user_id in outsiders
    }
