"""What the Redis brokers (`redis.py`, one server; `cluster.py`, a cluster's shards) share:
the base class with the wire format (origin-tagged events), the ordered, bounded publish
backlog and its writer loop, the PING liveness check of a subscription, and noting an
outage once per outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisClusterException, RedisError

from app.delivery.broker.base import Broker
from app.delivery.events import Event

BACKLOG_LIMIT = 10_000
BACKLOG_MAX_AGE_SECONDS = 30.0
CONFIRM_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 1.0
# A subscription that has been silent this long is asked for a PING, and one that does not
# answer in time is treated as lost. redis-py does not notice every dead pub/sub connection
# itself (its health check sends PINGs but never waits for the answers), and a dead one
# would silently stop this process from hearing the others.
QUIET_SECONDS = 5.0
PONG_TIMEOUT_SECONDS = 3.0
FLUSH_ON_STOP_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 2.0
# What a command on a failed or torn-down connection raises: besides redis-py's own errors
# and the socket's, redis-py raises AttributeError (its writer already gone) or RuntimeError
# (uvloop: "the handler is closed") when a connection was closed under a pending command.
FAILURES: tuple[type[BaseException], ...] = (
    RedisError,
    RedisClusterException,
    OSError,
    AttributeError,
    RuntimeError,
)

# (when published, monotonic; full channel name; origin-tagged payload)
Entry = tuple[float, str, bytes]
# Sends what it can of the backlog; returns None when done, else seconds until a retry.
WriteRound = Callable[[], Awaitable[float | None]]


async def close_quietly(connection: PubSub | Redis) -> None:
    """Close a connection that is being thrown away anyway: its own failure is no news."""
    with contextlib.suppress(RedisError, OSError):
        await connection.aclose()


class SubscriptionSilent(ConnectionError):
    """The subscription did not answer a PING in time."""


class Backlog:
    """Events for the other processes, oldest first, bounded in count and in age: while
    Redis is away, publishing never blocks and memory stays bounded."""

    def __init__(self) -> None:
        self.entries: deque[Entry] = deque()
        self.dropped = 0
        self._ready = asyncio.Event()
        self.empty = asyncio.Event()
        self.empty.set()

    def append(self, channel: str, payload: bytes) -> None:
        self.entries.append((time.monotonic(), channel, payload))
        self.trim()
        self.wake()

    def trim(self) -> None:
        while len(self.entries) > BACKLOG_LIMIT:
            self.entries.popleft()
            self.dropped += 1

    def wake(self) -> None:
        """Have the writer look at the backlog (after a publish, or a reconnect)."""
        if self.entries:
            self.empty.clear()
            self._ready.set()

    def forget_stale(self) -> None:
        # After a long outage, old notifications are worth less than the database: the
        # other processes fetch missed messages themselves when the connection returns.
        horizon = time.monotonic() - BACKLOG_MAX_AGE_SECONDS
        while self.entries and self.entries[0][0] < horizon:
            self.entries.popleft()
            self.dropped += 1

    async def drain(self, seconds: float) -> None:
        """Wait (up to `seconds`) until everything published has been written."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.empty.wait(), seconds)

    async def write_forever(self, write_round: WriteRound) -> None:
        """The writer: rounds of `write_round` until the backlog is empty; when a round
        keeps events back, the next one comes after its delay, or at the next publish."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self.entries:
                self.forget_stale()
                retry_in = await write_round()
                if retry_in is None:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), retry_in)
                self._ready.clear()
            self.empty.set()


class Outage:
    """When the connection went away, so that each outage is logged once at its start and
    once at its end, not per failed command."""

    def __init__(self) -> None:
        self.since: float | None = None

    def begin(self) -> bool:
        """True for the first failure of an outage."""
        if self.since is not None:
            return False
        self.since = time.monotonic()
        return True

    def end(self) -> float | None:
        """The outage's length in seconds, if there was one."""
        if self.since is None:
            return None
        seconds, self.since = time.monotonic() - self.since, None
        return seconds


async def listen(
    pubsub: PubSub,
    handle: Callable[[dict[str, Any]], None],
    *,
    quiet_seconds: float,
    pong_timeout_seconds: float,
    logger: logging.Logger,
    active: Callable[[], bool] = lambda: True,
) -> None:
    """Hand every message to `handle` while `active()`; raise when the subscription is lost
    (redis-py's error) or silent (no answer to a PING sent after `quiet_seconds`)."""
    loop = asyncio.get_running_loop()
    heard = loop.time()
    pinged: float | None = None
    poll = min(POLL_SECONDS, quiet_seconds, pong_timeout_seconds)
    while active():
        if not pubsub.subscribed:
            # Every channel was just unsubscribed: redis-py reads nothing then.
            await asyncio.sleep(poll)
            continue
        message = await pubsub.get_message(timeout=poll)
        now = loop.time()
        if message is not None:
            heard, pinged = now, None
            try:
                handle(message)
            except Exception:
                # A bad notification must not stop this process hearing the rest.
                logger.exception("Redis broker: could not handle %r", message.get("type"))
        elif pinged is not None and now - pinged > pong_timeout_seconds:
            raise SubscriptionSilent(f"no answer to PING in {pong_timeout_seconds:g}s")
        elif pinged is None and now - heard > quiet_seconds:
            await pubsub.ping()
            pinged = now


class RedisBackedBroker(Broker):
    """A broker whose other processes are reached through Redis pub/sub. Every process tags
    what it publishes (`ORIGIN|event`) and ignores its own echo; what it publishes waits in
    the backlog until the subclass's writer sends it."""

    def __init__(self, *, quiet_seconds: float, pong_timeout_seconds: float) -> None:
        super().__init__()
        self.quiet_seconds = quiet_seconds
        self.pong_timeout_seconds = pong_timeout_seconds
        self._origin = secrets.token_hex(8).encode()
        self._backlog = Backlog()

    @abstractmethod
    def remote_name(self, channel: str) -> str:
        """The Redis channel that carries `channel` (namespaced)."""

    def publish_remote(self, event: Event) -> None:
        self._backlog.append(self.remote_name(event.channel), self._origin + b"|" + event.encode())

    def receive(self, data: bytes) -> None:
        """A notification from Redis: delivered here unless this process published it."""
        origin, _, payload = data.partition(b"|")
        if origin != self._origin:
            self.deliver_locally(Event.decode(payload))
