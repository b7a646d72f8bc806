"""`python -m bench.history` works end to end at a tiny scale: it loads a history with COPY,
serves it with a real server and measures every read, with no failed request. Never timed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bench import database, machine
from bench import history as bench_history
from bench.history_data import History, Shape
from tests.conftest import TEST_DATABASE_URL

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (set TEST_DATABASE_URL)"),
]


def admin_url() -> str:
    return make_url(TEST_DATABASE_URL).set(database="postgres").render_as_string(False)


def test_the_generated_history_has_the_shape_the_server_writes() -> None:
    shape = Shape(messages=3000, rooms=20, heavy_rooms=10)
    history = History(shape, "hash", batch=500)
    tables: dict[str, list[tuple[object, ...]]] = {}
    for batch in history.batches():
        tables.setdefault(batch.table, []).extend(batch.rows)
    messages = tables["messages"]
    assert len(messages) == 3000
    rooms = {row[0]: row for row in tables["rooms"]}
    by_room: dict[int, list[tuple[object, ...]]] = {}
    for row in messages:
        by_room.setdefault(int(str(row[1])), []).append(row)
    for room_id, rows in by_room.items():
        seqs = sorted(int(str(r[2])) for r in rows)
        assert seqs == list(range(1, len(rows) + 1))  # gapless
        revs = [int(str(r[3])) for r in rows]
        assert len(set(revs)) == len(revs)  # one message per rev
        assert all(int(str(r[3])) >= int(str(r[4])) for r in rows)  # rev >= created_rev
        assert rooms[room_id][7] == len(rows)  # last_seq
        assert rooms[room_id][8] == max(revs)  # last_rev
    members = {(r[0], r[1]) for r in tables["room_members"]}
    assert sum(1 for room, user in members if user == 1) == 10  # the heavy user
    assert all((r[1], r[5]) in members for r in messages)  # authors are members
    replies = [r for r in messages if r[11] is not None]
    assert 0.05 < len(replies) / len(messages) < 0.15
    assert tables["message_reactions"]
    assert tables["message_mentions"]


async def test_a_tiny_history_run_measures_every_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before each measure the run reads how busy the rest of the machine is, over 1 s: eight
    # idle seconds here. The reading is made all the same, over a short window.
    real_busy_percent = machine.busy_percent

    async def busy_percent(seconds: float = 2.0) -> float:
        return await real_busy_percent(min(seconds, 0.05))

    monkeypatch.setattr(machine, "busy_percent", busy_percent)
    results = tmp_path / "history.jsonl"
    argv = "--messages 2000 --rooms 12 --clients 2 --requests 10 --warmup 1 --explain"
    args = bench_history.parse_args(
        [*argv.split(), "--admin-url", admin_url(), "--results", str(results)]
    )
    record = await bench_history.run(args)
    for name in bench_history.MEASURES:
        measured = record["measures"][name]
        assert measured["errors"] == 0, (name, measured)
        assert measured["count"] == 10, (name, measured)
        assert measured["machine_busy_before_pct"] >= 0, (name, measured)
    assert record["prepare"]["load"]["rows"]["messages"] == 2000
    plans = Path(record["plans"])
    text = await asyncio.to_thread(plans.read_text)
    assert "==== search-common" in text
    assert "Index Scan" in text
    await asyncio.to_thread(plans.unlink)
    # The database was dropped (no --keep-database).
    conn = await asyncpg.connect(database.asyncpg_dsn(admin_url()))
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", record["database"]
        )
    finally:
        await conn.close()
    assert left == 0
    bench_history.print_table(record)
