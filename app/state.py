"""Everything the app builds at start-up, reached through one typed object."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.database import Database, transaction
from app.core.migrations import SchemaNotAtHead, check_schema, schema_head
from app.core.ratelimit import KeyedLimiter
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
    login_limiter: KeyedLimiter
    send_limiter: KeyedLimiter
    broker: Broker = field(init=False)
    presence: Presence = field(init=False)
    subscriptions: Subscriptions = field(init=False)
    committer: MessageCommitter = field(init=False)

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
        schema_head()  # read the migration scripts once, now, rather than in the first probe
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

    async def check_schema(self) -> None:
        async with self.database.sessionmaker() as session:
            await check_schema(session, schema_head())

    async def check_readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        probes = (
            ("database", self.database.ping),
            # A server whose tables are missing or old answers 500s: it is not ready.
            ("schema", self.check_schema),
            ("broker", self.broker.ping),
        )
        for name, probe in probes:
            try:
                await asyncio.wait_for(probe(), READINESS_TIMEOUT_SECONDS)
                checks[name] = "ok"
            except SchemaNotAtHead as exc:
                logger.warning("readiness: database schema %s", exc)
                checks[name] = f"not at head: {exc}"
            except Exception as exc:  # readiness reports any failure rather than raising
                logger.warning("readiness: %s unreachable: %s", name, exc)
                checks[name] = f"unreachable: {type(exc).__name__}"
        return checks
