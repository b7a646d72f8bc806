"""Brokers carry events between processes: `memory://` for one process, `redis://` for many,
`redis+cluster://` for many over a Redis Cluster's shards."""

from __future__ import annotations

from app.delivery.broker.base import Broker
from app.delivery.broker.memory import MemoryBroker


def create_broker(url: str) -> Broker:
    if url.startswith("memory://"):
        return MemoryBroker()
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from app.delivery.broker.cluster import ClusterBroker

        return ClusterBroker(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from app.delivery.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ValueError(
        "BROKER_URL must be memory://, redis://host:port/db or "
        f"redis+cluster://host:port,host:port/name, not {url!r}"
    )


__all__ = ["Broker", "MemoryBroker", "create_broker"]
