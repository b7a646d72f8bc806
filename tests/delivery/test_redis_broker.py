"""The Redis broker on its own, against a real Redis."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.delivery import events
from app.delivery.broker.redis import RedisBroker, channel_prefix
from app.delivery.events import Event
from tests.support.redis_server import PrivateRedis


class Inbox:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5) -> list[Event]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events


@pytest.fixture
async def pair(redis_url: str):  # type: ignore[no-untyped-def]
    a, b = RedisBroker(redis_url), RedisBroker(redis_url)
    inbox_a, inbox_b = Inbox(), Inbox()
    a.set_handler(inbox_a)
    b.set_handler(inbox_b)
    await a.start()
    await b.start()
    yield a, b, inbox_a, inbox_b
    await a.stop()
    await b.stop()


def message(room_id: int, seq: int) -> Event:
    return events.message_created(room_id=room_id, seq=seq, rev=seq, frame=f'{{"seq":{seq}}}')


async def test_events_reach_the_other_process_in_order(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, inbox_a, inbox_b = pair
    await a.subscribe("room:1")
    await b.subscribe("room:1")
    for seq in range(1, 201):
        a.publish(message(1, seq))
    received = await inbox_b.wait_for(200)
    assert [e.seq for e in received] == list(range(1, 201))
    assert received[0] == message(1, 1)
    # The publisher heard its own events once, locally, and not again through Redis.
    await asyncio.sleep(0.2)
    assert [e.seq for e in inbox_a.events] == list(range(1, 201))


async def test_only_subscribed_channels_arrive(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, _inbox_a, inbox_b = pair
    await b.subscribe("room:2")
    a.publish(message(3, 1))  # nobody listens to room 3
    a.publish(message(2, 1))
    received = await inbox_b.wait_for(1)
    await asyncio.sleep(0.2)
    assert [(e.room_id, e.seq) for e in received] == [(2, 1)]
    await b.unsubscribe("room:2")
    await asyncio.sleep(0.1)
    a.publish(message(2, 2))
    await asyncio.sleep(0.3)
    assert len(inbox_b.events) == 1


async def test_control_channel_is_always_heard(pair) -> None:  # type: ignore[no-untyped-def]
    a, _b, _inbox_a, inbox_b = pair
    a.publish(events.session_revoked(session_id=42))
    assert (await inbox_b.wait_for(1))[0] == events.session_revoked(session_id=42)


async def test_database_numbers_do_not_hear_each_other(redis_url: str) -> None:
    other_url = redis_url.rsplit("/", 1)[0] + "/" + ("2" if redis_url.endswith("/1") else "1")
    assert channel_prefix(redis_url) != channel_prefix(other_url)
    a, b = RedisBroker(redis_url), RedisBroker(other_url)
    inbox = Inbox()
    b.set_handler(inbox)
    a.set_handler(Inbox())
    await a.start()
    await b.start()
    try:
        await b.subscribe("room:9")
        a.publish(message(9, 1))
        await asyncio.sleep(0.3)
        assert inbox.events == []
    finally:
        await a.stop()
        await b.stop()


async def test_readiness_and_encoding(pair) -> None:  # type: ignore[no-untyped-def]
    a, _b, _ia, _ib = pair
    await a.ping()
    assert a.healthy
    event = events.room_frame(room_id=5, frame='{"x":"é|\\n"}', skip_user_id=3, skip_connection="c")
    assert Event.decode(event.encode()) == event
    change = events.message_changed(room_id=5, seq=2, rev=7, frame='{"type":"message.updated"}')
    assert Event.decode(change.encode()) == change
    assert Event.decode(change.encode()).rev == 7


async def test_a_quick_redis_restart_is_noticed_and_resynchronised(tmp_path: Path) -> None:
    """Redis back within a fraction of a second: redis-py alone would reconnect and
    resubscribe without a word, and what was published meanwhile would be lost for good.
    The broker must see the outage so that its listeners fetch the gap from the database."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    own = PrivateRedis(tmp_path).start()
    broker, other = RedisBroker(own.url), RedisBroker(own.url)
    inbox = Inbox()
    broker.set_handler(inbox)
    other.set_handler(Inbox())
    resynchronised = asyncio.Event()
    broker.add_reconnect_listener(resynchronised.set)
    await broker.start()
    try:
        await broker.subscribe("room:1")
        await asyncio.to_thread(own.stop)
        await asyncio.to_thread(own.start)
        await asyncio.wait_for(resynchronised.wait(), 10)
        # And the subscription is back: what another process publishes now arrives.
        await other.start()
        other.publish(message(1, 1))
        assert [e.seq for e in await inbox.wait_for(1)] == [1]
    finally:
        await broker.stop()
        await other.stop()
        own.stop()


async def test_a_subscription_that_stops_answering_is_replaced_and_resynchronised(
    tmp_path: Path,
) -> None:
    """A connection that stays open but goes silent (here: Redis pauses every client) must
    not leave the process deaf for good: unanswered PINGs count as an outage."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    own = PrivateRedis(tmp_path).start()
    broker = RedisBroker(own.url, quiet_seconds=0.3, pong_timeout_seconds=0.5)
    broker.set_handler(Inbox())
    resynchronised = asyncio.Event()
    broker.add_reconnect_listener(resynchronised.set)
    await broker.start()
    admin = Redis.from_url(own.url)
    try:
        await broker.subscribe("room:1")
        await admin.execute_command("CLIENT", "PAUSE", "2000", "ALL")
        await asyncio.wait_for(resynchronised.wait(), 15)
    finally:
        await admin.aclose()
        await broker.stop()
        own.stop()
