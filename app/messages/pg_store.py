"""Storing a batch on PostgreSQL in one statement, on the committer's own connection.

The hot path of every send, so it skips the ORM and the connection pool: the committer keeps
one asyncpg connection, and a batch is a single statement (its own transaction, so no
BEGIN/COMMIT round trips) that keeps the sends whose authors are members, locks the rooms in
id order (two processes never deadlock), advances each room's `last_seq` and `last_rev` once,
numbers the rows in arrival order (a new message's rev is its created_rev) and inserts them,
and for rooms with a webhook (`log_changes`, read from the locked row) appends each to the
change log (`room_changes`) in the same statement: no cost elsewhere but an empty semi-join.
The room row stays locked until the statement commits, so `seq` is gapless and follows
commit order across processes, and `rev` never goes backwards.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.database import utcnow
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

logger = logging.getLogger(__name__)

STORE = """
WITH input AS (
    SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[], $4::varchar[], $5::integer[])
        AS t(room_id, author_id, body, client_id, ord)
), allowed AS (
    SELECT i.* FROM input i
    WHERE EXISTS (
        SELECT 1 FROM room_members m WHERE m.room_id = i.room_id AND m.user_id = i.author_id
    )
), counts AS (
    SELECT room_id, count(*) AS n FROM allowed GROUP BY room_id
), locked AS (
    SELECT r.id FROM rooms r WHERE r.id IN (SELECT room_id FROM counts) ORDER BY r.id FOR UPDATE
), bumped AS (
    UPDATE rooms r SET last_seq = r.last_seq + c.n, last_rev = r.last_rev + c.n FROM counts c
    WHERE r.id = c.room_id AND r.id IN (SELECT id FROM locked)
    RETURNING r.id, r.last_seq, r.last_rev, c.n, r.log_changes
), numbered AS (
    SELECT a.room_id, a.author_id, a.body, a.client_id,
           row_number() OVER (PARTITION BY a.room_id ORDER BY a.ord) AS k, b.last_seq,
           b.last_rev, b.n
    FROM allowed a JOIN bumped b ON b.id = a.room_id
), inserted AS (
    INSERT INTO messages (room_id, seq, rev, created_rev, author_id, body, client_id,
                          created_at, deleted)
    SELECT room_id, last_seq - n + k, last_rev - n + k, last_rev - n + k, author_id, body,
           client_id, $6, false
    FROM numbered
    RETURNING id, room_id, seq, rev, author_id, body
), logged AS (
    INSERT INTO room_changes (room_id, rev, part, event, message_id, body, created_at)
    SELECT i.room_id, i.rev, 0, 'message.created', i.id, i.body, $6 FROM inserted i
    WHERE i.room_id IN (SELECT id FROM bumped WHERE log_changes)
)
SELECT id, room_id, seq, rev, author_id FROM inserted
"""

EXISTING = """
SELECT m.id, m.room_id, m.seq, m.rev, m.author_id, m.body, m.client_id, m.created_at, m.edited_at,
       m.deleted, m.reply_to_id, m.reply_count, m.last_reply_at
FROM messages m
JOIN unnest($1::integer[], $2::varchar[]) AS k(author_id, client_id)
  ON m.author_id = k.author_id AND m.client_id = k.client_id
"""

REFUSALS = """
SELECT i.room_id, r.id IS NOT NULL AS room_exists, r.visibility = 'private' AS private
FROM unnest($1::integer[]) AS i(room_id) LEFT JOIN rooms r ON r.id = i.room_id
"""

# Connection trouble: the batch is refused and the connection replaced before the next one.
# A terminated backend says so in any of these forms, depending on when the news arrives:
# an error response (admin/crash shutdown), a closed socket, or a closed asyncpg connection.
DISCONNECTS = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,
    OSError,
)


class PostgresStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def _driver(self) -> asyncpg.Connection:
        if self._connection is not None:
            driver = (await self._connection.get_raw_connection()).driver_connection
            if driver is not None and not driver.is_closed():
                return driver
            # The server ended it while idle (a restart, pg_terminate_backend) and asyncpg
            # already knows: reconnect now instead of failing the next batch on it.
            logger.warning("group commit: database connection was closed; reconnecting")
            await self._discard()
        try:
            # Checked out from the app's engine (same URL and settings) and held for good:
            # no pool checkout or pre-ping per batch.
            self._connection = await self._engine.connect()
        except DBAPIError as exc:
            raise StoreUnavailable(f"cannot connect: {exc.orig}") from exc
        except (OSError, PoolTimeout) as exc:  # refused connections come unwrapped
            raise StoreUnavailable(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        return (await self._connection.get_raw_connection()).driver_connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.invalidate()
            await connection.close()
        except (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The connection is dead already; what matters is that we no longer hold it.
            logger.info("group commit: discarding a dead connection: %s", exc)

    async def store(self, sends: Sequence[NewMessage], *, look_up_repeats: bool) -> list[Outcome]:
        try:
            driver = await self._driver()
            return await _store(driver, sends, look_up_repeats=look_up_repeats)
        except asyncpg.UniqueViolationError as exc:
            raise RepeatedClientId() from exc
        except asyncpg.DataError as exc:
            # A value PostgreSQL refuses (NUL, out of range, not UTF-8), whether asyncpg
            # could not encode it or the server refused it: one send's fault, and the
            # connection is still good.
            raise StoreRefusedData(refused_data_reason(exc)) from exc
        except DISCONNECTS as exc:
            logger.warning("group commit: database connection lost (%s); reconnecting", exc)
            await self._discard()
            raise StoreConnectionLost(str(exc)) from exc
        except asyncpg.PostgresError as exc:
            raise StoreUnavailable(str(exc)) from exc


async def _store(
    driver: asyncpg.Connection, sends: Sequence[NewMessage], *, look_up_repeats: bool
) -> list[Outcome]:
    existing = await _existing(driver, sends) if look_up_repeats else {}
    batch = Batch.sort_out(sends, existing)
    chosen = batch.to_store
    if chosen:
        now = utcnow()
        rows = await driver.fetch(
            STORE,
            [sends[i].room_id for i in chosen],
            [sends[i].author_id for i in chosen],
            [sends[i].body for i in chosen],
            [sends[i].client_id for i in chosen],
            list(range(len(chosen))),
            now,
        )
        # Within a room, seqs (and revs) were given in arrival order: pair the sorted rows with the
        # room's sends, in order (all of a (room, author) pair's sends pass or none do).
        stored_pairs = {(row["room_id"], row["author_id"]) for row in rows}
        by_room: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            by_room[row["room_id"]].append(row)
        for room_rows in by_room.values():
            room_rows.sort(key=lambda row: row["seq"])
        taken: dict[int, int] = defaultdict(int)
        refused: list[int] = []
        for index in chosen:
            send = sends[index]
            if (send.room_id, send.author_id) not in stored_pairs:
                refused.append(index)
                continue
            row = by_room[send.room_id][taken[send.room_id]]
            taken[send.room_id] += 1
            batch.stored(
                index, message_id=row["id"], seq=row["seq"], rev=row["rev"], created_at=now
            )
        if refused:
            reasons = await _refusals(driver, sorted({sends[i].room_id for i in refused}))
            for index in refused:
                batch.outcomes[index] = reasons[sends[index].room_id]
    return batch.finish()


async def _existing(
    driver: asyncpg.Connection, sends: Sequence[NewMessage]
) -> dict[tuple[int, str], Stored]:
    keys = repeat_keys(sends)
    if not keys:
        return {}
    rows = await driver.fetch(EXISTING, [a for a, _ in keys], [c for _, c in keys])
    return originals(rows, sends)


async def _refusals(driver: asyncpg.Connection, room_ids: list[int]) -> dict[int, Outcome]:
    """The rare path: why sends into these rooms were not stored (the authors are not
    members): a room that is missing or private answers 404, a public one 403."""
    rows = await driver.fetch(REFUSALS, room_ids)
    return {
        row["room_id"]: refusal_for(room_exists=row["room_exists"], private=bool(row["private"]))
        for row in rows
    }
