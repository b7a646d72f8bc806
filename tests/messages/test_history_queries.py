"""The reshaped history queries answer exactly what the plain ones did, on both databases.

Unread counts come from `last_seq - last_read_seq` less two partial-index counts, and search
ranks only the newest `MAX_CANDIDATES` matches: each is checked against the definition (a
brute-force count in Python, and the search query as it was before it was reshaped).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.database import create_engine
from app.messages import search
from app.messages.models import Message
from app.rooms import service as room_service
from app.rooms.models import Membership
from app.users.models import User

BASE = 737_000  # ids far from what other tests create in the shared database
WORDS = ("deploy", "database", "host", "lunch", "timeout", "running", "review", "coffee")


@dataclass
class Row:
    id: int
    room_id: int
    seq: int
    author_id: int
    body: str
    deleted: bool


async def insert(connection: AsyncConnection, sql: str, rows: list[dict[str, object]]) -> None:
    if rows:
        await connection.execute(text(sql), rows)


async def populate(connection: AsyncConnection, rng: random.Random) -> tuple[list[Row], dict]:
    """4 users, 3 rooms, 40-90 messages each by random members, some deleted, some with
    mentions (self-mentions and mentions in deleted messages too), markers anywhere."""
    users = [BASE + u for u in range(1, 5)]
    await insert(
        connection,
        "INSERT INTO users (id, username, username_key, display_name, password_hash, created_at)"
        " VALUES (:id, :name, :name, :name, 'x', CURRENT_TIMESTAMP)",
        [{"id": u, "name": f"hq{u}"} for u in users],
    )
    rows: list[Row] = []
    mentions: list[dict[str, object]] = []
    markers: dict[tuple[int, int], int] = {}
    for r in range(3):
        room_id = BASE + r
        members = users if r < 2 else users[:2]
        count = rng.randint(40, 90)
        await insert(
            connection,
            "INSERT INTO rooms (id, name, name_key, topic, visibility, created_by, created_at,"
            " last_seq, last_rev) VALUES (:id, :name, :name, '', :vis, :owner,"
            " CURRENT_TIMESTAMP, :n, :n)",
            [
                {
                    "id": room_id,
                    "name": f"hq-{room_id}",
                    "vis": "public" if r == 0 else "private",
                    "owner": members[0],
                    "n": count,
                }
            ],
        )
        for seq in range(1, count + 1):
            deleted = rng.random() < 0.15
            words = rng.choices(WORDS, k=rng.randint(1, 6))
            rows.append(
                Row(
                    id=BASE * 10 + r * 1000 + seq,
                    room_id=room_id,
                    seq=seq,
                    author_id=rng.choice(members),
                    body="" if deleted else " ".join(words),
                    deleted=deleted,
                )
            )
            if rng.random() < 0.3:
                mentions.append(
                    {"m": rows[-1].id, "u": rng.choice(members), "room": room_id, "seq": seq}
                )
        for user in members:
            markers[(room_id, user)] = rng.choice([0, count, rng.randint(0, count)])
    await insert(
        connection,
        "INSERT INTO messages (id, room_id, seq, rev, created_rev, author_id, body, created_at,"
        " deleted) VALUES (:id, :room_id, :seq, :seq, :seq, :author_id, :body,"
        " CURRENT_TIMESTAMP, :deleted)",
        [row.__dict__ for row in rows],
    )
    await insert(
        connection,
        "INSERT INTO room_members (room_id, user_id, role, joined_at, last_read_seq)"
        " VALUES (:room, :user, 'member', CURRENT_TIMESTAMP, :marker)",
        [{"room": k[0], "user": k[1], "marker": v} for k, v in markers.items()],
    )
    # Distinct (message, user) pairs: the primary key.
    unique = {(m["m"], m["u"]): m for m in mentions}
    await insert(
        connection,
        "INSERT INTO message_mentions (message_id, user_id, room_id, seq, position)"
        " VALUES (:m, :u, :room, :seq, 0)",
        list(unique.values()),
    )
    return rows, {"markers": markers, "mentions": list(unique.values())}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_unread_and_mention_counts_are_the_definition(
    connection: AsyncConnection, seed: int
) -> None:
    rows, facts = await populate(connection, random.Random(seed))
    by_id = {row.id: row for row in rows}
    session = AsyncSession(bind=connection)
    checked = 0
    for user_id in {user for _room, user in facts["markers"]}:
        user = await session.get(User, user_id)
        assert user is not None
        listed = {room.id: room for room in await room_service.list_rooms(session, user)}
        for (room_id, member), marker in facts["markers"].items():
            if member != user_id:
                continue
            unread = sum(
                1
                for row in rows
                if row.room_id == room_id
                and row.seq > marker
                and row.author_id != user_id
                and not row.deleted
            )
            mentioned = sum(
                1
                for m in facts["mentions"]
                if m["u"] == user_id
                and m["room"] == room_id
                and int(str(m["seq"])) > marker
                and by_id[int(str(m["m"]))].author_id != user_id
                and not by_id[int(str(m["m"]))].deleted
            )
            assert listed[room_id].unread_count == unread, (room_id, user_id, marker)
            assert listed[room_id].mention_count == mentioned, (room_id, user_id, marker)
            membership = await session.get(Membership, (room_id, user_id))
            assert membership is not None
            assert await room_service.unread_counts(session, membership) == (unread, mentioned)
            checked += 1
    assert checked == len(facts["markers"])


# Search -----------------------------------------------------------------------------------


async def search_before_0007(
    session: AsyncSession, backend: str, room_id: int, query: str, limit: int
) -> list[int]:
    """The search query as it was before it was reshaped (all matches ranked)."""
    if backend == "postgresql":
        document = func.to_tsvector(search.SEARCH_CONFIG, Message.body)
        tsquery = func.websearch_to_tsquery(search.SEARCH_CONFIG, query)
        result = await session.execute(
            select(Message.id)
            .where(
                Message.room_id == room_id,
                Message.deleted.is_(False),
                document.op("@@")(tsquery),
            )
            .order_by(func.ts_rank_cd(document, tsquery).desc(), Message.seq.desc())
            .limit(limit)
        )
        return list(result.scalars())
    expression = search.fts5_query(query)
    if expression is None:
        return []
    matches = (
        select(
            literal_column("messages_fts.rowid").label("id"),
            literal_column("bm25(messages_fts)").label("rank"),
        )
        .select_from(text("messages_fts"))
        .where(text("messages_fts MATCH :expression").bindparams(expression=expression))
        .subquery()
    )
    result = await session.execute(
        select(Message.id)
        .join(matches, matches.c.id == Message.id)
        .where(Message.room_id == room_id, Message.deleted.is_(False))
        .order_by(matches.c.rank, Message.seq.desc())
        .limit(limit)
    )
    return list(result.scalars())


QUERIES = [
    "deploy",
    "deploy database",
    '"database host"',
    "deploy -timeout",
    "lunch OR coffee",
    "broken release review",
    "nothing-matches-this",
]


async def searched(session: AsyncSession, room_id: int, query: str, limit: int) -> list[int]:
    if session.get_bind().dialect.name == "postgresql":
        found = await search._search_postgresql(session, room_id, query, limit)
    else:
        found = await search._search_sqlite(session, room_id, query, limit)
    return [message.id for message, _author in found]


async def test_search_ranks_as_before_below_the_candidate_bound(
    connection: AsyncConnection, backend: str
) -> None:
    await populate(connection, random.Random(7))
    session = AsyncSession(bind=connection)
    compared = 0
    for room_id in (BASE, BASE + 1, BASE + 2):
        for query in QUERIES:
            for limit in (3, 20, 100):
                before = await search_before_0007(session, backend, room_id, query, limit)
                assert await searched(session, room_id, query, limit) == before, (query, limit)
                compared += len(before)
    assert compared > 100  # the data really matched


async def test_search_ranks_only_the_newest_candidates(
    connection: AsyncConnection, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, _facts = await populate(connection, random.Random(11))
    session = AsyncSession(bind=connection)
    every = await search_before_0007(session, backend, BASE, "deploy", 1000)
    assert len(every) > 8
    monkeypatch.setattr(search, "MAX_CANDIDATES", 5)
    seq = {row.id: row.seq for row in rows}
    newest = sorted(every, key=lambda i: seq[i], reverse=True)[:5]
    found = await searched(session, BASE, "deploy", 20)
    # The five newest matches, in the order the full ranking puts them.
    assert found == [i for i in every if i in newest]


@pytest.mark.postgres_only
async def test_the_servers_connections_run_without_jit(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW jit"))).scalar_one() == "off"
    finally:
        await engine.dispose()
