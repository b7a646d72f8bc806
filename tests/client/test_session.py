"""The WebSocket session against real servers: resume and outbox across a restart,
the token renewed in band, `retry_after` honoured, an incomplete replay paged."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError

from app.client import Message, ParleyClient, Session
from app.client.models import Disconnected, ErrorFrame
from tests.client.conftest import unique
from tests.support.server import ServerFactory

pytestmark = pytest.mark.one_backend

NewClient = Callable[..., Awaitable[ParleyClient]]


def _view(messages: list[Message]) -> list[tuple[int, int, int, str, bool]]:
    return [(m.id, m.seq, m.rev, m.body, m.deleted) for m in messages]


async def _converged(session: Session, client: ParleyClient, room_id: int) -> None:
    """Until the session's view of the room equals the server's history (bounded)."""
    async with asyncio.timeout(30):
        while True:
            stored = await client.all_messages(room_id)
            if _view(session.messages(room_id)) == _view(stored):
                return
            await asyncio.sleep(0.2)


async def test_outbox_and_resume_survive_a_server_restart(
    make_server: ServerFactory, new_client: NewClient
) -> None:
    server = make_server()
    alice = await new_client(server.base_url)
    bob = await new_client(server.base_url)
    room = await alice.create_room(unique("restart"))
    await bob.join(room.id)
    seen = await bob.send(room.id, "before the session")

    async with alice.session([room.id]) as session:
        async with asyncio.timeout(20):
            await session.wait_live()
        sends = [await session.send(room.id, f"m{i}") for i in range(10)]
        # SIGTERM while sends are in flight; more are queued while the server is down.
        stopping = asyncio.create_task(asyncio.to_thread(server.stop))
        for i in range(10, 25):
            sends.append(await session.send(room.id, f"m{i}"))
            await asyncio.sleep(0.01)
        await stopping
        await asyncio.to_thread(server.start)
        # Changes made while the session is away or reconnecting reach it by `rev`.
        await bob.edit(room.id, seen.id, "edited while alice was away")
        extra = await bob.send(room.id, "after the restart")
        await bob.react(room.id, extra.id, "👍")

        async with asyncio.timeout(60):
            acked = await asyncio.gather(*sends)
        assert [m.body for m in acked] == [f"m{i}" for i in range(25)]
        assert session.pending == []
        await _converged(session, alice, room.id)

    stored = await alice.all_messages(room.id)
    bodies = Counter(m.body for m in stored)
    assert all(bodies[f"m{i}"] == 1 for i in range(25)), bodies  # nothing lost or doubled
    assert len(stored) == 27
    assert [m.seq for m in stored] == list(range(1, 28))


async def test_the_token_is_renewed_in_band(
    make_server: ServerFactory, new_client: NewClient
) -> None:
    server = make_server(ACCESS_TOKEN_TTL_SECONDS="3")
    alice = await new_client(server.base_url, refresh_margin=1.5)
    room = await alice.create_room(unique("renew"))
    first = alice.access_token
    async with alice.session([room.id]) as session:
        async with asyncio.timeout(20):
            await session.wait_live()
        await asyncio.sleep(5)  # past the first token's expiry
        async with asyncio.timeout(10):
            message = await (await session.send(room.id, "still here"))
        events = []
        while not session._events.empty():
            events.append(session._events.get_nowait())
    assert alice.access_token != first
    assert message.body == "still here"
    assert not [e for e in events if isinstance(e, Disconnected)], events


async def test_rate_limited_sends_are_resent_after_retry_after(
    make_server: ServerFactory, new_client: NewClient
) -> None:
    server = make_server(MESSAGES_PER_SECOND="2", MESSAGES_BURST="2")
    alice = await new_client(server.base_url)
    room = await alice.create_room(unique("limit"))
    async with alice.session([room.id]) as session:
        async with asyncio.timeout(20):
            await session.wait_live()
        sends = [await session.send(room.id, f"r{i}") for i in range(6)]
        async with asyncio.timeout(30):
            acked = await asyncio.gather(*sends)
        events = []
        while not session._events.empty():
            events.append(session._events.get_nowait())
    assert sorted(m.body for m in acked) == sorted(f"r{i}" for i in range(6))
    limited = [e for e in events if isinstance(e, ErrorFrame) and e.code == "rate_limited"]
    assert limited
    assert all(e.retry_after for e in limited)
    stored = await alice.all_messages(room.id)
    assert Counter(m.body for m in stored) == Counter(f"r{i}" for i in range(6))


async def test_an_incomplete_replay_is_paged_from_changes(
    make_server: ServerFactory, new_client: NewClient
) -> None:
    server = make_server(REPLAY_LIMIT="3")
    alice = await new_client(server.base_url)
    room = await alice.create_room(unique("paged"))
    sent = [await alice.send(room.id, f"p{i}") for i in range(10)]
    await alice.edit(room.id, sent[0].id, "p0 edited")
    await alice.delete(room.id, sent[1].id)
    async with alice.session([room.id]) as session:
        await _converged(session, alice, room.id)
        assert session.rooms[room.id].last_rev == (await alice.room(room.id)).last_rev


async def test_a_send_the_server_would_refuse_raises_before_it_is_queued() -> None:
    async with ParleyClient("http://127.0.0.1:9") as client:
        session = client.session([])
        with pytest.raises(ValidationError):
            await session.send(1, "x" * 4001)
        with pytest.raises(ValidationError):
            await session.send(1, "   ")
        assert session.pending == []


async def test_a_room_it_may_not_subscribe_to_is_dropped_not_retried(
    make_server: ServerFactory, new_client: NewClient
) -> None:
    server = make_server()
    alice = await new_client(server.base_url)
    bob = await new_client(server.base_url)
    mine = await alice.create_room(unique("mine"))
    theirs = await bob.create_room(unique("theirs"), visibility="private")
    async with alice.session([mine.id, theirs.id]) as session:
        async with asyncio.timeout(20):
            await session.wait_live()
            errors = []
            while not errors:
                event = await session.next_event()
                if isinstance(event, ErrorFrame):
                    errors.append(event)
        assert list(session.rooms) == [mine.id]
        assert errors[0].code in {"not_found", "not_member"}
