"""Everything the app builds at start-up, reached through one typed object.

A plain container: `lifespan` (app/main.py) builds each part and hands it its collaborators;
nothing here builds or wires anything.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.auth.throttle import AuthThrottle
from app.core import metrics
from app.core.config import Settings
from app.core.database import Database, Transaction
from app.core.migrations import SchemaNotAtHead, check_schema, schema_head
from app.core.ratelimit import KeyedLimit, SharedLimiter
from app.core.security import PasswordHasher
from app.delivery.broker import Broker
from app.delivery.hub import Hub
from app.delivery.presence import Presence
from app.messages.group_commit import MessageCommitter

logger = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 2.0


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

    async def start(self) -> None:
        schema_head()  # read the migration scripts once, now, rather than in the first probe
        await self.broker.start()
        metrics.BROKER_CONNECTED.set(1 if self.broker.healthy else 0)
        await self.presence.start()
        self.committer.start()

    async def stop(self) -> None:
        # Clients are told to reconnect (1012) and resume with since_seq elsewhere or later.
        hub = self.hub
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
