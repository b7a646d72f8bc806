"""Presence shared by every process through Redis, with expiry so a dead process's users
do not stay online.

Per room, a sorted set of online users scored by when their presence expires; per (room,
user), a sorted set of the processes that hold a subscribed connection, scored the same way.
Live processes refresh their entries every third of the TTL. A process that dies stops
refreshing; when its entries expire, whichever live process sweeps the room first removes
the user and announces them offline (the Lua scripts make "first" exactly one process).
Joins and leaves are scripts too, so exactly one process announces each transition.

Redis being away never breaks a subscription: presence falls back to what this process
knows, says so once in the log, and re-registers everything when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.delivery.broker.redis import channel_prefix
from app.delivery.presence.base import Presence
from app.delivery.presence.local import LocalPresence

logger = logging.getLogger(__name__)

JOIN = """
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return redis.call('ZCOUNT', KEYS[2], ARGV[4], '+inf')
"""

LEAVE = """
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
return redis.call('ZREM', KEYS[1], ARGV[1])
"""

SWEEP = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
local best = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if best[2] then
  redis.call('ZADD', KEYS[1], best[2], ARGV[1])
  return 0
end
return redis.call('ZREM', KEYS[1], ARGV[1])
"""

ExpiryHandler = Callable[[int, str], None]


def _as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisPresence(Presence):
    def __init__(self, url: str, *, ttl: float) -> None:
        self._redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._prefix = channel_prefix(url) + "presence:"
        self._process = secrets.token_hex(8)
        self._ttl = ttl
        self._local = LocalPresence()  # this process's own counts, and the fallback
        self._join = self._redis.register_script(JOIN)
        self._leave = self._redis.register_script(LEAVE)
        self._sweep = self._redis.register_script(SWEEP)
        self._on_expired: ExpiryHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._degraded = False

    def set_expiry_handler(self, handler: ExpiryHandler) -> None:
        self._on_expired = handler

    def _keys(self, room_id: int, user_id: int | None = None) -> list[str]:
        room = f"{self._prefix}{room_id}"
        if user_id is None:
            return [room]
        return [room, f"{room}:{user_id}", f"{self._prefix}users"]

    async def join(self, room_id: int, user_id: int, user_json: str) -> bool:
        if not await self._local.join(room_id, user_id, user_json):
            return False  # another connection here already holds the user online
        if self._degraded:
            return True  # answer locally; the maintenance loop re-registers us on recovery
        now = time.time()
        try:
            live = await self._join(
                keys=self._keys(room_id, user_id),
                args=[user_id, self._process, now + self._ttl, now, user_json, int(self._ttl * 4)],
            )
        except (RedisError, OSError) as exc:
            self._degrade(exc)
            return True
        return int(live) == 1

    async def leave(self, room_id: int, user_id: int) -> bool:
        if not await self._local.leave(room_id, user_id):
            return False
        if self._degraded:
            return True
        try:
            removed = await self._leave(
                keys=self._keys(room_id, user_id)[:2], args=[user_id, self._process, time.time()]
            )
        except (RedisError, OSError) as exc:
            self._degrade(exc)
            return True
        return int(removed) == 1

    async def online(self, room_id: int) -> list[str]:
        if self._degraded:
            return await self._local.online(room_id)
        try:
            users = await self._redis.zrangebyscore(self._keys(room_id)[0], time.time(), "+inf")
            if not users:
                return []
            found = await self._redis.hmget(f"{self._prefix}users", [_as_text(u) for u in users])
        except (RedisError, OSError) as exc:
            self._degrade(exc)
            return await self._local.online(room_id)
        return [_as_text(value) for value in found if value is not None]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._maintain(), name="redis-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._redis.aclose()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._redis.ping()
                await self._refresh()
                await self._sweep_rooms()
            except (RedisError, OSError) as exc:
                self._degrade(exc)
            else:
                self._recover()

    async def _refresh(self) -> None:
        """Push this process's entries forward (re-creating them after a Redis restart)."""
        held = self._local.held()
        if not held:
            return
        expires = time.time() + self._ttl
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id, user_id, user_json in held:
                room, room_user, users = self._keys(room_id, user_id)
                pipe.zadd(room_user, {self._process: expires})
                pipe.zadd(room, {str(user_id): expires}, gt=True)
                pipe.hset(users, str(user_id), user_json)
                pipe.expire(room, int(self._ttl * 4))
                pipe.expire(room_user, int(self._ttl * 4))
            # The profiles outlive every room entry only as long as someone refreshes them:
            # after the last process stops (cleanly or not), nothing is left behind.
            pipe.expire(f"{self._prefix}users", int(self._ttl * 4))
            await pipe.execute()

    async def _sweep_rooms(self) -> None:
        """Find users whose processes all stopped refreshing, in rooms people here watch."""
        now = time.time()
        for room_id in self._local.rooms():
            stale = await self._redis.zrangebyscore(self._keys(room_id)[0], "-inf", f"({now}")
            for raw in stale:
                user_id = int(_as_text(raw))
                room, room_user, users = self._keys(room_id, user_id)
                if int(await self._sweep(keys=[room, room_user], args=[user_id, now])) != 1:
                    continue
                user_json = await self._redis.hget(users, str(user_id))
                if user_json is not None and self._on_expired is not None:
                    logger.info("room %s: user %s's server went away", room_id, user_id)
                    self._on_expired(room_id, _as_text(user_json))

    def _degrade(self, exc: BaseException) -> None:
        if not self._degraded:
            self._degraded = True
            logger.error("presence: Redis unreachable (%s); showing this process's users only", exc)

    def _recover(self) -> None:
        if self._degraded:
            self._degraded = False
            logger.warning("presence: Redis reachable again")
