"""Loading `bench.history_data` into a migrated PostgreSQL database, fast.

COPY into tables without their secondary indexes and foreign keys (each would cost a lookup
or an index insertion per row), then build them back from their own definitions (as
`pg_get_indexdef` / `pg_get_constraintdef` gave them: whatever the migrations made, exactly),
set the id sequences past the loaded ids, VACUUM ANALYZE (the visibility map and statistics a
long-running database has from autovacuum), and record that the load finished, with its
shape, in a small table of the benchmark's own (`bench_history`), so that `--keep-database`
can reuse it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import asyncpg

from bench.history_data import COLUMNS, History, Rows

LOADED_TABLES = (
    "users",
    "rooms",
    "room_members",
    "messages",
    "message_reactions",
    "message_mentions",
)
MARKER_TABLE = "bench_history"


async def loaded_shape(conn: asyncpg.Connection) -> dict[str, Any] | None:
    """The shape a finished load recorded, or None (no load, or one that did not finish)."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MARKER_TABLE)
    if not exists:
        return None
    raw = await conn.fetchval(f"SELECT shape FROM {MARKER_TABLE} LIMIT 1")
    return json.loads(raw) if raw else None


async def _definitions(conn: asyncpg.Connection) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(table, name, definition) of every constraint but NOT NULL/CHECK on the loaded tables,
    foreign keys last; and the CREATE INDEX statements of indexes no constraint owns."""
    constraints = await conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def,
               c.contype
        FROM pg_constraint c
        WHERE c.conrelid = ANY($1::regclass[]) AND c.contype IN ('p', 'u', 'f')
        ORDER BY c.contype = 'f', c.conname
        """,
        list(LOADED_TABLES),
    )
    indexes = await conn.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i
        WHERE i.indrelid = ANY($1::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        list(LOADED_TABLES),
    )
    return [(r["tbl"], r["conname"], r["def"]) for r in constraints], [r["def"] for r in indexes]


async def _drop(
    conn: asyncpg.Connection, constraints: list[tuple[str, str, str]], indexes: list[str]
) -> None:
    for table, name, definition in reversed(constraints):  # foreign keys first
        if definition.startswith("PRIMARY KEY"):
            continue  # kept: COPY then checks nothing but uniqueness of ids it generated
        await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for definition in indexes:
        name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
        await conn.execute(f"DROP INDEX {name}")


async def _restore(
    conn: asyncpg.Connection, constraints: list[tuple[str, str, str]], indexes: list[str], log: Any
) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for definition in indexes:
        started = time.monotonic()
        await conn.execute(definition)
        seconds[definition] = round(time.monotonic() - started, 1)
        log(f"  {seconds[definition]:7.1f} s  {definition}")
    for table, name, definition in constraints:
        if definition.startswith("PRIMARY KEY"):
            continue
        started = time.monotonic()
        await conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        seconds[name] = round(time.monotonic() - started, 1)
        log(f"  {seconds[name]:7.1f} s  {table}: {name} {definition}")
    return seconds


async def load(dsn: str, history: History, log: Any = print) -> dict[str, Any]:
    """Load `history` into the (migrated, empty) database at `dsn`; what it took."""
    timings: dict[str, Any] = {}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute("SET max_parallel_maintenance_workers = 2")
        await conn.execute("SET synchronous_commit = off")
        constraints, indexes = await _definitions(conn)
        await _drop(conn, constraints, indexes)

        started = time.monotonic()
        counts: dict[str, int] = {}
        batches: Iterator[Rows] = history.batches()
        pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
        while True:
            batch = await pending
            if batch is None:
                break
            # Generate the next batch while PostgreSQL takes this one.
            pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            if batch.rows:
                await conn.copy_records_to_table(
                    batch.table, records=batch.rows, columns=list(COLUMNS[batch.table])
                )
            counts[batch.table] = counts.get(batch.table, 0) + len(batch.rows)
            if batch.table == "messages" and counts["messages"] % 1_000_000 < len(batch.rows):
                log(f"  {counts['messages']:>10,} messages ({time.monotonic() - started:.0f} s)")
        timings["copy_seconds"] = round(time.monotonic() - started, 1)
        timings["rows"] = counts
        log(f"copied {counts} in {timings['copy_seconds']} s; building indexes and keys")

        started = time.monotonic()
        timings["index_seconds_each"] = await _restore(conn, constraints, indexes, log)
        timings["index_seconds"] = round(time.monotonic() - started, 1)
        for table in ("users", "rooms", "messages", "message_reactions"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        started = time.monotonic()
        await conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_seconds"] = round(time.monotonic() - started, 1)
        await conn.execute(f"CREATE TABLE {MARKER_TABLE} (shape text NOT NULL)")
        await conn.execute(
            f"INSERT INTO {MARKER_TABLE} VALUES ($1)", json.dumps(history.shape.describe())
        )
        timings["size"] = await conn.fetchval(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        )
    finally:
        await conn.close()
    return timings
