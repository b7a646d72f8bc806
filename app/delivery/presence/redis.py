"""Presence shared by every process through Redis, one server or a cluster, with expiry so a
dead process's users do not stay online.

Per room, all in slot `{room:ID}` (the room channel's slot), so each script's keys share a
slot (a cluster refuses scripts whose keys live on different shards; one server does not
care, and the same layout serves both):
- `parley:NAME:presence:{room:ID}`: sorted set of online users, scored by when their
  presence expires;
- `parley:NAME:presence:{room:ID}:u:USER`: sorted set of the processes that hold a
  subscribed connection for the user, scored the same way;
- `parley:NAME:presence:{room:ID}:users`: hash user -> user JSON, for this room only.

Live processes refresh their entries every third of the TTL; every key expires unless
refreshed, so nothing is left behind after the last process stops. A process that dies
stops refreshing; when its entries expire, whichever live process sweeps the room first
removes the user and announces them offline (the Lua scripts make "first" exactly one
process). Joins and leaves are scripts too, so exactly one process announces each
transition.

Redis (or a cluster shard) being away never breaks a subscription: presence falls back to
what this process knows, says so once in the log, and re-registers everything when Redis
answers again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.delivery.broker._shared import FAILURES
from app.delivery.events import room_channel
from app.delivery.presence.base import Presence
from app.delivery.presence.local import LocalPresence

logger = logging.getLogger(__name__)


# KEYS: room, room-user, room-users. ARGV: user, process, expires, now, user JSON, key ttl.
JOIN = """
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return redis.call('ZCOUNT', KEYS[2], ARGV[4], '+inf')
"""

# KEYS: room, room-user, room-users. ARGV: user, process, now.
LEAVE = """
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return removed
"""

# KEYS: room, room-user, room-users. ARGV: user, now. Returns the user's JSON if this call
# removed them (exactly one process announces the expiry), else false.
SWEEP = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
local best = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if best[2] then
  redis.call('ZADD', KEYS[1], best[2], ARGV[1])
  return false
end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local user = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return user or ''
"""

ExpiryHandler = Callable[[int, str], None]


def _as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisPresence(Presence):
    """`client` is a `Redis` (one server) or a `RedisCluster`; `prefix` is `parley:NAME:`,
    the broker's namespace (see `create_presence`)."""

    def __init__(self, client: Redis | RedisCluster, *, prefix: str, ttl: float) -> None:
        self._redis = client
        self._prefix = prefix + "presence:"
        self._process = secrets.token_hex(8)
        self._ttl = ttl
        self._local = LocalPresence()  # this process's own counts, and the fallback
        self._join = self._redis.register_script(JOIN)
        self._leave = self._redis.register_script(LEAVE)
        self._sweep = self._redis.register_script(SWEEP)
        self._on_expired: ExpiryHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._degraded = False

    @property
    def degraded(self) -> bool:
        """Showing this process's own view because Redis failed a command."""
        return self._degraded

    def set_expiry_handler(self, handler: ExpiryHandler) -> None:
        self._on_expired = handler

    def keys(self, room_id: int, user_id: int) -> list[str]:
        """room, room-user, room-users: one hash tag, one slot."""
        room = self._room_key(room_id)
        return [room, f"{room}:u:{user_id}", f"{room}:users"]

    def _room_key(self, room_id: int) -> str:
        return f"{self._prefix}{{{room_channel(room_id)}}}"

    async def join(self, room_id: int, user_id: int, user_json: str) -> bool:
        if not await self._local.join(room_id, user_id, user_json):
            return False  # another connection here already holds the user online
        if self._degraded:
            return True  # answer locally; the maintenance loop re-registers us on recovery
        now = time.time()
        try:
            live = await self._join(
                keys=self.keys(room_id, user_id),
                args=[user_id, self._process, now + self._ttl, now, user_json, self._key_ttl()],
            )
        except FAILURES as exc:
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
                keys=self.keys(room_id, user_id), args=[user_id, self._process, time.time()]
            )
        except FAILURES as exc:
            self._degrade(exc)
            return True
        return int(removed) == 1

    async def online(self, room_id: int) -> list[str]:
        if self._degraded:
            return await self._local.online(room_id)
        room = self._room_key(room_id)
        try:
            users = await self._redis.zrangebyscore(room, time.time(), "+inf")
            if not users:
                return []
            found = await self._redis.hmget(f"{room}:users", [_as_text(u) for u in users])
        except FAILURES as exc:
            self._degrade(exc)
            return await self._local.online(room_id)
        return [_as_text(value) for value in found if value is not None]

    async def start(self) -> None:
        # A cluster client learns the topology here, once, before the first joins: left to
        # the first commands, a burst of them (every socket of a busy room subscribing at
        # once) initializes it concurrently and redis-py closes connections that others are
        # using. (A single-server client only prepares its pool.)
        try:
            await self._redis.initialize()
        except FAILURES as exc:
            self._degrade(exc)
        self._task = asyncio.create_task(self._maintain(), name="redis-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self._redis.aclose()
        except FAILURES as exc:
            logger.debug("presence: closing the Redis client failed: %s", exc)

    def _key_ttl(self) -> int:
        return int(self._ttl * 4)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._refresh()
                await self._sweep_rooms()
            except FAILURES as exc:
                self._degrade(exc)
            else:
                self._recover()

    async def _refresh(self) -> None:
        """Push this process's entries forward (re-creating them after a Redis restart)."""
        held = self._local.held()
        if not held:
            await self._redis.ping()  # still learn whether Redis is back
            return
        expires = time.time() + self._ttl
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id, user_id, user_json in held:
                room, room_user, users = self.keys(room_id, user_id)
                pipe.zadd(room_user, {self._process: expires})
                pipe.zadd(room, {str(user_id): expires}, gt=True)
                pipe.hset(users, str(user_id), user_json)
                pipe.expire(room, self._key_ttl())
                pipe.expire(room_user, self._key_ttl())
                pipe.expire(users, self._key_ttl())
            await pipe.execute()

    async def _sweep_rooms(self) -> None:
        """Find users whose processes all stopped refreshing, in rooms people here watch."""
        now = time.time()
        for room_id in self._local.rooms():
            stale = await self._redis.zrangebyscore(self._room_key(room_id), "-inf", f"({now}")
            for raw in stale:
                user_id = int(_as_text(raw))
                user_json = await self._sweep(keys=self.keys(room_id, user_id), args=[user_id, now])
                if user_json and self._on_expired is not None:
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
