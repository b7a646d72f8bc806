"""Subscribing connections to rooms: authorization, replay, going live, presence.

This is where the real-time layer meets the database; the hub it drives does not.

Resume without loss or repeats: the connection is registered with the hub (live events are
buffered for it) and the broker delivers the room here *before* the database is read. So a
change committed before the read is in the replay, one committed after it is in the buffer,
and one in both is dropped by rev when the buffer is released. The room's `last_seq` and
`last_rev` are read in the replay's transaction, so they describe exactly what it saw.

The hub asks two things of this layer, each a small class here that `lifespan` hands it:
`RoomHistory.fill_gap` (changes it missed) and `RoomPresence.ended` (a subscription it ended).
"""

from __future__ import annotations

import asyncio
import logging

from app.core import metrics
from app.core.database import Transaction
from app.core.errors import DomainError, Unavailable
from app.delivery import events, frames
from app.delivery.broker import Broker
from app.delivery.connection import Connection
from app.delivery.hub import Hub
from app.delivery.presence import Presence
from app.messages import service as message_service
from app.rooms import service as room_service

logger = logging.getLogger(__name__)

REPLAY_CHUNK = 100


class AlreadySubscribed(DomainError):
    default_detail = "Already subscribed to that room."


class Subscriptions:
    def __init__(
        self,
        *,
        hub: Hub,
        presence: Presence,
        room_presence: RoomPresence,
        transaction: Transaction,
        replay_limit: int,
    ) -> None:
        self.hub = hub
        self._presence = presence
        self._room_presence = room_presence
        self._transaction = transaction
        self._replay_limit = replay_limit

    async def subscribe(
        self,
        connection: Connection,
        room_id: int,
        since_seq: int | None,
        ref: frames.Ref,
        since_rev: int | None = None,
    ) -> None:
        """Replay what was missed after `since_rev` (every change) or else `since_seq` (new
        messages), at most `replay_limit`, then `subscribed`, then live events. Raises a
        DomainError the caller reports."""
        if room_id in connection.rooms:
            raise AlreadySubscribed()
        try:
            await self.hub.open(connection, room_id)
        except Exception as exc:
            logger.warning("room %s: broker subscription failed: %s", room_id, exc)
            raise Unavailable("Live delivery is unavailable; retry shortly.") from exc
        try:
            async with self._transaction() as session:
                room, _membership = await room_service.get_membership(
                    session, room_id, connection.user_id
                )
                snapshot, snapshot_rev = room.last_seq, room.last_rev
                replay: list[str] = []
                complete, last_rev = True, snapshot_rev
                if since_rev is not None:
                    changes = await message_service.fetch_changes(
                        session,
                        room_id,
                        after_rev=since_rev,
                        upto_rev=snapshot_rev,
                        limit=self._replay_limit + 1,
                    )
                    complete = len(changes) <= self._replay_limit
                    changes = changes[: self._replay_limit]
                    replay = [
                        message_service.change_frame(
                            message, created_rev=created_rev, after_rev=since_rev
                        )
                        for message, created_rev in changes
                    ]
                    if not complete:
                        last_rev = changes[-1][0].rev  # the client pages on from here
                elif since_seq is not None:
                    messages = await message_service.fetch_range(
                        session,
                        room_id,
                        after_seq=since_seq,
                        upto_seq=snapshot,
                        limit=self._replay_limit,
                    )
                    replay = [frames.message(m.model_dump_json()) for m in messages]
                    complete = snapshot - since_seq <= self._replay_limit
        except BaseException:
            self.hub.close_subscription(connection, room_id)
            raise

        came_online = await self._presence.join(room_id, connection.user_id, connection.user_json)
        online = await self._presence.online(room_id)
        for index, frame in enumerate(replay, start=1):
            connection.push(frame)
            if index % REPLAY_CHUNK == 0:
                await connection.drained()
        if since_seq is not None or since_rev is not None:
            metrics.REPLAYS.inc()
            metrics.REPLAYED_MESSAGES.inc(len(replay))
            if not complete:
                metrics.INCOMPLETE_REPLAYS.inc()
        self.hub.go_live(
            connection,
            room_id,
            snapshot_rev,
            frames.subscribed(
                room_id=room_id,
                last_seq=snapshot,
                last_rev=last_rev,
                replayed=len(replay),
                complete=complete,
                online_json="[" + ",".join(online) + "]",
                ref=ref,
            ),
        )
        if came_online:
            self._room_presence.announce(room_id, connection, "online")

    async def unsubscribe(self, connection: Connection, room_id: int, ref: frames.Ref) -> None:
        if self.hub.close_subscription(connection, room_id):
            await self._room_presence.left(connection, room_id)
        connection.push(frames.unsubscribed(room_id=room_id, reason="requested", ref=ref))

    async def disconnect(self, connection: Connection) -> None:
        for room_id in self.hub.remove(connection):
            await self._room_presence.left(connection, room_id)


class RoomHistory:
    """What the hub cannot know by itself: committed messages it missed, from the database."""

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    async def fill_gap(
        self, room_id: int, after_rev: int, upto_rev: int | None, limit: int
    ) -> list[tuple[int, str]]:
        """The hub's GapFiller: the changes after `after_rev`, typed for a client that has
        everything up to it."""
        async with self._transaction() as session:
            changes = await message_service.fetch_changes(
                session, room_id, after_rev=after_rev, upto_rev=upto_rev, limit=limit
            )
        return [
            (
                message.rev,
                message_service.change_frame(message, created_rev=created, after_rev=after_rev),
            )
            for message, created in changes
        ]


class RoomPresence:
    """Presence transitions told to the room: online, offline, and servers that went away."""

    def __init__(self, presence: Presence, broker: Broker) -> None:
        self._presence = presence
        self._broker = broker
        self._tasks: set[asyncio.Task[None]] = set()

    async def left(self, connection: Connection, room_id: int) -> None:
        if await self._presence.leave(room_id, connection.user_id):
            self.announce(room_id, connection, "offline")

    def announce(self, room_id: int, connection: Connection, status: str) -> None:
        frame = frames.presence(room_id=room_id, user_json=connection.user_json, status=status)
        self._broker.publish(
            events.room_frame(room_id=room_id, frame=frame, skip_user_id=connection.user_id)
        )

    def expired(self, room_id: int, user_json: str) -> None:
        """A user's server went away without saying goodbye: tell the room they left."""
        frame = frames.presence(room_id=room_id, user_json=user_json, status="offline")
        self._broker.publish(events.room_frame(room_id=room_id, frame=frame))

    def ended(self, connection: Connection, room_id: int) -> None:
        """The hub ended a subscription (room deleted, membership ended): update presence."""
        task = asyncio.ensure_future(self.left(connection, room_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
