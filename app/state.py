"""Everything the app builds at start-up, reached through one typed object.

A plain container: `lifespan` (app/main.py) builds each part and hands it its collaborators;
nothing here builds or wires anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.auth.throttle import AuthThrottle
from app.core import metrics
from app.core.config import Settings
from app.core.database import Database, Transaction
from app.core.migrations import SchemaNotAtHead, check_schema, schema_head
from app.core.polling import poll_until
from app.core.ratelimit import KeyedLimit, SharedLimiter
from app.core.security import PasswordHasher
from app.delivery.broker import Broker
from app.delivery.hub import Hub
from app.delivery.presence import Presence
from app.messages.group_commit import MessageCommitter

logger = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 1.0


Probe = tuple[str, Callable[[], Awaitable[None]]]


async def _in_turn(probes: tuple[Probe, ...]) -> dict[str, BaseException | None]:
    """Run readiness probes one after another; each one's failure, or None."""
    results: dict[str, BaseException | None] = {}
    for name, probe in probes:
        try:
            await probe()
            results[name] = None
        except Exception as exc:  # readiness reports any failure rather than raising
            results[name] = exc
    return results


@dataclass
class AppState:
    settings: Settings
    database: Database
    hasher: PasswordHasher
    limiter: SharedLimiter
    auth_throttle: AuthThrottle
    # REST sends, per user across processes (WebSocket sends have a bucket per connection).
    send_limiter: KeyedLimit
    broker: Broker
    presence: Presence
    hub: Hub
    committer: MessageCommitter
    # A short unit of work whose events are published once it has committed.
    transaction: Transaction
    # Set when shutdown begins: connections stop reading frames (see `drain`).
    draining: bool = False
    # Readiness checks failing at the last probe (their outage is logged once).
    _unready: set[str] = field(default_factory=set)

    async def start(self) -> None:
        schema_head()  # read the migration scripts once, now, rather than in the first probe
        await self.broker.start()
        metrics.BROKER_CONNECTED.set(1 if self.broker.healthy else 0)
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
        hub = self.hub
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
        await self.committer.stop()
        await self.hub.stop()
        await self.presence.stop()
        await self.broker.stop()
        await self.limiter.close()
        self.hasher.close()

    async def check_schema(self) -> None:
        async with self.database.sessionmaker() as session:
            await check_schema(session, schema_head())

    async def check_readiness(self) -> dict[str, str]:
        """Probe the database, its schema and the broker in parallel, within
        READINESS_TIMEOUT_SECONDS in all: a load balancer's probe must not hang on a paused
        dependency. Outages are logged when they start and end, not at every probe."""
        # The database and its schema in turn (they may share one connection), the broker
        # beside them; each group within the bound.
        groups = (
            (("database", self.database.ping), ("schema", self.check_schema)),
            (("broker", self.broker.ping),),
        )
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(_in_turn(group), READINESS_TIMEOUT_SECONDS) for group in groups),
            return_exceptions=True,
        )
        results: dict[str, BaseException | None] = {}
        for group, outcome in zip(groups, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            for name, _probe in group:
                results[name] = outcome if isinstance(outcome, BaseException) else outcome[name]
        checks: dict[str, str] = {}
        for name, result in results.items():
            if isinstance(result, BaseException):
                if isinstance(result, SchemaNotAtHead):
                    checks[name] = f"not at head: {result}"
                else:
                    checks[name] = f"unreachable: {type(result).__name__}"
                if name not in self._unready:  # log transitions, not every probe
                    self._unready.add(name)
                    logger.warning("readiness: %s: %s", name, checks[name])
            else:
                checks[name] = "ok"
                if name in self._unready:
                    self._unready.discard(name)
                    logger.warning("readiness: %s ok again", name)
        return checks
