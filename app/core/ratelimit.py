"""Rate limits.

Token buckets per WebSocket connection (hand-written: they are per connection, live in that
connection's handler and sit on the hot path of every frame, so they need no shared store),
and `SharedLimiter` for REST and auth limits, which must be one budget across processes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis
import redis.asyncio
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

logger = logging.getLogger(__name__)

T = TypeVar("T")
REDIS_TIMEOUT_SECONDS = 0.5
WARNING_INTERVAL_SECONDS = 30.0


class TokenBucket:
    """`rate` tokens per second up to `burst`; `take()` answers how long to wait (0 = go)."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self, now: float | None = None) -> float:
        if self._rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


class SharedLimiter:
    """Moving-window limits kept by the `limits` library, so that all processes spend ONE
    budget: in Redis when the broker is Redis, in process memory otherwise.

    `hit` and `test` answer how long to wait (0 = go). If Redis does not answer, the limiter
    falls back to a process-local memory store and logs a warning: an outage of Redis then
    leaves each process with its own budget (still bounded) instead of refusing every login
    or failing with 500s; the shared budget comes back by itself when Redis does.
    """

    def __init__(self, broker_url: str, *, key_prefix: str = "parley-limits") -> None:
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if broker_url.startswith(("redis://", "rediss://", "unix://")):
            # Short socket timeouts: a request waits at most this long on a dead Redis before
            # the local fallback answers.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                broker_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            scheme = "async+redis+" if broker_url.startswith("unix://") else "async+"
            storage = RedisStorage(
                scheme + broker_url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=key_prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._warned_at = 0.0

    async def hit(self, item: RateLimitItem, *identifiers: str) -> float:
        """Spend one unit of `item` for `identifiers`; 0 if allowed, else seconds to wait."""
        return await self._run(item, identifiers, spend=True)

    async def test(self, item: RateLimitItem, *identifiers: str) -> float:
        """Like `hit` without spending anything."""
        return await self._run(item, identifiers, spend=False)

    async def remember(self, key: str, seconds: int) -> None:
        """Set a marker that `remembers(key)` finds for `seconds`."""
        await self._call(lambda limiter: limiter.storage.incr(key, seconds))

    async def remembers(self, key: str) -> bool:
        return bool(await self._call(lambda limiter: limiter.storage.get(key)))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    async def _run(
        self, item: RateLimitItem, identifiers: tuple[str, ...], *, spend: bool
    ) -> float:
        async def attempt(limiter: MovingWindowRateLimiter) -> float:
            allowed = await (limiter.hit if spend else limiter.test)(item, *identifiers)
            if allowed:
                return 0.0
            stats = await limiter.get_window_stats(item, *identifiers)
            return max(1.0, stats.reset_time - time.time())

        return await self._call(attempt)

    async def _call(self, operation: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        if self._shared is not None:
            try:
                return await asyncio.wait_for(operation(self._shared), REDIS_TIMEOUT_SECONDS * 2)
            except (StorageError, redis.RedisError, TimeoutError, OSError) as exc:
                now = time.monotonic()
                if now - self._warned_at > WARNING_INTERVAL_SECONDS:
                    self._warned_at = now
                    logger.warning(
                        "rate limits: Redis unreachable (%s); using this process's own "
                        "budget until it answers again",
                        type(exc).__name__,
                    )
        return await operation(self._local)


class KeyedLimit:
    """One limit of a `SharedLimiter`, spent per key: `await take(key)` answers how long to
    wait (0 = go). `None` as the item means no limit."""

    def __init__(self, limiter: SharedLimiter, item: RateLimitItem | None, namespace: str) -> None:
        self._limiter = limiter
        self._item = item
        self._namespace = namespace

    @classmethod
    def from_rate(
        cls, limiter: SharedLimiter, *, per_second: float, burst: int, namespace: str
    ) -> KeyedLimit:
        """A token bucket's rate and burst as a moving window: `burst` per the whole seconds a
        bucket takes to refill (so the burst is the same and the sustained rate at most
        `per_second`); 0 per second means no limit."""
        if per_second <= 0:
            return cls(limiter, None, namespace)
        seconds = max(1, math.ceil(burst / per_second))
        return cls(limiter, RateLimitItemPerSecond(burst, seconds), namespace)

    async def take(self, key: str) -> float:
        if self._item is None:
            return 0.0
        return await self._limiter.hit(self._item, self._namespace, key)
