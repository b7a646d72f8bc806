"""Storing a batch through SQLAlchemy, on any backend: the portable store.

Used on SQLite, and wherever sessions must share an outer transaction (the test suite's
rollback isolation). One transaction per batch: one membership query, one
`UPDATE rooms … RETURNING last_seq, last_rev` per room (the room's row lock, held until
commit, keeps `seq` gapless and in commit order), one insert. Repeated `client_id`s are
rare, so they are not looked up in advance: the unique constraint catches them
(RepeatedClientId).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence

import asyncpg
from sqlalchemy import Table, insert, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import utcnow
from app.core.errors import DomainError
from app.messages import changelog
from app.messages.models import Message, RoomChange
from app.messages.sends import (
    Batch,
    NewMessage,
    Outcome,
    RepeatedClientId,
    StoreConnectionLost,
    Stored,
    StoreRefusedData,
    StoreUnavailable,
    originals,
    refusal_for,
    refused_data_reason,
    repeat_keys,
)
from app.rooms.models import Membership, Room, Visibility

MESSAGES: Table = Message.__table__  # type: ignore[assignment]

# What a driver raises for a value it or the database refuses (NUL on PostgreSQL, a number
# out of range, a string that is not UTF-8), found in the cause chain SQLAlchemy wraps.
DATA_ERRORS = (asyncpg.DataError, sqlite3.DataError, OverflowError, UnicodeEncodeError)


def _refused_data(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, DATA_ERRORS):
            return True
        cause = cause.__cause__
    return False


class SessionStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def store(self, sends: Sequence[NewMessage], *, look_up_repeats: bool) -> list[Outcome]:
        try:
            async with self._sessionmaker() as session, session.begin():
                return await _store(session, sends, look_up_repeats=look_up_repeats)
        except IntegrityError as exc:
            raise RepeatedClientId() from exc
        except StatementError as exc:
            if _refused_data(exc):
                raise StoreRefusedData(refused_data_reason(exc.orig or exc)) from exc
            if isinstance(exc, DBAPIError):
                if exc.connection_invalidated:  # lost under the batch: it may have committed
                    raise StoreConnectionLost(str(exc.orig)) from exc
                raise StoreUnavailable(str(exc)) from exc
            raise
        except DATA_ERRORS as exc:  # some drivers (aiosqlite) raise these unwrapped
            raise StoreRefusedData(refused_data_reason(exc)) from exc
        except (OSError, PoolTimeout) as exc:
            # Drivers raise a refused connection unwrapped; the pool times out on checkout.
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        return None


async def _store(
    session: AsyncSession, sends: Sequence[NewMessage], *, look_up_repeats: bool
) -> list[Outcome]:
    existing = await _existing(session, sends) if look_up_repeats else {}
    refusals = await _refusals(session, sends)
    batch = Batch.sort_out(
        sends, existing, refuse=lambda send: refusals.get((send.room_id, send.author_id))
    )
    by_room: dict[int, list[int]] = defaultdict(list)
    for index in batch.to_store:
        by_room[sends[index].room_id].append(index)

    numbers, logging = await _allocate_numbers(session, by_room)
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
        ids = list(result.scalars())
        for (index, _, seq, rev), message_id in zip(chosen, ids, strict=True):
            batch.stored(index, message_id=message_id, seq=seq, rev=rev, created_at=now)
        logged = [
            {
                "room_id": send.room_id,
                "rev": rev,
                "part": 0,
                "event": changelog.MESSAGE_CREATED,
                "message_id": message_id,
                "body": send.body,
                "created_at": now,
            }
            for (_, send, _, rev), message_id in zip(chosen, ids, strict=True)
            if send.room_id in logging
        ]
        if logged:
            await session.execute(insert(RoomChange), logged)
    return batch.finish()


async def _allocate_numbers(
    session: AsyncSession, by_room: dict[int, list[int]]
) -> tuple[dict[int, tuple[int, int]], set[int]]:
    """Advance each room's last_seq and last_rev once for all its sends;
    {send index: (seq, rev)}, and the rooms that log their changes (read under the lock)."""
    numbers: dict[int, tuple[int, int]] = {}
    logging: set[int] = set()
    # Rooms in a fixed order, so that two writers never wait on each other's locks.
    for room_id in sorted(by_room):
        indexes = by_room[room_id]
        last_seq, last_rev, log_changes = (
            await session.execute(
                update(Room)
                .where(Room.id == room_id)
                .values(
                    last_seq=Room.last_seq + len(indexes), last_rev=Room.last_rev + len(indexes)
                )
                .returning(Room.last_seq, Room.last_rev, Room.log_changes)
                .execution_options(synchronize_session=False)
            )
        ).one()
        if log_changes:
            logging.add(room_id)
        first_seq = last_seq - len(indexes) + 1
        first_rev = last_rev - len(indexes) + 1
        for offset, index in enumerate(indexes):
            numbers[index] = (first_seq + offset, first_rev + offset)
    return numbers, logging


async def _existing(
    session: AsyncSession, sends: Sequence[NewMessage]
) -> dict[tuple[int, str], Stored]:
    keys = repeat_keys(sends)
    if not keys:
        return {}
    rows = await session.execute(
        select(MESSAGES).where(tuple_(MESSAGES.c.author_id, MESSAGES.c.client_id).in_(keys))
    )
    return originals(rows.mappings(), sends)


async def _refusals(
    session: AsyncSession, sends: Sequence[NewMessage]
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
