"""The connection hub: which local connections hear which room, and delivery to them.

The hub knows nothing of SQL, Redis or presence. It keeps, per room with local subscribers,
a feed that delivers change events (new, edited, deleted messages) strictly in the order of
the room's change number `rev` (holding early arrivals until the gap closes, and asking
`fill_gap` for what never arrives), and it enqueues each event's one serialized frame on
every subscriber's queue. Other frames (typing, read, presence) are not ordered (key 0).
New subscribers are `pending` while their replay is sent: live events are buffered for them
and released after the replay, skipping what the replay already held, so nothing is lost or
repeated at the boundary.

A rev may never arrive: a message keeps only its latest change number, so a change that was
superseded before it could be fetched is simply absent. Once the store has been asked about a
range, whatever it did not return is treated as superseded and the feed moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.core import metrics
from app.delivery.broker import Broker
from app.delivery.connection import TOKEN_EXPIRED, Connection
from app.delivery.events import Event, Kind, room_channel

logger = logging.getLogger(__name__)

# (room_id, after_rev, upto_rev or None, limit): the changes after_rev < rev <= upto_rev as
# (rev, frame), in rev order, at most `limit`, each typed for a client that has after_rev.
GapFiller = Callable[[int, int, int | None, int], Awaitable[list[tuple[int, str]]]]
# Told when a subscription ends without the client asking (room deleted, membership ended).
EndedCallback = Callable[[Connection, int], None]

GAP_TIMEOUT_SECONDS = 1.0
RESYNC_PAGE = 1000


@dataclass(eq=False)
class RoomFeed:
    room_id: int
    live: set[Connection] = field(default_factory=set)
    pending: dict[Connection, list[tuple[int, str]]] = field(default_factory=dict)
    last_rev: int | None = None  # highest rev delivered in order; None until a first snapshot
    held: dict[int, str] = field(default_factory=dict)  # arrived ahead of a gap
    # Live connections whose replay reached further than the feed has delivered (the feed
    # is holding for a gap): they skip changes up to that rev, which they already have.
    floors: dict[Connection, int] = field(default_factory=dict)
    gap_timer: asyncio.TimerHandle | None = None
    ready: asyncio.Future[None] | None = None  # the broker subscription is in place

    @property
    def empty(self) -> bool:
        return not self.live and not self.pending


class Hub:
    def __init__(
        self,
        broker: Broker,
        *,
        fill_gap: GapFiller,
        on_ended: EndedCallback,
        gap_timeout: float = GAP_TIMEOUT_SECONDS,
    ) -> None:
        self._broker = broker
        self._fill_gap = fill_gap
        self._on_ended = on_ended
        self._gap_timeout = gap_timeout
        self._feeds: dict[int, RoomFeed] = {}
        self._connections: set[Connection] = set()
        # A user's connections here: the connection itself while it is their only one (most
        # users have one, and an empty set alone is about 0.2 KiB), else a set.
        self._by_user: dict[int, Connection | set[Connection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # Connections -----------------------------------------------------------------------

    @property
    def connections(self) -> frozenset[Connection]:
        return frozenset(self._connections)

    def connections_of(self, user_id: int) -> int:
        """How many connections `user_id` has open in this process."""
        peers = self._by_user.get(user_id)
        if peers is None:
            return 0
        return 1 if isinstance(peers, Connection) else len(peers)

    def _connections_of(self, user_id: int) -> list[Connection]:
        peers = self._by_user.get(user_id)
        if peers is None:
            return []
        return [peers] if isinstance(peers, Connection) else list(peers)

    def add(self, connection: Connection) -> None:
        self._connections.add(connection)
        peers = self._by_user.get(connection.user_id)
        if peers is None:
            self._by_user[connection.user_id] = connection
        elif isinstance(peers, Connection):
            if peers is not connection:
                self._by_user[connection.user_id] = {peers, connection}
        else:
            peers.add(connection)

    def remove(self, connection: Connection) -> list[int]:
        """Forget a connection; returns the rooms it was subscribed to."""
        self._connections.discard(connection)
        peers = self._by_user.get(connection.user_id)
        if peers is connection:
            del self._by_user[connection.user_id]
        elif isinstance(peers, set):
            peers.discard(connection)
            if len(peers) == 1:
                self._by_user[connection.user_id] = peers.pop()
        rooms = sorted(connection.rooms)
        connection.rooms.clear()
        for room_id in rooms:
            self._leave_feed(connection, room_id)
        return rooms

    def subscribers(self, room_id: int) -> int:
        feed = self._feeds.get(room_id)
        return 0 if feed is None else len(feed.live) + len(feed.pending)

    # Subscriptions ---------------------------------------------------------------------

    async def open(self, connection: Connection, room_id: int) -> None:
        """Start buffering the room's events for `connection`, and return once the broker
        delivers the room here: anything committed after this returns will reach us."""
        feed = self._feeds.get(room_id)
        if feed is None:
            feed = self._feeds[room_id] = RoomFeed(room_id)
            feed.ready = asyncio.get_running_loop().create_future()
            self._spawn(self._subscribe_channel(feed))
        feed.pending[connection] = []
        metrics.SUBSCRIPTIONS.inc()
        connection.rooms.add(room_id)
        assert feed.ready is not None
        try:
            await asyncio.shield(feed.ready)
        except BaseException:
            self.close_subscription(connection, room_id)
            raise

    def go_live(self, connection: Connection, room_id: int, snapshot_rev: int, first: str) -> None:
        """End the replay: send `first` (the `subscribed` frame), then what was buffered with
        rev > snapshot_rev, then live events. `snapshot_rev` is the room's last_rev when the
        replay was read: every change up to it was in the replay or is not wanted."""
        feed = self._feeds.get(room_id)
        if feed is None or connection not in feed.pending:
            return
        buffered = feed.pending.pop(connection)
        connection.push(first)
        for rev, frame in buffered:
            if rev == 0 or rev > snapshot_rev:
                connection.push(frame)
        feed.live.add(connection)
        if feed.last_rev is None:
            feed.last_rev = snapshot_rev
            self._release_held(feed)
        elif feed.last_rev < snapshot_rev:
            feed.floors[connection] = snapshot_rev

    def close_subscription(self, connection: Connection, room_id: int) -> bool:
        """Stop the connection hearing the room; True if it was subscribed."""
        if room_id not in connection.rooms:
            return False
        connection.rooms.discard(room_id)
        self._leave_feed(connection, room_id)
        return True

    def _leave_feed(self, connection: Connection, room_id: int) -> None:
        feed = self._feeds.get(room_id)
        if feed is None:
            return
        subscribed = connection in feed.live or connection in feed.pending
        feed.live.discard(connection)
        feed.pending.pop(connection, None)
        if subscribed:
            metrics.SUBSCRIPTIONS.dec()
        feed.floors.pop(connection, None)
        if feed.empty:
            self._drop_feed(feed)

    def _drop_feed(self, feed: RoomFeed) -> None:
        if self._feeds.get(feed.room_id) is feed:
            del self._feeds[feed.room_id]
        if feed.gap_timer is not None:
            feed.gap_timer.cancel()
        self._spawn(self._broker.unsubscribe(room_channel(feed.room_id)))

    async def _subscribe_channel(self, feed: RoomFeed) -> None:
        assert feed.ready is not None
        try:
            await self._broker.subscribe(room_channel(feed.room_id))
        except Exception as exc:  # reported to every waiting subscriber, then re-raised below
            if not feed.ready.done():
                feed.ready.set_exception(exc)
            raise
        if not feed.ready.done():
            feed.ready.set_result(None)

    # Delivery --------------------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        """The broker's handler: route one event to local connections. Never blocks."""
        kind = event.kind
        if kind is Kind.SESSION_REVOKED:
            for connection in list(self._connections):
                if connection.session_id == event.session_id:
                    connection.close(TOKEN_EXPIRED, "session revoked")
            return
        if kind is Kind.USER:
            for connection in self._connections_of(event.user_id):
                connection.push(event.frame)
            return
        feed = self._feeds.get(event.room_id)
        if feed is None:
            return
        if kind is Kind.MESSAGE:
            self._order(feed, event.rev, event.frame)
        elif kind is Kind.ROOM:
            self._deliver(feed, 0, event.frame, event.user_id, event.origin)
        elif kind is Kind.ROOM_DELETED:
            self._deliver(feed, 0, event.frame, 0, "")
            self._end_all(feed, lambda _connection: True)
        elif kind is Kind.MEMBER_LEFT:
            self._end_all(feed, lambda connection: connection.user_id == event.user_id, event.frame)

    def _order(self, feed: RoomFeed, rev: int, frame: str) -> None:
        if feed.last_rev is None or rev > feed.last_rev + 1:
            feed.held[rev] = frame
            if feed.last_rev is not None:
                self._arm_gap_timer(feed)
            return
        if rev <= feed.last_rev:
            return  # already delivered (a gap fill overtook the broker, or a duplicate)
        self._deliver(feed, rev, frame, 0, "")
        feed.last_rev = rev
        if feed.held:
            self._release_held(feed)

    def _release_held(self, feed: RoomFeed) -> None:
        assert feed.last_rev is not None
        for rev in [r for r in feed.held if r <= feed.last_rev]:
            del feed.held[rev]
        while (frame := feed.held.pop(feed.last_rev + 1, None)) is not None:
            feed.last_rev += 1
            self._deliver(feed, feed.last_rev, frame, 0, "")
        if feed.held:
            self._arm_gap_timer(feed)
        elif feed.gap_timer is not None:
            feed.gap_timer.cancel()
            feed.gap_timer = None

    def _apply_fill(self, feed: RoomFeed, found: list[tuple[int, str]], upto: int) -> None:
        """The store's answer for the revs up to `upto` is complete: deliver it with what was
        held in that range, in rev order, and move past `upto` (a rev in neither was
        superseded by a later change of the same message)."""
        if feed.last_rev is None:
            return
        changes = {rev: frame for rev, frame in found if feed.last_rev < rev <= upto}
        for rev in [r for r in feed.held if r <= upto]:
            changes.setdefault(rev, feed.held.pop(rev))
        for rev in sorted(changes):
            if rev > feed.last_rev:
                self._deliver(feed, rev, changes[rev], 0, "")
                feed.last_rev = rev
        feed.last_rev = max(feed.last_rev, upto)
        self._release_held(feed)

    def _deliver(self, feed: RoomFeed, rev: int, frame: str, skip_user: int, origin: str) -> None:
        # One ASGI message for every recipient, and over a copy of the set: a push may close
        # a too-slow connection, which then leaves it.
        message = {"type": "websocket.send", "text": frame}
        if rev and feed.floors:
            for connection in list(feed.live):
                floor = feed.floors.get(connection)
                if floor is None:
                    connection.push_message(message)
                elif rev > floor:
                    del feed.floors[connection]  # caught up with its replay
                    connection.push_message(message)
        elif skip_user or origin:
            for connection in list(feed.live):
                if connection.user_id != skip_user and connection.id != origin:
                    connection.push_message(message)
        else:
            for connection in list(feed.live):
                connection.push_message(message)
        for connection, buffer in feed.pending.items():
            if connection.user_id != skip_user and connection.id != origin:
                buffer.append((rev, frame))

    def _end_all(
        self, feed: RoomFeed, which: Callable[[Connection], bool], frame: str = ""
    ) -> None:
        for connection in [c for c in (*feed.live, *feed.pending) if which(c)]:
            if frame:
                connection.push(frame)
            self.close_subscription(connection, feed.room_id)
            self._on_ended(connection, feed.room_id)

    # Gaps ------------------------------------------------------------------------------

    def _arm_gap_timer(self, feed: RoomFeed) -> None:
        if feed.gap_timer is None:
            feed.gap_timer = asyncio.get_running_loop().call_later(
                self._gap_timeout, lambda: self._spawn(self._close_gap(feed))
            )

    async def _close_gap(self, feed: RoomFeed) -> None:
        feed.gap_timer = None
        if self._feeds.get(feed.room_id) is not feed or not feed.held or feed.last_rev is None:
            return
        start, end = feed.last_rev, min(feed.held) - 1
        metrics.GAP_FILLS.inc()
        logger.warning(
            "room %s: rev %s..%s missing after %.1fs, fetching them from the database",
            feed.room_id,
            start + 1,
            end,
            self._gap_timeout,
        )
        # Page by page, so that a long outage never loads one unbounded list.
        while self._feeds.get(feed.room_id) is feed and feed.last_rev < end:
            limit = min(end - feed.last_rev, RESYNC_PAGE)
            found = await self._fill_gap(feed.room_id, feed.last_rev, end, limit)
            if self._feeds.get(feed.room_id) is not feed or feed.last_rev is None:
                return
            self._apply_fill(feed, found, found[-1][0] if len(found) == limit else end)

    def resync(self) -> None:
        """The broker missed events for a while: fetch every room's changes from the store."""
        metrics.RESYNCS.inc()
        for feed in list(self._feeds.values()):
            if feed.last_rev is not None:
                self._spawn(self._catch_up(feed))

    async def _catch_up(self, feed: RoomFeed) -> None:
        while self._feeds.get(feed.room_id) is feed and feed.last_rev is not None:
            found = await self._fill_gap(feed.room_id, feed.last_rev, None, RESYNC_PAGE)
            if self._feeds.get(feed.room_id) is not feed or not found:
                return
            # Everything up to the last rev found is known now (what is missing below it
            # was superseded); changes after it come live or in the next page.
            self._apply_fill(feed, found, found[-1][0])
            if len(found) < RESYNC_PAGE:
                return

    # Housekeeping ----------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("hub task failed: %r", task.exception())

    def close_all(self, code: int, reason: str) -> None:
        for connection in list(self._connections):
            connection.close(code, reason)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
