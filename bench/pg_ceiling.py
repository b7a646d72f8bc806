"""PostgreSQL's ceiling for one busy room when every message is its own transaction.

Several connections (asyncpg) each loop over:

    BEGIN;
    UPDATE rooms SET last_seq = last_seq + 1, last_rev = last_rev + 1 WHERE id = $1 …;
    INSERT INTO messages (...) VALUES (...);
    COMMIT;

on Parley's schema, default durability. The room row stays locked from the UPDATE through
the commit's WAL flush, so the room takes one message per flush however many connections
write: that is the ceiling a store-then-broadcast server hits without group commit. It is
measured with 1, 2, 4, … 32 writers and the best reading counts. With `--batch 100` each
transaction stores 100 rows under one UPDATE (what group commit does).

    python -m bench.pg_ceiling                       # a scratch database, created and dropped
    python -m bench.pg_ceiling --database-url URL    # an already migrated database
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import Sequence
from typing import Any

import asyncpg

from bench import database
from bench.metrics import Meter

# Both counters move together, as the committer moves them (a scratch room only ever gets
# new messages, so each message's rev equals its seq).
UPDATE_SEQ = (
    "UPDATE rooms SET last_seq = last_seq + $2, last_rev = last_rev + $2 WHERE id = $1 "
    "RETURNING last_seq"
)
INSERT_ONE = (
    "INSERT INTO messages (room_id, seq, rev, created_rev, author_id, body, client_id, "
    "created_at, deleted) VALUES ($1, $2, $2, $2, $3, $4, $5, now(), false)"
)
INSERT_MANY = (
    "INSERT INTO messages (room_id, seq, rev, created_rev, author_id, body, client_id, "
    "created_at, deleted) SELECT $1, s, s, s, $2, $3, c, now(), false "
    "FROM unnest($4::bigint[], $5::text[]) AS t(s, c)"
)
CONNECTION_COUNTS = (1, 2, 4, 8, 16, 32)
BODY = "The quick brown fox jumps over the lazy dog. The quick brown fox"


async def _scratch_room(conn: asyncpg.Connection) -> tuple[int, int]:
    """A user and a public room to write into, made directly in SQL."""
    name = f"ceiling_{secrets.token_hex(4)}"
    user_id = await conn.fetchval(
        "INSERT INTO users (username, username_key, display_name, password_hash, created_at) "
        "VALUES ($1, $1, $1, 'not-a-hash', now()) RETURNING id",
        name,
    )
    room_id = await conn.fetchval(
        "INSERT INTO rooms (name, name_key, topic, visibility, created_by, created_at, last_seq) "
        "VALUES ($1, $1, '', 'public', $2, now(), 0) RETURNING id",
        name,
        user_id,
    )
    return int(user_id), int(room_id)


async def measure_ceiling(
    url: str,
    *,
    connections: int = 32,
    batch: int = 1,
    warmup: float = 1.0,
    duration: float = 5.0,
) -> dict[str, Any]:
    """Rows per second stored into one room by `connections` writers, `batch` rows each
    transaction; the result also says whether the stored seqs are gapless."""
    dsn = database.asyncpg_dsn(url)
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            user_id, room_id = await _scratch_room(conn)
        committed = 0
        running = True
        prefix = secrets.token_hex(4)

        async def writer(n: int) -> None:
            nonlocal committed
            count = 0
            async with pool.acquire() as conn:
                while running:
                    async with conn.transaction():
                        last = await conn.fetchval(UPDATE_SEQ, room_id, batch)
                        ids = [f"{prefix}w{n}.{count + i}" for i in range(batch)]
                        if batch == 1:
                            await conn.execute(INSERT_ONE, room_id, last, user_id, BODY, ids[0])
                        else:
                            seqs = list(range(last - batch + 1, last + 1))
                            await conn.execute(INSERT_MANY, room_id, user_id, BODY, seqs, ids)
                    count += batch
                    committed += batch

        tasks = [asyncio.create_task(writer(n)) for n in range(connections)]
        await asyncio.sleep(warmup)
        meter = Meter(None)
        before, rows_before = meter.sample(), committed
        await asyncio.sleep(duration)
        after, rows_after = meter.sample(), committed
        running = False
        await asyncio.gather(*tasks)

        async with pool.acquire() as conn:
            stored = await conn.fetchrow(
                "SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM messages "
                "WHERE room_id = $1",
                room_id,
            )
            await conn.execute("DELETE FROM messages WHERE room_id = $1", room_id)
    finally:
        await pool.close()

    gapless = stored["n"] == committed and stored["lo"] == 1 and stored["hi"] == committed
    usage = Meter.usage(before, after)
    return {
        "scenario": "pg_ceiling",
        "server": "postgresql",
        "batch": batch,
        "connections": connections,
        "window_s": round(after.wall - before.wall, 3),
        "rows_per_s": round((rows_after - rows_before) / (after.wall - before.wall), 1),
        "db_cpu_pct": usage["db_cpu_pct"],
        "client_cpu_pct": usage["client_cpu_pct"],
        "other_cpu_pct": usage["other_cpu_pct"],
        "verified": gapless,
        "problems": [] if gapless else [f"stored {dict(stored)}, committed {committed}"],
    }


async def find_ceiling(
    url: str,
    *,
    connection_counts: Sequence[int] = CONNECTION_COUNTS,
    batch: int = 1,
    duration: float = 3.0,
) -> dict[str, Any]:
    """The best of `measure_ceiling` over several numbers of writers: the ceiling is what
    PostgreSQL can do at its best, not at one arbitrary concurrency."""
    readings = [
        await measure_ceiling(url, connections=n, batch=batch, duration=duration)
        for n in connection_counts
    ]
    best = max(readings, key=lambda r: r["rows_per_s"])
    problems = [p for r in readings for p in r["problems"]]
    return {
        **best,
        "by_connections": {str(r["connections"]): r["rows_per_s"] for r in readings},
        "verified": not problems,
        "problems": problems,
    }


async def _main(args: argparse.Namespace) -> int:
    from bench.report import print_table

    url = args.database_url
    scratch = url is None
    if scratch:
        url = await database.create_database(args.admin_url)
        await asyncio.to_thread(database.migrate, url)
    try:
        results = [
            await find_ceiling(
                url, connection_counts=args.connections, batch=batch, duration=args.duration
            )
            for batch in args.batch
        ]
    finally:
        if scratch:
            await database.drop_database(url)
    print_table(results)
    for result in results:
        readings = ", ".join(f"{n}: {rows:.0f}" for n, rows in result["by_connections"].items())
        print(f"batch {result['batch']}, rows/s by writers: {readings}")
    return 0 if all(r["verified"] for r in results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_ceiling", description=__doc__)
    parser.add_argument("--database-url", help="a migrated Parley database (else a scratch one)")
    parser.add_argument("--admin-url", default=database.DEFAULT_ADMIN_URL)
    parser.add_argument("--connections", type=int, nargs="+", default=list(CONNECTION_COUNTS))
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--duration", type=float, default=3.0)
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
