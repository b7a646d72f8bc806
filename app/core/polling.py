"""Waiting for a condition that no event announces."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable


async def poll_until(condition: Callable[[], bool], seconds: float, every: float = 0.02) -> bool:
    """Wait until `condition()` holds, for at most `seconds`; whether it does. For states
    that no event announces (all queues flushed), and only at shutdown."""
    for _ in range(max(0, math.ceil(seconds / every))):
        if condition():
            return True
        await asyncio.sleep(every)
    return condition()
