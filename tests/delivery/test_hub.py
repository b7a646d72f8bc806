"""The hub on its own: ordering, gaps, the replay/live boundary, filtering, slow clients.

These drive the hub directly with events in any order a broker might deliver them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from app.delivery import events
from app.delivery.broker import MemoryBroker
from app.delivery.connection import Connection
from app.delivery.hub import Hub


class FakeSocket:
    def __init__(self) -> None:
        self.closed_with: tuple[int, str] | None = None

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = (code, reason)


def connection(user_id: int = 1, session_id: int = 1, limit: int = 100) -> Connection:
    return Connection(
        FakeSocket(),  # type: ignore[arg-type]
        user_id=user_id,
        user_json=f'{{"id":{user_id}}}',
        session_id=session_id,
        limit=limit,
    )


def queued(conn: Connection) -> list[Any]:
    return [orjson.loads(message["text"]) for message in conn._queue]


def message(room_id: int, seq: int) -> events.Event:
    frame = orjson.dumps({"type": "message", "message": {"seq": seq, "rev": seq}}).decode()
    return events.message_created(room_id=room_id, seq=seq, rev=seq, frame=frame)


def seqs(conn: Connection) -> list[int]:
    return [f["message"]["seq"] for f in queued(conn) if f["type"] == "message"]


class Harness:
    def __init__(self, stored: dict[int, list[int]] | None = None, gap_timeout: float = 0.05):
        self.broker = MemoryBroker()
        self.stored = stored or {}
        self.fills: list[tuple[int, int, int]] = []
        self.ended: list[tuple[Connection, int]] = []
        self.hub = Hub(
            self.broker,
            fill_gap=self.fill_gap,
            on_ended=lambda c, r: self.ended.append((c, r)),
            gap_timeout=gap_timeout,
        )
        self.broker.set_handler(self.hub.dispatch)
        self.broker.add_reconnect_listener(self.hub.resync)

    async def fill_gap(
        self, room_id: int, after: int, upto: int | None, limit: int
    ) -> list[tuple[int, str]]:
        self.fills.append((room_id, after, upto))
        return [
            (seq, message(room_id, seq).frame)
            for seq in self.stored.get(room_id, [])
            if after < seq and (upto is None or seq <= upto)
        ][:limit]

    async def live(self, conn: Connection, room_id: int, snapshot: int = 0) -> None:
        self.hub.add(conn)
        await self.hub.open(conn, room_id)
        self.hub.go_live(conn, room_id, snapshot, '{"type":"subscribed"}')


async def test_messages_are_delivered_in_seq_order_whatever_the_arrival_order() -> None:
    h = Harness()
    a = connection()
    await h.live(a, room_id=7, snapshot=0)
    for seq in (1, 3, 2, 5, 4, 6):
        h.broker.publish(message(7, seq))
    assert seqs(a) == [1, 2, 3, 4, 5, 6]


async def test_duplicates_are_dropped() -> None:
    h = Harness()
    a = connection()
    await h.live(a, room_id=7, snapshot=2)
    for seq in (1, 2, 3, 3, 2, 4):
        h.broker.publish(message(7, seq))
    assert seqs(a) == [3, 4]


async def test_a_gap_that_never_closes_is_filled_from_the_store() -> None:
    h = Harness(stored={7: [1, 2, 3, 4]})
    a = connection()
    await h.live(a, room_id=7, snapshot=0)
    h.broker.publish(message(7, 1))
    h.broker.publish(message(7, 4))  # 2 and 3 were published by a process that died
    assert seqs(a) == [1]
    await asyncio.sleep(0.2)
    assert h.fills == [(7, 1, 3)]
    assert seqs(a) == [1, 2, 3, 4]
    h.broker.publish(message(7, 2))  # arriving late after all: not repeated
    h.broker.publish(message(7, 5))
    assert seqs(a) == [1, 2, 3, 4, 5]


async def test_a_gap_closed_in_time_needs_no_store() -> None:
    h = Harness()
    a = connection()
    await h.live(a, room_id=7, snapshot=0)
    h.broker.publish(message(7, 2))
    h.broker.publish(message(7, 1))
    await asyncio.sleep(0.1)
    assert h.fills == []
    assert seqs(a) == [1, 2]


async def test_the_replay_boundary_loses_and_repeats_nothing() -> None:
    """Live events during the replay are held; those the replay already had are dropped."""
    h = Harness()
    old = connection(user_id=1)
    await h.live(old, room_id=7, snapshot=0)
    for seq in (1, 2, 3):
        h.broker.publish(message(7, seq))

    new = connection(user_id=2)
    h.hub.add(new)
    await h.hub.open(new, 7)
    for seq in (4, 5):  # committed while the new one's replay is read
        h.broker.publish(message(7, seq))
    new.push('{"type":"message","message":{"seq":1}}')  # the replay: 1..4 (4 was in the read)
    for seq in (2, 3, 4):
        new.push(orjson.dumps({"type": "message", "message": {"seq": seq}}).decode())
    h.hub.go_live(new, 7, 4, '{"type":"subscribed"}')
    h.broker.publish(message(7, 6))

    assert [f["type"] for f in queued(new)][4] == "subscribed"
    assert seqs(new) == [1, 2, 3, 4, 5, 6]
    assert seqs(old) == [1, 2, 3, 4, 5, 6]


async def test_first_subscriber_sets_the_baseline() -> None:
    h = Harness()
    a = connection()
    h.hub.add(a)
    await h.hub.open(a, 7)
    h.broker.publish(message(7, 12))  # arrives before the snapshot is known
    h.broker.publish(message(7, 11))
    h.hub.go_live(a, 7, 10, '{"type":"subscribed"}')
    h.broker.publish(message(7, 13))
    assert seqs(a) == [11, 12, 13]


def change(room_id: int, rev: int, kind: str = "message.updated") -> events.Event:
    frame = orjson.dumps({"type": kind, "message": {"rev": rev}}).decode()
    return events.message_changed(room_id=room_id, seq=1, rev=rev, frame=frame)


def revs(conn: Connection) -> list[int]:
    return [f["message"]["rev"] for f in queued(conn) if "message" in f]


async def test_edits_and_new_messages_are_delivered_in_rev_order() -> None:
    """An edit committed between two sends may reach the broker after the later send."""
    h = Harness()
    a = connection()
    await h.live(a, room_id=7, snapshot=0)
    h.broker.publish(message(7, 1))
    h.broker.publish(message(7, 3))
    h.broker.publish(change(7, 2))
    assert [f["type"] for f in queued(a)][1:] == ["message", "message.updated", "message"]
    assert revs(a) == [1, 2, 3]


async def test_a_superseded_rev_is_skipped_after_asking_the_store() -> None:
    """Rev 2 was an edit whose message was edited again (rev 4): the store has no rev 2 any
    more, and the feed moves on instead of stalling the room."""
    h = Harness(stored={7: [1, 3, 4]})
    a = connection()
    await h.live(a, room_id=7, snapshot=0)
    h.broker.publish(message(7, 1))
    h.broker.publish(change(7, 4))  # rev 2 lost with its process, rev 3 late
    await asyncio.sleep(0.2)
    assert h.fills == [(7, 1, 3)]
    assert revs(a) == [1, 3, 4]
    h.broker.publish(message(7, 3))  # arriving after its fill: not repeated
    h.broker.publish(change(7, 5))
    assert revs(a) == [1, 3, 4, 5]


async def test_a_subscriber_whose_replay_is_ahead_of_a_held_gap_gets_nothing_twice() -> None:
    h = Harness(gap_timeout=10)
    old = connection(user_id=1)
    await h.live(old, room_id=7, snapshot=0)
    h.broker.publish(message(7, 1))
    h.broker.publish(message(7, 3))  # held: rev 2 (an edit) is still on its way
    new = connection(user_id=2)
    h.hub.add(new)
    await h.hub.open(new, 7)
    h.hub.go_live(new, 7, 3, '{"type":"subscribed"}')  # its replay held revs up to 3
    h.broker.publish(change(7, 2))
    h.broker.publish(change(7, 4))
    assert revs(old) == [1, 2, 3, 4]
    assert revs(new) == [4]


async def test_a_long_gap_is_filled_page_by_page() -> None:
    h = Harness(stored={7: list(range(1, 2502))})
    a = connection(limit=5000)
    await h.live(a, room_id=7, snapshot=0)
    h.broker.publish(message(7, 1))
    h.broker.publish(message(7, 2501))  # 2..2500 were lost with their process
    await asyncio.sleep(0.3)
    assert revs(a) == list(range(1, 2502))
    assert h.fills == [(7, 1, 2500), (7, 1001, 2500), (7, 2001, 2500)]


async def test_resync_pages_through_every_change_past_gaps() -> None:
    h = Harness(stored={7: [r for r in range(2, 2500) if r % 3]})
    a = connection(limit=5000)
    await h.live(a, room_id=7, snapshot=1)
    h.hub.resync()
    await asyncio.sleep(0.1)
    assert revs(a) == [r for r in range(2, 2500) if r % 3]
    assert [upto for _, _, upto in h.fills] == [None, None]


async def test_typing_skips_the_typist_and_read_skips_its_origin() -> None:
    h = Harness()
    alice1, alice2, bob = connection(1), connection(1), connection(2)
    for conn in (alice1, alice2, bob):
        await h.live(conn, room_id=7)
    h.broker.publish(events.room_frame(room_id=7, frame='{"type":"typing"}', skip_user_id=1))
    h.broker.publish(
        events.room_frame(room_id=7, frame='{"type":"read"}', skip_connection=alice1.id)
    )
    assert [f["type"] for f in queued(alice1)] == ["subscribed"]
    assert [f["type"] for f in queued(alice2)] == ["subscribed", "read"]
    assert [f["type"] for f in queued(bob)] == ["subscribed", "typing", "read"]


async def test_other_rooms_are_not_heard() -> None:
    h = Harness()
    a = connection()
    await h.live(a, room_id=7)
    h.broker.publish(message(8, 1))
    h.broker.publish(events.room_frame(room_id=8, frame='{"type":"typing"}'))
    assert queued(a) == [{"type": "subscribed"}]


async def test_member_left_ends_only_that_users_subscriptions() -> None:
    h = Harness()
    alice, bob = connection(1), connection(2)
    await h.live(alice, room_id=7)
    await h.live(bob, room_id=7)
    h.broker.publish(
        events.member_left(room_id=7, user_id=2, frame='{"type":"unsubscribed","room_id":7}')
    )
    h.broker.publish(message(7, 1))
    assert seqs(alice) == [1]
    assert [f["type"] for f in queued(bob)] == ["subscribed", "unsubscribed"]
    assert bob.rooms == set()
    assert h.ended == [(bob, 7)]


async def test_room_deleted_ends_every_subscription() -> None:
    h = Harness()
    alice, bob = connection(1), connection(2)
    await h.live(alice, room_id=7)
    await h.live(bob, room_id=7)
    h.broker.publish(events.room_deleted(room_id=7, frame='{"type":"room.deleted"}'))
    assert [f["type"] for f in queued(alice)][-1] == "room.deleted"
    assert h.hub.subscribers(7) == 0
    assert {c for c, _ in h.ended} == {alice, bob}


async def test_session_revoked_closes_that_sessions_connections() -> None:
    h = Harness()
    mine, also_mine, other = connection(1, 10), connection(1, 10), connection(1, 11)
    for conn in (mine, also_mine, other):
        h.hub.add(conn)
    h.broker.publish(events.session_revoked(session_id=10))
    await asyncio.sleep(0)
    assert mine.close_code == also_mine.close_code == 4401
    assert other.close_code is None


async def test_a_full_queue_cuts_the_connection_and_nobody_else() -> None:
    h = Harness()
    slow, fine = connection(1, limit=8), connection(2, limit=100)
    await h.live(slow, room_id=7)
    await h.live(fine, room_id=7)
    for seq in range(1, 21):
        h.broker.publish(message(7, seq))
    await asyncio.sleep(0)
    assert slow.close_code == 1013
    assert slow.backlog == 0  # dropped, not sent
    assert seqs(fine) == list(range(1, 21))


async def test_unsubscribing_the_last_connection_leaves_the_channel() -> None:
    h = Harness()
    a = connection()
    await h.live(a, room_id=7)
    assert "room:7" in h.broker._channels
    assert h.hub.close_subscription(a, 7)
    await asyncio.sleep(0)
    assert "room:7" not in h.broker._channels
    assert not h.hub.close_subscription(a, 7)


@pytest.mark.parametrize("limit", [8, 64])
async def test_drained_waits_until_half_empty(limit: int) -> None:
    conn = connection(limit=limit)
    for i in range(limit - 1):
        conn.push(f'"{i}"')
    waiter = asyncio.create_task(conn.drained())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    while conn.backlog > limit // 2:
        conn._queue.pop(0)
    conn._wake_drainer()
    await asyncio.wait_for(waiter, 1)


async def test_a_second_gap_behind_a_filled_one_is_waited_for_not_skipped() -> None:
    """Found by the killed-host scenario (tests/delivery/test_hosts.py): seqs 2..3 are
    filled from the store; 5 is still on its way from another process (4 arrived through
    the fill's release). The hub must wait for 5 (and fill it from the store if need be),
    not declare it "never arrived" and jump past it."""
    harness = Harness(stored={1: [2, 3, 4, 5]})
    conn = connection()
    await harness.live(conn, 1)
    harness.broker.publish(message(1, 1))
    harness.broker.publish(message(1, 4))
    harness.broker.publish(message(1, 6))
    await asyncio.sleep(0.08)  # the gap timer fills 2..3; 5 is a new, younger gap
    harness.broker.publish(message(1, 5))
    await asyncio.sleep(0.08)
    assert seqs(conn) == [1, 2, 3, 4, 5, 6]


async def test_a_subscriber_whose_replay_is_ahead_of_the_live_feed_gets_nothing_twice() -> None:
    """Found by the killed-host scenario: a client resumed on a host whose live feed was
    behind (waiting for a gap); its replay from the store went up to seq 5. When the feed
    catches up it must not send seqs 3..5 to that client again, and the others get them."""
    harness = Harness(stored={1: [1, 2, 3, 4, 5]}, gap_timeout=10)
    old = connection(user_id=1)
    await harness.live(old, 1)
    harness.broker.publish(message(1, 1))
    harness.broker.publish(message(1, 2))
    harness.broker.publish(message(1, 4))  # 3 is late: 4 is held
    resumed = connection(user_id=2)
    await harness.live(resumed, 1, snapshot=5)  # replayed 1..5 from the store
    harness.broker.publish(message(1, 3))
    harness.broker.publish(message(1, 5))
    harness.broker.publish(message(1, 6))
    assert seqs(old) == [1, 2, 3, 4, 5, 6]
    assert seqs(resumed) == [6]
