"""Presence: `memory://` counts in this process, `redis://` shares them between processes."""

from __future__ import annotations

from app.delivery.presence.base import Presence
from app.delivery.presence.local import LocalPresence


def create_presence(broker_url: str, *, ttl: float) -> Presence:
    if broker_url.startswith("memory://"):
        return LocalPresence()
    if broker_url.startswith(("redis+cluster://", "rediss+cluster://")):
        from app.delivery.presence.cluster import ClusterPresence

        return ClusterPresence(broker_url, ttl=ttl)
    from app.delivery.presence.redis import RedisPresence

    return RedisPresence(broker_url, ttl=ttl)


__all__ = ["LocalPresence", "Presence", "create_presence"]
