"""Everything the app builds at start-up, reached through one typed object."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.throttle import AuthThrottle
from app.core.config import Settings
from app.core.database import Database, transaction
from app.core.ratelimit import KeyedLimit, SharedLimiter
from app.core.security import PasswordHasher
from app.messages.group_commit import MessageCommitter, store_for
from app.realtime.broker import Broker, create_broker
from app.realtime.events import Event
from app.realtime.presence import Presence, create_presence
from app.realtime.subscriptions import Subscriptions

logger = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 2.0


@dataclass
class AppState:
    settings: Settings
    database: Database
    hasher: PasswordHasher
    limiter: SharedLimiter
    auth_throttle: AuthThrottle = field(init=False)
    send_limiter: KeyedLimit = field(init=False)
    broker: Broker = field(init=False)
    presence: Presence = field(init=False)
    subscriptions: Subscriptions = field(init=False)
    committer: MessageCommitter = field(init=False)

    def __post_init__(self) -> None:
        self.auth_throttle = AuthThrottle(self.limiter, self.settings)
        # REST sends, per user across processes (WebSocket sends have a bucket per connection).
        self.send_limiter = KeyedLimit.from_rate(
            self.limiter,
            per_second=self.settings.messages_per_second,
            burst=self.settings.messages_burst,
            namespace="rest-send",
        )
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

    async def stop(self) -> None:
        # Clients are told to reconnect (1012) and resume with since_seq elsewhere or later.
        hub = self.subscriptions.hub
        hub.close_all(1012, "server restarting")
        for _ in range(50):
            if not hub.connections:
                break
            await asyncio.sleep(0.1)
        await self.committer.stop()
        await hub.stop()
        await self.presence.stop()
        await self.broker.stop()
        await self.limiter.close()
        self.hasher.close()

    async def check_readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, probe in (("database", self.database.ping), ("broker", self.broker.ping)):
            try:
                await asyncio.wait_for(probe(), READINESS_TIMEOUT_SECONDS)
                checks[name] = "ok"
            except Exception as exc:  # readiness reports any failure rather than raising
                logger.warning("readiness: %s unreachable: %s", name, exc)
                checks[name] = f"unreachable: {type(exc).__name__}"
        return checks
