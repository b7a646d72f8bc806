"""seq is assigned inside the storing transaction: gapless and unique under concurrency.

Several committers, each with its own engine and connection pool, stand for several server
processes writing to one room at once; some commit one message per transaction, some batch.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.core.database import create_engine
from app.messages.group_commit import MessageCommitter, Stored
from app.messages.pg_store import PostgresStore
from app.messages.sends import BatchStore
from app.messages.session_store import SessionStore
from app.users.schemas import UserRead

pytestmark = pytest.mark.postgres_only


async def seed(url: str) -> tuple[UserRead, int]:
    name = f"racer-{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        user_id = (
            await conn.execute(
                text(
                    "INSERT INTO users (username, username_key, display_name, password_hash,"
                    " created_at) VALUES (:n, :n, 'Racer', 'x', now()) RETURNING id"
                ),
                {"n": name},
            )
        ).scalar_one()
        room_id = (
            await conn.execute(
                text(
                    "INSERT INTO rooms (name, name_key, topic, visibility, created_by, created_at,"
                    " last_seq) VALUES (:n, :n, '', 'public', :u, now(), 0) RETURNING id"
                ),
                {"u": user_id, "n": name},
            )
        ).scalar_one()
        await conn.execute(
            text(
                "INSERT INTO room_members (room_id, user_id, role, joined_at, last_read_seq)"
                " VALUES (:r, :u, 'owner', now(), 0)"
            ),
            {"r": room_id, "u": user_id},
        )
    await engine.dispose()
    author = UserRead(id=user_id, username=name, display_name="Racer", created_at=datetime.now(UTC))
    return author, room_id


def one_statement(engine: AsyncEngine) -> BatchStore:
    return PostgresStore(engine)


def portable(engine: AsyncEngine) -> BatchStore:
    return SessionStore(async_sessionmaker(engine, expire_on_commit=False))


# Both ways of storing a batch race each other: what the servers use on PostgreSQL and
# what they use elsewhere.
STORES = [one_statement, portable]


async def start_committers(
    url: str, batch_sizes: list[int]
) -> tuple[list[AsyncEngine], list[MessageCommitter]]:
    async def discard(_events: object) -> None:
        return None

    engines = [create_engine(url, pool_size=2, max_overflow=0) for _ in batch_sizes]
    committers = [
        MessageCommitter(STORES[n % 2](engine), committed=discard, batch_size=size)
        for n, (engine, size) in enumerate(zip(engines, batch_sizes, strict=True))
    ]
    for committer in committers:
        committer.start()
    return engines, committers


async def stop_committers(engines, committers) -> None:  # type: ignore[no-untyped-def]
    for committer in committers:
        await committer.stop()
    for engine in engines:
        await engine.dispose()


async def test_many_simultaneous_sends_number_1_to_n(live_database: str) -> None:
    author, room_id = await seed(live_database)
    engines, committers = await start_committers(live_database, [1, 1, 1, 1, 7, 7, 50, 50])
    total = 400
    try:
        outcomes = await asyncio.gather(
            *(
                committers[i % len(committers)].send(
                    room_id=room_id,
                    author_id=author.id,
                    author_json=author.model_dump_json(),
                    body=f"m{i}",
                    client_id=f"c{i}",
                )
                for i in range(total)
            )
        )
    finally:
        await stop_committers(engines, committers)

    assert all(isinstance(o, Stored) and o.created for o in outcomes)
    assert sorted(o.message.seq for o in outcomes) == list(range(1, total + 1))
    engine = create_engine(live_database)
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT seq, body FROM messages WHERE room_id = :r ORDER BY seq"),
                {"r": room_id},
            )
        ).all()
        last_seq = (
            await conn.execute(text("SELECT last_seq FROM rooms WHERE id = :r"), {"r": room_id})
        ).scalar_one()
    await engine.dispose()
    assert [seq for seq, _ in stored] == list(range(1, total + 1))
    assert last_seq == total
    # Each outcome names the row that was stored for it.
    by_seq = dict(stored)
    assert all(by_seq[o.message.seq] == o.message.body for o in outcomes)


async def test_one_client_id_raced_through_several_processes_is_stored_once(
    live_database: str,
) -> None:
    author, room_id = await seed(live_database)
    engines, committers = await start_committers(live_database, [1, 1, 1, 1])
    try:
        outcomes = await asyncio.gather(
            *(
                committer.send(
                    room_id=room_id,
                    author_id=author.id,
                    author_json=author.model_dump_json(),
                    body="once",
                    client_id="same",
                )
                for committer in committers
                for _ in range(3)
            )
        )
    finally:
        await stop_committers(engines, committers)
    assert len({o.message.id for o in outcomes}) == 1
    assert sum(o.created for o in outcomes) == 1
    assert {o.message.seq for o in outcomes} == {1}


async def test_a_connection_the_server_ended_while_idle_does_not_cost_a_send(
    live_database: str,
) -> None:
    author, room_id = await seed(live_database)
    engine = create_engine(live_database)
    store = PostgresStore(engine)
    committer = MessageCommitter(store, committed=_discard)
    committer.start()

    async def send(client_id: str | None) -> object:
        return await committer.send(
            room_id=room_id,
            author_id=author.id,
            author_json=author.model_dump_json(),
            body="hello",
            client_id=client_id,
        )

    try:
        assert isinstance(await send("before"), Stored)
        pid = (await store._driver()).get_server_pid()
        async with engine.connect() as conn:
            ended = (
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            ).scalar_one()
        assert ended
        await asyncio.sleep(0.2)  # the termination notice reaches the idle connection
        # Even a send without a client_id (which could never be retried) is stored.
        after = await send(None)
    finally:
        await committer.stop()
        await engine.dispose()
    assert isinstance(after, Stored)
    assert after.seq == 2


async def _discard(_events: object) -> None:
    return None


async def test_sends_edits_and_deletes_from_several_processes_never_share_a_rev(
    live_database: str,
) -> None:
    """Committers (sends) and REST-style transactions (edits, deletes) on separate engines
    race in one room: every change takes its own rev, and last_rev counts them all."""
    from app.messages import service as message_service
    from app.users.models import User

    author, room_id = await seed(live_database)
    engines, committers = await start_committers(live_database, [1, 7, 1, 50])
    editors = [create_engine(live_database, pool_size=3, max_overflow=0) for _ in range(3)]
    try:
        first = await asyncio.gather(
            *(
                committers[i % 4].send(
                    room_id=room_id,
                    author_id=author.id,
                    author_json=author.model_dump_json(),
                    body=f"m{i}",
                    client_id=f"first{i}",
                )
                for i in range(60)
            )
        )
        ids = [o.message_id for o in first]

        async def change(n: int) -> None:
            sessionmaker = async_sessionmaker(editors[n % 3], expire_on_commit=False)
            async with sessionmaker() as session, session.begin():
                actor = await session.get_one(User, author.id)
                if n % 3 == 0:
                    await message_service.delete_message(session, actor, room_id, ids[n])
                else:
                    await message_service.edit_message(
                        session, actor, room_id, ids[n], f"edited {n}"
                    )

        more = [
            committers[i % 4].send(
                room_id=room_id,
                author_id=author.id,
                author_json=author.model_dump_json(),
                body=f"n{i}",
                client_id=f"more{i}",
            )
            for i in range(120)
        ]
        results = await asyncio.gather(*more, *(change(n) for n in range(60)))
    finally:
        await stop_committers(engines, committers)
        for engine in editors:
            await engine.dispose()

    sent = [o for o in (*first, *results[:120]) if isinstance(o, Stored)]
    assert len(sent) == 180
    engine = create_engine(live_database)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT seq, rev, created_rev FROM messages WHERE room_id = :r"),
                {"r": room_id},
            )
        ).all()
        last_rev = (
            await conn.execute(text("SELECT last_rev FROM rooms WHERE id = :r"), {"r": room_id})
        ).scalar_one()
    await engine.dispose()
    # 180 sends + 60 changes, each its own number: nothing shared, nothing lost.
    assert last_rev == 240
    assert len({rev for _, rev, _ in rows}) == len(rows) == 180
    assert max(rev for _, rev, _ in rows) <= last_rev
    assert sorted(created for _, _, created in rows) == sorted(o.rev for o in sent)
    assert sum(rev > created for _, rev, created in rows) == 60
