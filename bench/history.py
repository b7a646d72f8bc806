"""History at scale: read latencies through the real API with millions of stored messages.

    python -m bench.history --keep-database                  # 10 M messages, 1,000 rooms
    python -m bench.history --messages 1000000 --keep-database
    python -m bench.history --messages 2000 --rooms 20 --requests 20   # a smoke run

Creates a PostgreSQL database, migrates it (`parley migrate`), loads the history with COPY
(`bench.history_data`: skewed room sizes, threads, reactions, mentions, a user in 200 rooms),
VACUUM ANALYZE, starts a real `parley serve` on it and measures, with `--clients` concurrent
clients (8) in a closed loop, each on its own keep-alive connection and its own login of the
user in 200 rooms, the p50/p99 of:

  history-newest   GET /rooms/{id}/messages                 (newest 50, one of his 200 rooms)
  history-deep     GET /rooms/{id}/messages?before_seq=      (a random point of the history)
  changes          GET /rooms/{id}/changes?after_rev=        (a random rev; a page of 100)
  thread           GET /rooms/{id}/messages/{root}/replies   (a thread with replies)
  search-common    GET /rooms/{id}/messages/search?q=meeting (in a few % of all messages)
  search-rare      GET /rooms/{id}/messages/search?q=<rare>  (a word from the Zipf tail)
  rooms            GET /rooms                                (his 200 rooms with unread and
                                                              mention counts, and the public ones)
  subscribe-resume WebSocket `subscribe` with `since_rev` = last_rev - 500, until `subscribed`
                   (500 changes replayed)

Loading 10 M messages takes many minutes: `--keep-database` keeps the loaded database
(`parley_history_<messages>_<rooms>`) and the next run with the same shape reuses it (after
`parley migrate`, so new migrations are applied to the loaded data, and timed). `--explain`
also writes the EXPLAIN (ANALYZE, BUFFERS) of every statement each measure runs, captured
with auto_explain from the service functions themselves. Results are appended to
bench/results/history-<time>.jsonl; the table compares each p99 with its target.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import subprocess
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil
import websockets
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import normalise_database_url
from app.core.database import create_engine
from app.messages import search, threads
from app.messages import service as messages
from app.rooms import service as rooms_service
from app.users.models import User
from bench import brokers, database, machine, report, servers
from bench.history_data import COMMON_SEARCH, History, Shape, rare_word
from bench.history_load import load, loaded_shape
from bench.metrics import percentiles_ms
from bench.rest import PASSWORD

# p99 targets in milliseconds (issue 17); measures without one are reported only.
TARGETS: dict[str, float] = {
    "history-newest": 10,
    "history-deep": 10,
    "changes": 10,
    "search-common": 150,
    "search-rare": 150,
    "rooms": 30,
}
MEASURES = (
    "history-newest",
    "history-deep",
    "changes",
    "thread",
    "search-common",
    "search-rare",
    "rooms",
    "subscribe-resume",
)
RESUME_CHANGES = 500
REPLAYED = ("message", "message.updated", "message.deleted")


@dataclass
class Facts:
    """Where the measures look: the heavy user's rooms and some of their threads."""

    user_id: int
    rooms: list[tuple[int, int, int]]  # (room_id, last_seq, last_rev)
    threads: list[tuple[int, int]]  # (room_id, root id)
    resume_from: dict[int, int]  # room_id -> the rev with exactly RESUME_CHANGES changes after it
    rare_word: str
    listed_rooms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


async def read_facts(dsn: str, shape: Shape) -> Facts:
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval("SELECT id FROM users WHERE username_key = 'user1'")
        rooms = [
            (r["id"], r["last_seq"], r["last_rev"])
            for r in await conn.fetch(
                "SELECT r.id, r.last_seq, r.last_rev FROM rooms r "
                "JOIN room_members m ON m.room_id = r.id AND m.user_id = $1 ORDER BY r.id",
                user_id,
            )
        ]
        room_ids = [r[0] for r in rooms]
        # One thread in a hundred roots of his rooms, from anywhere in time.
        threads = [
            (r["room_id"], r["id"])
            for r in await conn.fetch(
                "SELECT room_id, id FROM messages TABLESAMPLE BERNOULLI (5) REPEATABLE (17) "
                "WHERE room_id = ANY($1) AND reply_count > 0 LIMIT 500",
                room_ids,
            )
        ]
        resume_from: dict[int, int] = {}
        for room_id in room_ids:
            rev = await conn.fetchval(
                "SELECT rev FROM messages WHERE room_id = $1 ORDER BY rev DESC OFFSET $2 LIMIT 1",
                room_id,
                RESUME_CHANGES,
            )
            if rev is not None:
                resume_from[room_id] = rev
        listed = await conn.fetchval(
            "SELECT count(*) FROM rooms r WHERE r.visibility = 'public' OR EXISTS "
            "(SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = $1)",
            user_id,
        )
    finally:
        await conn.close()
    return Facts(user_id, rooms, threads, resume_from, rare_word(shape), listed_rooms=int(listed))


# -- requests ----------------------------------------------------------------------------


Request = Callable[[random.Random], tuple[str, dict[str, Any]]]


def http_requests(facts: Facts) -> dict[str, Request]:
    rooms = facts.rooms
    deep = [r for r in rooms if r[1] > 100] or rooms

    def newest(rng: random.Random) -> tuple[str, dict[str, Any]]:
        return f"/rooms/{rng.choice(rooms)[0]}/messages", {"limit": 50}

    def history_deep(rng: random.Random) -> tuple[str, dict[str, Any]]:
        room_id, last_seq, _ = rng.choice(deep)
        return f"/rooms/{room_id}/messages", {"limit": 50, "before_seq": rng.randint(1, last_seq)}

    def changes(rng: random.Random) -> tuple[str, dict[str, Any]]:
        room_id, _, last_rev = rng.choice(rooms)
        return f"/rooms/{room_id}/changes", {"after_rev": rng.randint(0, max(0, last_rev - 1))}

    def thread(rng: random.Random) -> tuple[str, dict[str, Any]]:
        room_id, root = rng.choice(facts.threads)
        return f"/rooms/{room_id}/messages/{root}/replies", {}

    def search(word: str) -> Request:
        def request(rng: random.Random) -> tuple[str, dict[str, Any]]:
            return f"/rooms/{rng.choice(rooms)[0]}/messages/search", {"q": word}

        return request

    def room_list(rng: random.Random) -> tuple[str, dict[str, Any]]:
        return "/rooms", {}

    found: dict[str, Request] = {
        "history-newest": newest,
        "history-deep": history_deep,
        "changes": changes,
        "search-common": search(COMMON_SEARCH),
        "search-rare": search(facts.rare_word),
        "rooms": room_list,
    }
    if facts.threads:
        found["thread"] = thread
    return found


async def login(base_url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        response = await http.post("/auth/login", data={"username": username, "password": PASSWORD})
        response.raise_for_status()
        return str(response.json()["access_token"])


async def closed_loop(
    clients: int,
    requests: int,
    warmup: int,
    start: Callable[[int], Awaitable[Any]],
    one: Callable[[Any, random.Random], Awaitable[None]],
    stop: Callable[[Any], Awaitable[None]],
) -> tuple[array[int], int]:
    """`clients` workers, each with its own connection, share `requests` timed calls after
    `warmup` untimed ones each; latencies in ns, and how many calls failed."""
    samples: array[int] = array("q")
    errors = 0
    remaining = requests

    async def worker(index: int) -> None:
        nonlocal remaining, errors
        rng = random.Random(1000 + index)
        handle = await start(index)
        try:
            for _ in range(warmup):
                try:
                    await one(handle, rng)
                except (httpx.HTTPError, RuntimeError, websockets.WebSocketException):
                    errors += 1
            while remaining > 0:
                remaining -= 1
                began = time.perf_counter_ns()
                try:
                    await one(handle, rng)
                except (httpx.HTTPError, RuntimeError, websockets.WebSocketException):
                    errors += 1
                    continue
                samples.append(time.perf_counter_ns() - began)
        finally:
            await stop(handle)

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return samples, errors


async def measure_http(
    base_url: str, tokens: list[str], request: Request, requests: int, warmup: int
) -> tuple[array[int], int]:
    async def start(index: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url,
            timeout=120,
            headers={"Authorization": f"Bearer {tokens[index]}"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    async def one(http: httpx.AsyncClient, rng: random.Random) -> None:
        path, params = request(rng)
        response = await http.get(path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

    async def stop(http: httpx.AsyncClient) -> None:
        await http.aclose()

    return await closed_loop(len(tokens), requests, warmup, start, one, stop)


async def measure_resume(
    base_url: str, tokens: list[str], facts: Facts, requests: int, warmup: int
) -> tuple[array[int], int]:
    rooms = sorted(facts.resume_from.items())
    ws_url = base_url.replace("http://", "ws://") + "/ws"

    async def start(index: int) -> Any:
        socket = await websockets.connect(
            f"{ws_url}?token={tokens[index]}", max_size=None, compression=None
        )
        await socket.recv()  # hello
        return socket

    async def one(socket: Any, rng: random.Random) -> None:
        room_id, since = rng.choice(rooms)
        await socket.send(json.dumps({"type": "subscribe", "room_id": room_id, "since_rev": since}))
        replayed = 0
        while True:
            frame = orjson.loads(await socket.recv())
            if frame["type"] == "subscribed":
                break
            if frame["type"] == "error":
                raise RuntimeError(f"subscribe {room_id}: {frame}")
            if frame["type"] in REPLAYED:
                replayed += 1
        if replayed != RESUME_CHANGES or frame["replayed"] != RESUME_CHANGES:
            raise RuntimeError(f"subscribe {room_id}: {replayed} frames, {frame}")
        await socket.send(json.dumps({"type": "unsubscribe", "room_id": room_id}))
        while orjson.loads(await socket.recv())["type"] != "unsubscribed":
            pass

    async def stop(socket: Any) -> None:
        await socket.close()

    if not rooms:
        return array("q"), 0
    return await closed_loop(len(tokens), requests, warmup, start, one, stop)


# -- plans ---------------------------------------------------------------------------------


async def explain_all(url: str, facts: Facts, out: Path) -> None:
    """Run each measure's service function once with auto_explain on, in this process, and
    write every statement's plan (EXPLAIN ANALYZE, BUFFERS) to `out`."""
    # The server's own engine settings (no JIT), so that the plans are the server's.
    engine = create_engine(normalise_database_url(url), pool_size=1, max_overflow=0)
    lines: list[str] = []
    rng = random.Random(5)
    biggest = max(facts.rooms, key=lambda r: r[1])
    room_id, last_seq, last_rev = biggest
    thread = next(
        (t for t in facts.threads if t[0] == room_id), facts.threads[0] if facts.threads else None
    )
    calls: dict[str, Callable[[AsyncSession, User], Awaitable[Any]]] = {
        "history-newest": lambda s, u: messages.list_history(
            s, u, room_id, before_seq=None, after_seq=None, limit=50
        ),
        "history-deep": lambda s, u: messages.list_history(
            s, u, room_id, before_seq=rng.randint(1, last_seq), after_seq=None, limit=50
        ),
        "changes": lambda s, u: messages.list_changes(
            s, u, room_id, after_rev=rng.randint(0, last_rev - 1), limit=100
        ),
        "search-common": lambda s, u: search.search_messages(
            s, u, room_id, COMMON_SEARCH, limit=20
        ),
        "search-rare": lambda s, u: search.search_messages(
            s, u, room_id, facts.rare_word, limit=20
        ),
        "rooms": lambda s, u: rooms_service.list_rooms(s, u),
        "subscribe-resume": lambda s, u: messages.fetch_changes(
            s, room_id, after_rev=facts.resume_from.get(room_id, 0), limit=1001
        ),
    }
    if thread is not None:
        calls["thread"] = lambda s, u: threads.list_replies(
            s, u, thread[0], thread[1], after_seq=0, limit=50
        )
    try:
        for name, call in calls.items():
            async with AsyncSession(engine) as session:
                connection = await session.connection()
                raw = (await connection.get_raw_connection()).driver_connection
                captured: list[str] = []

                def keep(_connection: Any, message: Any, into: list[str] = captured) -> None:
                    into.append(message.message)

                raw.add_log_listener(keep)
                for setting in (
                    "LOAD 'auto_explain'",
                    "SET auto_explain.log_min_duration = 0",
                    "SET auto_explain.log_analyze = on",
                    "SET auto_explain.log_buffers = on",
                    "SET auto_explain.log_timing = on",
                    "SET auto_explain.log_nested_statements = on",
                    "SET auto_explain.log_level = 'notice'",
                    "SET client_min_messages = 'notice'",
                ):
                    await raw.execute(setting)
                user = await session.get(User, facts.user_id)
                assert user is not None
                captured.clear()
                await call(session, user)
                await raw.execute("SET auto_explain.log_min_duration = -1")
                lines.append(f"==== {name} (room {room_id}, {last_seq:,} messages) ====")
                lines.extend(captured)
                lines.append("")
    finally:
        await engine.dispose()
    await asyncio.to_thread(out.write_text, "\n".join(lines))


# -- the run ---------------------------------------------------------------------------------


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=servers.REPO_ROOT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def prepare_database(
    args: argparse.Namespace, shape: Shape
) -> tuple[str, bool, dict[str, Any]]:
    """The database URL, whether it is to be dropped at the end, and what preparing it took."""
    info: dict[str, Any] = {}
    if args.keep_database:
        name = args.database_name or f"parley_history_{shape.messages}_{shape.rooms}"
        url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
        admin = await asyncpg.connect(database.asyncpg_dsn(args.admin_url))
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    else:
        url = await database.create_database(args.admin_url, prefix="parley_history")
    dsn = database.asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        found = await loaded_shape(conn)
    finally:
        await conn.close()
    if found is not None and found != shape.describe():
        raise SystemExit(f"{url} holds another shape: {found}; drop it or change --messages")
    started = time.monotonic()
    database.migrate(url)
    info["migrate_seconds"] = round(time.monotonic() - started, 1)
    print(f"database {make_url(url).database}: migrated in {info['migrate_seconds']} s")
    if found is None:
        started = time.monotonic()
        password_hash = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
        print(f"loading {shape.describe()}")
        info["load"] = await load(dsn, History(shape, password_hash))
        info["load_seconds"] = round(time.monotonic() - started, 1)
        print(f"loaded in {info['load_seconds']} s ({info['load']['size']})")
    else:
        print("reusing the loaded history")
    return url, not args.keep_database, info


async def run(args: argparse.Namespace) -> dict[str, Any]:
    # Several workers share a broker: a private Redis for the run's length.
    with brokers.broker_urls(["redis"] if args.workers > 1 else ["memory"]) as urls:
        return await run_with_broker(args, next(iter(urls.values())))


async def run_with_broker(args: argparse.Namespace, broker_url: str) -> dict[str, Any]:
    shape = Shape(messages=args.messages, rooms=args.rooms, users=args.users, seed=args.seed)
    url, drop, info = await prepare_database(args, shape)
    workdir = Path(tempfile.mkdtemp(prefix="parley-history-"))
    server = None
    try:
        facts = await read_facts(database.asyncpg_dsn(url), shape)
        env = {"BROKER_URL": broker_url} if args.workers > 1 else None
        server = await servers.parley_server(
            database_url=url, workdir=workdir, cpu=None, env=env, workers=args.workers
        ).start()
        tokens = [await login(server.base_url, "user1") for _ in range(args.clients)]
        chosen = args.measures or list(MEASURES)
        requests = http_requests(facts)
        results: dict[str, dict[str, Any]] = {}
        server_process = psutil.Process(server.pid)
        for name in chosen:
            # What the rest of the machine is doing while we are idle: on a shared machine the
            # latencies below are only comparable at a similar reading.
            others = await machine.busy_percent(1.0)
            cpu_before = _cpu_seconds(server_process)
            began = time.monotonic()
            if name == "subscribe-resume":
                samples, errors = await measure_resume(
                    server.base_url, tokens, facts, args.requests, args.warmup
                )
            elif name in requests:
                samples, errors = await measure_http(
                    server.base_url, tokens, requests[name], args.requests, args.warmup
                )
            else:
                continue
            calls = len(samples) + errors + args.warmup * args.clients
            results[name] = {
                **percentiles_ms(samples),
                "errors": errors,
                "requests_per_s": round(calls / (time.monotonic() - began), 1),
                # Server CPU per call: with 8 clients in a closed loop on one server process,
                # latency is about 8x this; what the database takes is in the plans.
                "server_cpu_ms": round(
                    1000 * (_cpu_seconds(server_process) - cpu_before) / max(1, calls), 2
                ),
                "machine_busy_before_pct": round(others),
            }
            print(f"  {name:17} {_fmt(results[name])}")
        plans = None
        if args.explain:
            plans = report.RESULTS_DIR / f"history-plans-{_stamp()}.txt"
            plans.parent.mkdir(parents=True, exist_ok=True)
            await explain_all(url, facts, plans)
            print(f"plans: {plans}")
    finally:
        if server is not None:
            await server.stop()
        if drop:
            await database.drop_database(url)
    record = {
        "kind": "history",
        "label": args.label,
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "shape": shape.describe(),
        "database": make_url(url).database,
        "clients": args.clients,
        "workers": args.workers,
        "requests": args.requests,
        "listed_rooms": facts.listed_rooms,
        "heavy_user_rooms": len(facts.rooms),
        "prepare": info,
        "measures": results,
        "plans": str(plans) if plans else None,
    }
    return record


def _cpu_seconds(process: psutil.Process) -> float:
    """The server's CPU time, its workers' included (`--workers`: they are its children)."""
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _fmt(result: dict[str, Any]) -> str:
    if not result.get("count"):
        return f"no samples ({result.get('errors', 0)} errors)"
    return (
        f"p50 {result['p50']:7.2f} ms   p99 {result['p99']:7.2f} ms   max {result['max']:7.2f} ms"
        f"   n={result['count']} errors={result['errors']}"
        f"   server CPU {result['server_cpu_ms']:.2f} ms/call"
        f"   (machine busy before: {result['machine_busy_before_pct']}%)"
    )


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def print_table(record: dict[str, Any]) -> None:
    shape = record["shape"]
    print(
        f"\n{shape['messages']:,} messages, {shape['rooms']} rooms, {shape['users']} users; "
        f"{record['clients']} clients, {record.get('workers', 1)} server process(es); "
        f"GET /rooms lists {record['listed_rooms']} rooms "
        f"({record['heavy_user_rooms']} his)"
    )
    print("| measure | p50 ms | p99 ms | target p99 | verdict | server CPU ms/call | calls/s |")
    print("|---|---|---|---|---|---|---|")
    for name, result in record["measures"].items():
        target = TARGETS.get(name)
        p50, p99 = result.get("p50"), result.get("p99")
        verdict = "" if target is None or p99 is None else ("met" if p99 <= target else "missed")
        print(
            f"| {name} | {p50 if p50 is not None else '-'} | {p99 if p99 is not None else '-'} | "
            f"{f'≤ {target:g} ms' if target else '-'} | {verdict} | "
            f"{result.get('server_cpu_ms', '-')} | {result.get('requests_per_s', '-')} |"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.history",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=10_000_000, help="messages to load")
    parser.add_argument("--rooms", type=int, default=1000, help="rooms they are spread over")
    parser.add_argument("--users", type=int, default=0, help="users (0: messages/500, 50-20,000)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (> 1: with a private Redis)"
    )
    parser.add_argument("--requests", type=int, default=800, help="timed requests per measure")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per client first")
    parser.add_argument("--measures", nargs="*", choices=MEASURES, help="only these")
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="keep (and reuse, if it holds this shape) parley_history_<messages>_<rooms>",
    )
    parser.add_argument(
        "--database-name", help="with --keep-database: this database instead (e.g. a copy)"
    )
    parser.add_argument("--admin-url", default=database.DEFAULT_ADMIN_URL)
    parser.add_argument("--explain", action="store_true", help="also write every query's plan")
    parser.add_argument("--label", default="", help="a note kept with the results")
    parser.add_argument("--results", type=Path, help="results file (default: a new one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    record = asyncio.run(run(args))
    path = args.results or report.RESULTS_DIR / f"history-{_stamp()}.jsonl"
    report.append_jsonl(path, record)
    print_table(record)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
