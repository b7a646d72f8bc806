"""Presence in Redis leaves nothing behind without an expiry."""

from __future__ import annotations

import redis.asyncio as aioredis

from app.delivery.broker.redis import channel_prefix
from app.delivery.presence import create_presence


async def test_every_presence_key_expires_after_a_clean_shutdown(redis_url: str) -> None:
    presence = create_presence(redis_url, ttl=3)
    await presence.start()
    assert await presence.join(7, 42, '{"id": 42, "username": "ttl"}')
    await presence.stop()
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(f"{channel_prefix(redis_url)}presence:*")]
        # The room, the (room, user) entry and the room's users' profiles: one hash tag, as
        # on a cluster (the same layout serves both).
        assert len(keys) == 3, keys
        assert all(b"{room:7}" in key for key in keys), keys
        ttls = {key.decode(): await client.ttl(key) for key in keys}
        assert all(0 < ttl <= 12 for ttl in ttls.values()), ttls
    finally:
        await client.aclose()
