from __future__ import annotations

from app.delivery.broker.base import Broker
from app.delivery.events import Event


class MemoryBroker(Broker):
    """One process: events reach this process's subscribers and nobody else."""

    def publish_remote(self, event: Event) -> None:
        return None

    async def ping(self) -> None:
        return None
