"""Presence: `memory://` counts in this process; `redis://` and `redis+cluster://` share them
between processes (one implementation, `RedisPresence`; only the client differs)."""

from __future__ import annotations

from app.delivery.presence.base import Presence
from app.delivery.presence.local import LocalPresence


def create_presence(broker_url: str, *, ttl: float) -> Presence:
    if broker_url.startswith("memory://"):
        return LocalPresence()
    from app.delivery.presence.redis import RedisPresence

    if broker_url.startswith(("redis+cluster://", "rediss+cluster://")):
        from app.delivery.broker.cluster_topology import (
            cluster_client,
            cluster_prefix,
            parse_cluster_url,
        )

        address = parse_cluster_url(broker_url)
        return RedisPresence(cluster_client(address), prefix=cluster_prefix(address), ttl=ttl)
    from redis.asyncio import Redis

    from app.delivery.broker.redis import channel_prefix

    client = Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=5)
    return RedisPresence(client, prefix=channel_prefix(broker_url), ttl=ttl)


__all__ = ["LocalPresence", "Presence", "create_presence"]
