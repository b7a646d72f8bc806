"""Everything the app builds at start-up, reached through one typed object."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.database import Database, transaction
from app.core.ratelimit import KeyedLimiter
from app.core.security import PasswordHasher
from app.messages.group_commit import MessageCommitter, store_for
from app.realtime.broker import Broker, create_broker
from app.realtime.events import Event
from app.realtime.presence import Presence, create_presence
from app.realtime.subscriptions import Subscriptions

logger = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 1.0


async def poll_until(condition: Callable[[], bool], seconds: float, every: float = 0.02) -> bool:
    """Wait until `condition()` holds, for at most `seconds`; whether it does. For states
    that no event announces (all queues flushed), and only at shutdown."""
    for _ in range(max(0, math.ceil(seconds / every))):
        if condition():
            return True
        await asyncio.sleep(every)
    return condition()


@dataclass
class AppState:
    settings: Settings
    database: Database
    hasher: PasswordHasher
    login_limiter: KeyedLimiter
    send_limiter: KeyedLimiter
    broker: Broker = field(init=False)
    presence: Presence = field(init=False)
    subscriptions: Subscriptions = field(init=False)
    committer: MessageCommitter = field(init=False)
    # Set when shutdown begins: connections stop reading frames (see `drain`).
    draining: bool = field(init=False, default=False)
    # Readiness checks failing at the last probe (their outage is logged once).
    _unready: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.broker = create_broker(self.settings.broker_url)
        self.presence = create_presence(
            self.settings.broker_url, ttl=self.settings.presence_ttl_seconds
        )
        self.subscriptions = Subscriptions(
            transaction=self.transaction,
            broker=self.broker,
            presence=self.presence,
            replay_limit=self.settings.replay_limit,
        )
        self.committer = MessageCommitter(
            store_for(self.database),
            # Looked up per call, so that whatever `publish` is at the time receives the events.
            lambda batch: self.publish(batch),
            batch_size=self.settings.commit_batch_size,
            queue_size=self.settings.commit_queue_size,
        )

    async def publish(self, events: Sequence[Event]) -> None:
        """Hand committed events to the broker: local subscribers at once, others next."""
        for event in events:
            self.broker.publish(event)

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A short unit of work whose events are published once it has committed."""
        return transaction(self.database.sessionmaker, self.publish)

    async def start(self) -> None:
        await self.broker.start()
        await self.presence.start()
        self.committer.start()

    async def drain(self, seconds: float) -> None:
        """Shut down without losing an acknowledgement, in at most about `seconds`
        (plus the bounded wait for the close frames).

        New sends are refused (`unavailable`; the client retries elsewhere or later with the
        same client_id), the committer stores and reports what it holds, each connection's
        queue (acks, messages already committed) goes out, then every socket is closed with
        1012 so that clients reconnect and resume with since_seq/since_rev.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        hub = self.subscriptions.hub
        self.draining = True
        try:
            # Shielded inside: running out of time leaves the committer running, not broken.
            await asyncio.wait_for(self.committer.drain(), seconds)
        except TimeoutError:
            logger.warning("shutdown: commits still running after %.1f s; closing anyway", seconds)
        flushed = await poll_until(
            lambda: all(c.flushed for c in hub.connections), deadline - loop.time()
        )
        if not flushed:
            unflushed = sum(1 for c in hub.connections if not c.flushed)
            logger.warning("shutdown: %d connections still had frames queued", unflushed)
        hub.close_all(1012, "server restarting")
        await poll_until(lambda: not hub.connections, self.settings.ws_close_timeout_seconds + 0.5)

    async def stop(self) -> None:
        # Served by `parley serve`, `drain` already ran before the server closed the sockets;
        # served by plain uvicorn, the sockets are already closed (1012) by the time the
        # lifespan ends, and this still stores what the committer holds.
        await self.drain(self.settings.shutdown_drain_seconds)
        hub = self.subscriptions.hub
        await self.committer.stop()
        await hub.stop()
        await self.presence.stop()
        await self.broker.stop()

    async def check_readiness(self) -> dict[str, str]:
        """Probe the database and the broker in parallel, within READINESS_TIMEOUT_SECONDS
        in all: a load balancer's probe must not hang on a paused dependency."""
        probes = {"database": self.database.ping, "broker": self.broker.ping}
        results = await asyncio.gather(
            *(asyncio.wait_for(probe(), READINESS_TIMEOUT_SECONDS) for probe in probes.values()),
            return_exceptions=True,
        )
        checks: dict[str, str] = {}
        for name, result in zip(probes, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                checks[name] = f"unreachable: {type(result).__name__}"
                if name not in self._unready:  # log transitions, not every probe
                    self._unready.add(name)
                    logger.warning("readiness: %s unreachable: %r", name, result)
            else:
                checks[name] = "ok"
                if name in self._unready:
                    self._unready.discard(name)
                    logger.warning("readiness: %s reachable again", name)
        return checks
