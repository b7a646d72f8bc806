"""Brokers carry events between processes: `memory://` for one process, `redis://` for many."""

from __future__ import annotations

from app.delivery.broker.base import Broker
from app.delivery.broker.memory import MemoryBroker


def create_broker(url: str) -> Broker:
    if url.startswith("memory://"):
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from app.delivery.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ValueError(f"BROKER_URL must be memory:// or redis://host:port/db, not {url!r}")


__all__ = ["Broker", "MemoryBroker", "create_broker"]
