"""One send the database refuses never fails the others in its group-commit batch.

Edge validation keeps such sends out (tests/core/test_validation.py,
tests/realtime/test_poison_frames.py); these tests hand unvalidated sends straight to the
committer over the real stores and databases, as a gap in that validation would, and check
the defence behind it: the batch is split until the culprit is alone, the culprit is
refused as invalid (never "retry"), and everyone else is stored, in arrival order per room.
They commit for real, into the run's second database (`live_database`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.core.database import create_engine
from app.core.errors import DomainError
from app.messages.group_commit import MessageCommitter
from app.messages.pg_store import PostgresStore
from app.messages.sends import BatchStore, NewMessage, Outcome, Stored, UnstorableSend
from app.messages.session_store import SessionStore


class Recording:
    """The real store, remembering how many sends each call was given."""

    def __init__(self, store: BatchStore) -> None:
        self.store_ = store
        self.sizes: list[int] = []

    async def store(self, sends: Sequence[NewMessage], *, look_up_repeats: bool) -> list[Outcome]:
        self.sizes.append(len(sends))
        return await self.store_.store(sends, look_up_repeats=look_up_repeats)

    async def close(self) -> None:
        await self.store_.close()


def one_statement(engine: AsyncEngine) -> BatchStore:
    return PostgresStore(engine)


def portable(engine: AsyncEngine) -> BatchStore:
    return SessionStore(async_sessionmaker(engine, expire_on_commit=False))


async def seed(engine: AsyncEngine) -> tuple[int, int, int]:
    """A user who is a member of two new rooms: (user id, room id, room id)."""
    name = f"poison-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        user_id = (
            await conn.execute(
                text(
                    "INSERT INTO users (username, username_key, display_name, password_hash,"
                    " created_at) VALUES (:n, :n, 'P', 'x', :now) RETURNING id"
                ),
                {"n": name, "now": now},
            )
        ).scalar_one()
        rooms = []
        for suffix in ("a", "b"):
            room_id = (
                await conn.execute(
                    text(
                        "INSERT INTO rooms (name, name_key, topic, visibility, created_by,"
                        " created_at, last_seq) VALUES (:n, :n, '', 'public', :u, :now, 0)"
                        " RETURNING id"
                    ),
                    {"u": user_id, "n": f"{name}-{suffix}", "now": now},
                )
            ).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO room_members (room_id, user_id, role, joined_at, last_read_seq)"
                    " VALUES (:r, :u, 'owner', :now, 0)"
                ),
                {"r": room_id, "u": user_id, "now": now},
            )
            rooms.append(room_id)
    return user_id, rooms[0], rooms[1]


# What each database refuses (a send the edge would have refused): (room, body, client_id);
# ROOM is replaced by the first room's id.
ROOM = -1
REFUSED_BY_BOTH = {
    "surrogate-body": (ROOM, "bad \ud800", None),
    "surrogate-client-id": (ROOM, "fine", "c-\udc00"),
    "room-id-over-int8": (2**63, "fine", None),
}
REFUSED_BY_POSTGRES = {
    "nul-body": (ROOM, "bad \x00 body", None),
    "nul-client-id": (ROOM, "fine", "c-\x00"),
    "room-id-over-int4": (2**31, "fine", None),
    "client-id-over-varchar": (ROOM, "fine", "c" * 200),
}


@pytest.fixture(params=[one_statement, portable], ids=["one-statement", "portable"])
def make_store(request: pytest.FixtureRequest, backend: str) -> Callable[[AsyncEngine], BatchStore]:
    if request.param is one_statement and backend != "postgresql":
        pytest.skip("the one-statement store is PostgreSQL's")
    return request.param  # type: ignore[no-any-return]


async def test_the_culprits_are_refused_alone_and_the_rest_stored_in_order(
    live_database: str, backend: str, make_store: Callable[[AsyncEngine], BatchStore]
) -> None:
    poisons = dict(REFUSED_BY_BOTH)
    if backend == "postgresql":
        poisons |= REFUSED_BY_POSTGRES
    engine = create_engine(live_database)
    try:
        user_id, room_a, room_b = await seed(engine)
        store = Recording(make_store(engine))

        async def discard(_events: object) -> None:
            return None

        committer = MessageCommitter(store, committed=discard)
        committer.start()
        # Innocent sends in both rooms, with a poisoned one between every few of them.
        plan: list[tuple[str, int, str, str | None]] = []
        for n, (label, (room, body, client_id)) in enumerate(poisons.items()):
            plan.append(("ok", room_a, f"a{n}", f"a{n}-{uuid.uuid4().hex}"))
            plan.append(("ok", room_b, f"b{n}", None))
            plan.append((label, room_a if room == ROOM else room, body, client_id))
        plan.append(("ok", room_a, "last", None))
        outcomes = await asyncio.gather(
            *(
                asyncio.ensure_future(_send(committer, user_id, room, body, client_id))
                for _, room, body, client_id in plan
            )
        )
        await committer.stop()
    finally:
        await engine.dispose()

    assert store.sizes[0] == len(plan), "the sends were meant to share one batch"
    for (label, _, body, _), outcome in zip(plan, outcomes, strict=True):
        if label == "ok":
            assert isinstance(outcome, Stored), (body, outcome)
        else:
            assert isinstance(outcome, UnstorableSend), (label, outcome)
            assert outcome.code == "invalid_frame"
    # Within each room, seq follows arrival order and has no gaps.
    for room in (room_a, room_b):
        seqs = [
            o.seq
            for (_, r, _, _), o in zip(plan, outcomes, strict=True)
            if r == room and isinstance(o, Stored)
        ]
        assert seqs == list(range(1, len(seqs) + 1))


async def _send(
    committer: MessageCommitter, user_id: int, room_id: int, body: str, client_id: str | None
) -> Outcome:
    try:
        return await committer.send(
            room_id=room_id,
            author_id=user_id,
            author_json=f'{{"id": {user_id}}}',
            body=body,
            client_id=client_id,
        )
    except DomainError as exc:
        return exc
