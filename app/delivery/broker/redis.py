"""Redis pub/sub between processes and hosts.

Local subscribers are served at once by the base class; other processes get each event
through Redis. Channels follow local interest: a process subscribes to a room's channel only
while it has subscribers for the room. Every process tags what it publishes and ignores its
own echo. PostgreSQL stays the source of truth: Redis only carries notifications, and what
they miss while Redis is away is fetched from the database (see `Hub.resync`).

If Redis goes away, publishing keeps a bounded, ordered backlog and local delivery goes on;
the reader reconnects with backoff, resubscribes and tells its listeners. The outage is
logged once when it starts and once when it ends, not per message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.core import metrics
from app.delivery.broker._shared import (
    CONFIRM_TIMEOUT_SECONDS,
    FLUSH_ON_STOP_SECONDS,
    PONG_TIMEOUT_SECONDS,
    QUIET_SECONDS,
    Outage,
    RedisBackedBroker,
    close_quietly,
    listen,
)

logger = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def channel_prefix(url: str) -> str:
    """Pub/sub channels are global to a Redis server, not per database number, so the
    database number goes into the names: redis://…/1 and redis://…/2 never hear each other."""
    path = urlsplit(url).path.strip("/")
    return f"parley:{path or '0'}:"


class RedisBroker(RedisBackedBroker):
    def __init__(
        self,
        url: str,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        pong_timeout_seconds: float = PONG_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(quiet_seconds=quiet_seconds, pong_timeout_seconds=pong_timeout_seconds)
        self._redis = Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=10,
            # No retries inside redis-py: it would reconnect and resubscribe the pub/sub
            # connection silently, and the notifications lost meanwhile would never be
            # fetched. Every failure reaches the read loop, which reconnects and resyncs.
            retry=Retry(NoBackoff(), 0),
        )
        self._prefix = channel_prefix(url)
        self._pubsub: PubSub | None = None
        self._connected = asyncio.Event()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._outage = Outage()

    @property
    def healthy(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_loop(), name="redis-broker-reader")
        self._writer = asyncio.create_task(
            self._backlog.write_forever(self._write_round), name="redis-broker-writer"
        )
        try:
            await asyncio.wait_for(self._connected.wait(), CONFIRM_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.error("Redis broker not reachable at start-up; serving locally, retrying")

    async def stop(self) -> None:
        # Last words first: the goodbyes (presence offline) of connections that just closed.
        if self._connected.is_set():
            await self._backlog.drain(FLUSH_ON_STOP_SECONDS)
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._reader, self._writer) if t is not None), return_exceptions=True
        )
        if self._pubsub is not None:
            await self._close_pubsub()
        await self._redis.aclose()

    async def ping(self) -> None:
        await self._redis.ping()
        if not self.healthy:
            raise ConnectionError("Redis answers but the subscription is not restored yet")

    # Publishing ------------------------------------------------------------------------

    def remote_name(self, channel: str) -> str:
        return self._prefix + channel

    async def _write_round(self) -> float | None:
        """Everything waiting, in order, in one round trip; on failure, all of it stays."""
        await self._connected.wait()
        self._backlog.forget_stale()  # the wait may have been long
        batch = list(self._backlog.entries)
        if not batch:
            return None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for _, channel, payload in batch:
                    pipe.publish(channel, payload)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # A pooled connection that died with a restart fails once even though Redis is
            # back: retry. Real outages are the reader's to judge and log.
            logger.debug("Redis publish failed, retrying: %s", exc)
            await asyncio.sleep(RECONNECT_DELAYS[0])
            return 0.0
        for _ in batch:
            self._backlog.entries.popleft()
        return None

    # Subscribing -----------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        await super().subscribe(channel)
        pubsub = self._pubsub
        if pubsub is None or not self._connected.is_set():
            return  # resubscribed on reconnect; missed messages come from the database
        name = self._prefix + channel
        waiter = self._confirmations.get(name)
        if waiter is None or waiter.done():
            waiter = self._confirmations[name] = asyncio.get_running_loop().create_future()
        try:
            await pubsub.subscribe(name)
            await asyncio.wait_for(asyncio.shield(waiter), CONFIRM_TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError) as exc:
            # The reader notices the outage too, logs it, reconnects and resubscribes.
            logger.debug("Redis subscribe to %s failed: %s", channel, exc)

    async def unsubscribe(self, channel: str) -> None:
        await super().unsubscribe(channel)
        if channel in self._channels or self._pubsub is None or not self._connected.is_set():
            return
        try:
            await self._pubsub.unsubscribe(self._prefix + channel)
        except (RedisError, OSError) as exc:
            logger.debug("Redis unsubscribe from %s failed: %s", channel, exc)

    # Receiving -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect()
                attempt = 0
                await self._receive()
            except (RedisError, OSError) as exc:
                # Only the reader owns the connected state: it alone can restore it.
                self._connected.clear()
                self._note_outage(exc)
                await self._close_pubsub()
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1

    async def _receive(self) -> None:
        """Hand every message to `_handle`; raise when the subscription is lost or silent."""
        assert self._pubsub is not None
        await listen(
            self._pubsub,
            self._handle,
            quiet_seconds=self.quiet_seconds,
            pong_timeout_seconds=self.pong_timeout_seconds,
            logger=logger,
        )

    async def _connect(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
        await pubsub.subscribe(*(self._prefix + channel for channel in sorted(self._channels)))
        self._pubsub = pubsub
        self._connected.set()
        metrics.BROKER_CONNECTED.set(1)
        self._backlog.wake()
        down_for = self._outage.end()
        if down_for is not None:
            logger.warning(
                "Redis broker reconnected after %.1fs (%d notifications dropped meanwhile); "
                "resynchronising rooms from the database",
                down_for,
                self._backlog.dropped,
            )
            self._backlog.dropped = 0
            self.resync()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            self.receive(message["data"])
        elif kind == "subscribe":
            channel = message["channel"].decode()
            waiter = self._confirmations.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _note_outage(self, exc: BaseException) -> None:
        if self._outage.begin():
            metrics.BROKER_OUTAGES.inc()
            metrics.BROKER_CONNECTED.set(0)
            logger.error(
                "Redis broker unreachable (%s): messages are still stored, acknowledged and "
                "delivered here; other processes catch up when it returns. Retrying.",
                exc,
            )

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await close_quietly(pubsub)
