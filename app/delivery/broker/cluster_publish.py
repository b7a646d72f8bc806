"""`ClusterBroker`'s writing: each round sends every waiting event of the backlog with one
pipeline of `SPUBLISH` per master, concurrently. A master that fails keeps its events (in
order) for a later round, after a topology refresh and a backoff; the other masters' events
go out meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.delivery.broker._shared import FAILURES, Backlog, close_quietly
from app.delivery.broker.cluster_shard import RECONNECT_DELAYS
from app.delivery.broker.cluster_topology import ClusterAddress, node_client

logger = logging.getLogger(__name__)

# channel (full name) -> (master name, host, port); raises one of FAILURES if unserved
Owner = Callable[[str], tuple[str, str, int]]


class ShardedWriter:
    def __init__(
        self,
        address: ClusterAddress,
        cluster: RedisCluster,
        topology: asyncio.Lock,
        backlog: Backlog,
        owner: Owner,
    ) -> None:
        self.address = address
        self._cluster = cluster
        self._topology = topology  # held while refreshing the topology
        self._backlog = backlog
        self._owner = owner
        self._publishers: dict[str, Redis] = {}
        # Per master: failed writes in a row, and when (loop time) to try it again.
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}

    async def close(self) -> None:
        for client in self._publishers.values():
            await close_quietly(client)

    def _publisher(self, name: str, host: str, port: int) -> Redis:
        client = self._publishers.get(name)
        if client is None:
            client = self._publishers[name] = node_client(self.address, host, port)
        return client

    async def write_round(self) -> float | None:
        """Send what waits, one pipeline per master, concurrently; keep (in order) what a
        failing master, or one waiting to be retried, did not take. Returns None if nothing
        is kept, else the seconds until the next retry is due."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        backlog = self._backlog.entries
        batch = [backlog.popleft() for _ in range(len(backlog))]
        groups: dict[str, list[int]] = defaultdict(list)
        addresses: dict[str, tuple[str, int]] = {}
        unplaced: list[int] = []
        for index, (_, channel, _) in enumerate(batch):
            try:
                name, host, port = self._owner(channel)
            except FAILURES:
                unplaced.append(index)
                continue
            groups[name].append(index)
            addresses[name] = (host, port)

        just_failed: list[str] = []

        async def send(name: str, indexes: list[int]) -> bool:
            if self._retry_at.get(name, 0.0) > now:
                return False  # still backing off from its last failure
            client = self._publisher(name, *addresses[name])
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for index in indexes:
                        pipe.execute_command("SPUBLISH", batch[index][1], batch[index][2])
                    await pipe.execute()
            except FAILURES as exc:
                logger.debug("SPUBLISH to %s failed, keeping %d: %s", name, len(indexes), exc)
                failures = self._failures[name] = self._failures.get(name, 0) + 1
                delay = RECONNECT_DELAYS[min(failures - 1, len(RECONNECT_DELAYS) - 1)]
                self._retry_at[name] = loop.time() + delay
                just_failed.append(name)
                return False
            self._failures.pop(name, None)
            self._retry_at.pop(name, None)
            return True

        names = list(groups)
        results = await asyncio.gather(*(send(n, groups[n]) for n in names))
        failed = [n for n, ok in zip(names, results, strict=True) if not ok]
        keep = sorted(unplaced + [i for n in failed for i in groups[n]])
        # Back at the front, in their order, ahead of what was published meanwhile.
        backlog.extendleft(batch[i] for i in reversed(keep))
        self._backlog.trim()
        if not keep:
            return None
        if unplaced or just_failed:
            # A master just failed (or a slot has no master): it may have been replaced by
            # a promoted replica, so ask the cluster. Not on rounds that only skip a master
            # still backing off: those come with every event for the healthy ones.
            async with self._topology:
                with contextlib.suppress(*FAILURES):
                    await self._cluster.nodes_manager.initialize()
        due = min((self._retry_at.get(n, now) for n in failed), default=now + RECONNECT_DELAYS[0])
        return max(0.0, due - loop.time())
