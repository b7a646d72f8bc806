"""The shared limiter (memory, Redis, Redis gone) and the bounded password hasher."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid

import pytest
from limits import RateLimitItemPerMinute

from app.core.errors import Unavailable
from app.core.ratelimit import SharedLimiter
from app.core.security import HashingBusy, PasswordHasher
from tests.support.server import free_port

THREE_PER_MINUTE = RateLimitItemPerMinute(3)


async def spend(limiter: SharedLimiter, key: str, times: int) -> list[float]:
    return [await limiter.hit(THREE_PER_MINUTE, key) for _ in range(times)]


async def test_memory_limiter_counts_per_key() -> None:
    limiter = SharedLimiter("memory://")
    waits = await spend(limiter, "a", 4)
    assert waits[:3] == [0, 0, 0]
    assert 1 <= waits[3] <= 60
    assert await limiter.test(THREE_PER_MINUTE, "a") > 0
    assert await limiter.test(THREE_PER_MINUTE, "b") == 0
    await limiter.close()


async def test_two_limiters_on_one_redis_share_the_budget(redis_url: str) -> None:
    first, second = SharedLimiter(redis_url), SharedLimiter(redis_url)
    key = uuid.uuid4().hex
    assert await first.hit(THREE_PER_MINUTE, key) == 0
    assert await second.hit(THREE_PER_MINUTE, key) == 0
    assert await first.hit(THREE_PER_MINUTE, key) == 0
    assert await second.hit(THREE_PER_MINUTE, key) > 0
    await first.remember(f"mark-{key}", 60)
    assert await second.remembers(f"mark-{key}")
    assert not await second.remembers(f"other-{key}")
    await first.close()
    await second.close()


async def test_without_redis_the_process_keeps_its_own_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = SharedLimiter(f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    with caplog.at_level(logging.WARNING):
        waits = await asyncio.wait_for(spend(limiter, "a", 4), 10)
    assert waits[:3] == [0, 0, 0]
    assert waits[3] > 0  # still limited: no 500, and no free-for-all either
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1
    await limiter.close()


async def test_hashes_beyond_the_concurrency_wait_briefly_then_are_refused() -> None:
    hasher = PasswordHasher(
        time_cost=1, memory_cost_kib=64, parallelism=1, concurrency=1, max_wait=0.2
    )
    release = threading.Event()

    def slow(_password: str) -> str:
        release.wait(5)
        return "done"

    busy = asyncio.create_task(hasher._run(slow, "x"))
    await asyncio.sleep(0.05)
    with pytest.raises(HashingBusy) as refused:
        await hasher._run(slow, "y")
    assert isinstance(refused.value, Unavailable)
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}
    # A cancelled request does not free the slot while its hash still runs in the thread.
    busy.cancel()
    await asyncio.sleep(0.05)
    with pytest.raises(HashingBusy):
        await hasher._run(slow, "z")
    release.set()
    assert await hasher._run(lambda _p: "free again", "w") == "free again"
    hasher.close()
