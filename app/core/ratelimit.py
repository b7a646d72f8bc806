"""Token buckets: per connection for WebSocket frames, per key for REST calls (per process)."""

from __future__ import annotations

import time
from collections import OrderedDict


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


class KeyedLimiter:
    """One bucket per key, keeping at most `max_keys` recently used keys in memory."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self._rate = rate
        self._burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()

    def reset(self, key: str) -> None:
        self._buckets.pop(key, None)
