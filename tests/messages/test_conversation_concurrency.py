"""Counts stay exact under concurrency: several processes (each with its own engine) react
to one message, or reply to one root, at the same moment; no count is lost and every change
takes its own rev."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.core.database import create_engine
from app.messages import reactions
from app.messages.group_commit import MessageCommitter
from app.messages.pg_store import PostgresStore
from app.messages.threads import RichSends
from app.users.models import User
from app.users.schemas import UserRead

pytestmark = pytest.mark.postgres_only

PROCESSES = 3
PEOPLE = 12


async def seed(url: str) -> tuple[list[int], int, int]:
    """PEOPLE members of a new room, and one message in it; (user ids, room id, message id)."""
    tag = uuid.uuid4().hex[:8]
    engine = create_engine(url)
    async with engine.begin() as conn:
        user_ids = [
            (
                await conn.execute(
                    text(
                        "INSERT INTO users (username, username_key, display_name, password_hash,"
                        " created_at) VALUES (:n, :n, 'R', 'x', now()) RETURNING id"
                    ),
                    {"n": f"r{tag}-{n}"},
                )
            ).scalar_one()
            for n in range(PEOPLE)
        ]
        room_id = (
            await conn.execute(
                text(
                    "INSERT INTO rooms (name, name_key, topic, visibility, created_by, created_at,"
                    " last_seq, last_rev) VALUES (:n, :n, '', 'public', :u, now(), 1, 1)"
                    " RETURNING id"
                ),
                {"u": user_ids[0], "n": f"race-{tag}"},
            )
        ).scalar_one()
        for user_id in user_ids:
            await conn.execute(
                text(
                    "INSERT INTO room_members (room_id, user_id, role, joined_at, last_read_seq)"
                    " VALUES (:r, :u, 'member', now(), 0)"
                ),
                {"r": room_id, "u": user_id},
            )
        message_id = (
            await conn.execute(
                text(
                    "INSERT INTO messages (room_id, seq, rev, created_rev, author_id, body,"
                    " created_at, deleted) VALUES (:r, 1, 1, 1, :u, 'root', now(), false)"
                    " RETURNING id"
                ),
                {"r": room_id, "u": user_ids[0]},
            )
        ).scalar_one()
    await engine.dispose()
    return user_ids, room_id, message_id


async def react_from(engine: AsyncEngine, user_id: int, room_id: int, message_id: int) -> None:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        for emoji in ("👍", f":e{user_id % 3}:"):
            await reactions.react(session, user, room_id, message_id, emoji)


async def test_concurrent_reactions_from_several_processes_lose_no_count(
    live_database: str,
) -> None:
    user_ids, room_id, message_id = await seed(live_database)
    engines = [create_engine(live_database, pool_size=4, max_overflow=0) for _ in range(PROCESSES)]
    try:
        await asyncio.gather(
            *(
                react_from(engines[n % PROCESSES], user_id, room_id, message_id)
                for n, user_id in enumerate(user_ids)
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()
    engine = create_engine(live_database)
    async with engine.connect() as conn:
        counts = dict(
            (
                await conn.execute(
                    text(
                        "SELECT emoji, count(*) FROM message_reactions WHERE message_id = :m"
                        " GROUP BY emoji"
                    ),
                    {"m": message_id},
                )
            ).all()
        )
        last_rev, rev = (
            await conn.execute(
                text(
                    "SELECT r.last_rev, m.rev FROM rooms r JOIN messages m ON m.room_id = r.id"
                    " WHERE m.id = :m"
                ),
                {"m": message_id},
            )
        ).one()
    await engine.dispose()
    assert counts["👍"] == PEOPLE
    assert sum(counts.values()) == 2 * PEOPLE
    # Each of the 2 * PEOPLE reactions took its own rev, one after the other.
    assert last_rev == rev == 1 + 2 * PEOPLE


async def test_concurrent_replies_from_several_processes_count_exactly(
    live_database: str,
) -> None:
    user_ids, room_id, root_id = await seed(live_database)
    engines = [create_engine(live_database, pool_size=4, max_overflow=0) for _ in range(PROCESSES)]

    async def discard(_events: object) -> None:
        return None

    committers = [
        MessageCommitter(
            PostgresStore(engine),
            committed=discard,
            rich=RichSends(async_sessionmaker(engine, expire_on_commit=False)),
        )
        for engine in engines
    ]
    for committer in committers:
        committer.start()
    try:
        author = UserRead.model_validate(
            {
                "id": user_ids[1],
                "username": "r",
                "display_name": "R",
                "created_at": "2026-01-01T00:00:00Z",
            }
        )
        outcomes = await asyncio.gather(
            *(
                committers[n % PROCESSES].send(
                    room_id=room_id,
                    author_id=author.id,
                    author_json=author.model_dump_json(),
                    body=f"reply {n}" if n % 2 else f"plain {n}",
                    client_id=f"c{n}",
                    reply_to=root_id if n % 2 else None,
                )
                for n in range(30)
            )
        )
    finally:
        for committer in committers:
            await committer.stop()
        for engine in engines:
            await engine.dispose()
    assert sorted(o.seq for o in outcomes) == list(range(2, 32))
    engine = create_engine(live_database)
    async with engine.connect() as conn:
        reply_count, root_rev, last_rev, last_seq = (
            await conn.execute(
                text(
                    "SELECT m.reply_count, m.rev, r.last_rev, r.last_seq FROM messages m"
                    " JOIN rooms r ON r.id = m.room_id WHERE m.id = :m"
                ),
                {"m": root_id},
            )
        ).one()
        revs = (
            (
                await conn.execute(
                    text("SELECT rev FROM messages WHERE room_id = :r ORDER BY rev"), {"r": room_id}
                )
            )
            .scalars()
            .all()
        )
    await engine.dispose()
    assert reply_count == 15
    assert last_seq == 31
    # 30 new messages and 15 root changes after the seed's rev 1, none lost or shared.
    assert last_rev == 1 + 30 + 15
    assert max(revs) == last_rev
    assert root_rev in revs
    assert len(set(revs)) == len(revs) == 31
