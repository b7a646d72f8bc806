"""Redis Cluster between processes and hosts: sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`).

`BROKER_URL=redis+cluster://host:port,host:port/NAME` (any reachable node is enough to learn
the rest; `NAME`, default `0`, keeps several Parley installations on one cluster apart; a
password goes before the first host: `redis+cluster://:secret@host:port,...`).

Each room's channel, `parley:NAME:{room:ID}`, hashes to one slot, so it lives on one shard
(a master and its replicas) and only that shard carries the room's traffic: adding masters
adds fan-out capacity, which one Redis's single-threaded pub/sub cannot.

The process keeps one subscription connection per master it needs (the masters that serve
the rooms its clients watch, plus the control channel's). Each is watched like
`RedisBroker`'s one connection (a quiet connection is PINGed; no answer means it is lost),
so a shard's failure is an outage for that shard's rooms only: the other shards' rooms keep
their real-time delivery. When the failed connection's channels have an owner again (the
same master back, or a replica promoted, learned from `CLUSTER SLOTS`), they are subscribed
there and the process catches up from the database (`Hub.resync`), as after any outage.

Why not redis-py's `ClusterPubSub`: it reconnects and resubscribes shard channels silently
(on topology refresh and inside `PubSub`), so the notifications lost meanwhile would never
be fetched from the database. Plain per-master `PubSub`s without retries let every failure
reach this module. The cluster client (`RedisCluster`) is still used for what it does well:
discovering and refreshing the topology (and, in `presence/redis.py`, routing scripts).

Publishing keeps one bounded, ordered backlog; each write round sends every waiting event
with one pipeline per master. A master that fails keeps its events (in order) for the next
round after a topology refresh; the other masters' events go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterable

from redis.exceptions import RedisClusterException, RedisError, SlotNotCoveredError

from app.delivery.broker._shared import (
    CONFIRM_TIMEOUT_SECONDS,
    FAILURES,
    FLUSH_ON_STOP_SECONDS,
    PONG_TIMEOUT_SECONDS,
    QUIET_SECONDS,
    RedisBackedBroker,
    close_quietly,
)
from app.delivery.broker.cluster_publish import ShardedWriter
from app.delivery.broker.cluster_shard import RECONNECT_DELAYS, Shard
from app.delivery.broker.cluster_topology import (
    ClusterAddress,
    cluster_client,
    cluster_prefix,
    hash_tagged,
    parse_cluster_url,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FAILURES",
    "ClusterAddress",
    "ClusterBroker",
    "cluster_client",
    "cluster_prefix",
    "hash_tagged",
    "parse_cluster_url",
]


class ClusterBroker(RedisBackedBroker):
    def __init__(
        self,
        url: str,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        pong_timeout_seconds: float = PONG_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(quiet_seconds=quiet_seconds, pong_timeout_seconds=pong_timeout_seconds)
        self.address = parse_cluster_url(url)
        self._cluster = cluster_client(self.address)
        self._prefix = cluster_prefix(self.address)
        self._shards: dict[str, Shard] = {}
        self._home: dict[str, Shard] = {}  # channel (full name) -> its shard
        self._topology = asyncio.Lock()
        self._topology_ready = asyncio.Event()
        self._sharded_writer = ShardedWriter(
            self.address, self._cluster, self._topology, self._backlog, self._owner
        )
        self._writer: asyncio.Task[None] | None = None
        self._discovery: asyncio.Task[None] | None = None
        self._stopping = False
        self._closing: set[asyncio.Future[None]] = set()

    # Life cycle --------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Every shard this process listens to is connected."""
        return self._topology_ready.is_set() and all(
            s.connected.is_set() for s in self._shards.values() if s.channels
        )

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="redis-cluster-writer")
        self._discovery = asyncio.create_task(self._discover(), name="redis-cluster-discovery")
        try:
            await asyncio.wait_for(self._wait_listening(), CONFIRM_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.error("Redis Cluster not reachable at start-up; serving locally, retrying")

    async def _wait_listening(self) -> None:
        await self._topology_ready.wait()
        await asyncio.gather(*(s.connected.wait() for s in list(self._shards.values())))

    async def stop(self) -> None:
        self._stopping = True
        if self._topology_ready.is_set():
            await self._backlog.drain(FLUSH_ON_STOP_SECONDS)
        for task in (self._writer, self._discovery):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._writer, self._discovery) if t is not None), return_exceptions=True
        )
        # Each step bounded: a shutdown must not hang on a node that died (a master killed
        # mid-failover leaves connections that never answer).
        await _bounded(
            asyncio.gather(*(s.stop() for s in self._shards.values()), return_exceptions=True),
            "closing the shard subscriptions",
        )
        await _bounded(asyncio.gather(*self._closing, return_exceptions=True), "closing clients")
        await _bounded(self._sharded_writer.close(), "closing the publishers")
        with contextlib.suppress(RedisError, OSError):
            await _bounded(self._cluster.aclose(), "closing the cluster client")

    async def ping(self) -> None:
        """Ready while the topology is known and some shard is reachable: one shard's
        failover is an outage for its rooms only, not a reason to take this process out."""
        if not self._topology_ready.is_set():
            raise ConnectionError("Redis Cluster topology not known yet")
        listening = [s for s in self._shards.values() if s.channels]
        if listening and not any(s.connected.is_set() for s in listening):
            raise ConnectionError("no Redis Cluster shard reachable")

    # Topology ----------------------------------------------------------------------------

    async def _discover(self) -> None:
        """Learn the topology (retrying while no node answers), then place every channel."""
        attempt = 0
        while True:
            try:
                await self._cluster.initialize()
                break
            except (RedisError, RedisClusterException, OSError) as exc:
                if attempt == 0:
                    logger.error("Redis Cluster not reachable (%s); retrying", exc)
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1
        self._topology_ready.set()
        # Channels subscribed before the topology was known may have missed events.
        await self._place(list(self._channels), missed=attempt > 0)
        self.wake_writer()

    def _owner(self, channel: str) -> tuple[str, str, int]:
        node = self._cluster.get_node_from_key(channel)
        if node is None:
            raise SlotNotCoveredError(f"no master serves {channel!r} now")
        return node.name, node.host, int(node.port)

    def _shard(self, channel: str) -> Shard:
        name, host, port = self._owner(channel)
        shard = self._shards.get(name)
        if shard is None:
            shard = self._shards[name] = Shard(self, name, host, port)
        return shard

    async def _place(self, channels: Iterable[str], *, missed: bool) -> list[asyncio.Future[None]]:
        waiters = []
        for channel in channels:
            full = hash_tagged(self._prefix, channel)
            if full in self._home:
                continue
            shard = self._shard(full)
            self._home[full] = shard
            waiters.append(await shard.add(full, missed=missed))
        return waiters

    async def rehome(self, shard: Shard) -> None:
        """After `shard` failed: refresh the topology and move its channels to whichever
        master serves their slots now (they resync there once subscribed)."""
        if self._stopping:
            return
        async with self._topology:
            try:
                await self._cluster.nodes_manager.initialize()
            except FAILURES as exc:
                # Mid-failover the client may fail in any of these ways; the shard's loop
                # calls again after its next failed attempt.
                logger.debug("Redis Cluster topology refresh failed: %s", exc)
                return
        for channel in list(shard.channels):
            try:
                target = self._shard(channel)
            except FAILURES:
                continue  # slot not served by anyone yet; retried after the next failure
            if target is shard:
                continue
            shard.channels.discard(channel)
            shard.confirmations.pop(channel, None)
            self._home[channel] = target
            await target.add(channel, missed=True)
        if not shard.channels:
            self._shards.pop(shard.name, None)
            self._schedule_stop(shard)

    def _schedule_stop(self, shard: Shard) -> None:
        # Its own loop ends by itself (no channels left); release its client afterwards.
        async def close() -> None:
            if shard.task is not None and shard.task is not asyncio.current_task():
                await asyncio.gather(shard.task, return_exceptions=True)
            await close_quietly(shard.client)

        task = asyncio.ensure_future(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # Subscribing -------------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        await super().subscribe(channel)
        if not self._topology_ready.is_set():
            return  # placed (and resynced) once the topology is known
        try:
            waiters = await self._place([channel], missed=False)
        except (RedisError, RedisClusterException, OSError) as exc:
            logger.debug("Redis Cluster subscribe to %s failed: %s", channel, exc)
            return
        for waiter in waiters:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), CONFIRM_TIMEOUT_SECONDS)

    async def unsubscribe(self, channel: str) -> None:
        await super().unsubscribe(channel)
        if channel in self._channels:
            return
        shard = self._home.pop(hash_tagged(self._prefix, channel), None)
        if shard is not None:
            await shard.remove(hash_tagged(self._prefix, channel))

    # Publishing --------------------------------------------------------------------------

    def remote_name(self, channel: str) -> str:
        return hash_tagged(self._prefix, channel)

    def wake_writer(self) -> None:
        self._backlog.wake()

    async def _write_loop(self) -> None:
        await self._topology_ready.wait()
        # Some master failing keeps its events for their retry time, but events for the
        # others go out as soon as they are published.
        await self._backlog.write_forever(self._sharded_writer.write_round)


STOP_STEP_SECONDS = 3.0


async def _bounded(step: Awaitable[object], what: str) -> None:
    try:
        await asyncio.wait_for(step, STOP_STEP_SECONDS)
    except TimeoutError:
        logger.warning(
            "Redis Cluster broker: %s took over %.0fs; going on", what, STOP_STEP_SECONDS
        )
