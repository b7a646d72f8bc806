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
discovering and refreshing the topology (and, in `presence/cluster.py`, routing scripts).

Publishing keeps one bounded, ordered backlog; each write round sends every waiting event
with one pipeline per master. A master that fails keeps its events (in order) for the next
round after a topology refresh; the other masters' events go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError, SlotNotCoveredError

from app.delivery.broker.base import Broker
from app.delivery.events import Event

logger = logging.getLogger(__name__)

SCHEMES = ("redis+cluster://", "rediss+cluster://")
BACKLOG_LIMIT = 10_000
BACKLOG_MAX_AGE_SECONDS = 30.0
# Short at first: a failover with a short cluster-node-timeout takes a second or two.
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 1.0, 2.0)
CONFIRM_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 1.0
QUIET_SECONDS = 5.0
PONG_TIMEOUT_SECONDS = 3.0
FLUSH_ON_STOP_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 2.0
# What a command on a failed or torn-down connection raises: besides redis-py's own errors
# and the socket's, redis-py raises AttributeError (its writer already gone) or RuntimeError
# (uvloop: "the handler is closed") when a connection was closed under a pending command.
FAILURES: tuple[type[BaseException], ...] = (
    RedisError,
    RedisClusterException,
    OSError,
    AttributeError,
    RuntimeError,
)


@dataclass(frozen=True)
class ClusterAddress:
    nodes: tuple[tuple[str, int], ...]
    namespace: str
    username: str | None
    password: str | None
    tls: bool


def parse_cluster_url(url: str) -> ClusterAddress:
    """`redis+cluster://[user:password@]host:port[,host:port...][/NAME]`."""
    scheme = next((s for s in SCHEMES if url.startswith(s)), None)
    if scheme is None:
        raise ValueError(f"a Redis Cluster URL starts with redis+cluster://, not {url!r}")
    rest = url[len(scheme) :]
    location, _, path = rest.partition("/")
    username = password = None
    if "@" in location:
        credentials, _, location = location.rpartition("@")
        user, _, secret = credentials.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    nodes: list[tuple[str, int]] = []
    for item in location.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Redis Cluster node must be host:port, not {item!r}")
        nodes.append((host.strip("[]"), int(port)))
    namespace = path.strip("/") or "0"
    if "{" in namespace or "}" in namespace or ":" in namespace:
        raise ValueError("the Redis Cluster namespace may not contain '{', '}' or ':'")
    return ClusterAddress(tuple(nodes), namespace, username, password, scheme.startswith("rediss"))


def cluster_prefix(address: ClusterAddress) -> str:
    return f"parley:{address.namespace}:"


def cluster_client(address: ClusterAddress) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        username=address.username,
        password=address.password,
        ssl=address.tls,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=5,
        # A missing shard must not stop the others: keep serving the slots that are covered.
        require_full_coverage=False,
    )


def hash_tagged(prefix: str, channel: str) -> str:
    """`parley:NAME:{room:7}`: the braces make the room's name alone choose the slot, so
    the room's presence keys (same tag) sit on the same shard as its channel."""
    return f"{prefix}{{{channel}}}"


class SubscriptionSilent(ConnectionError):
    """The subscription did not answer a PING in time."""


class _Shard:
    """The subscription to one master, for the channels whose slots it serves."""

    def __init__(self, broker: ClusterBroker, name: str, host: str, port: int) -> None:
        self.broker = broker
        self.name = name
        self.client = Redis(
            host=host,
            port=port,
            username=broker.address.username,
            password=broker.address.password,
            ssl=broker.address.tls,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_keepalive=True,
            # Failures must reach the read loop, not be retried (and resubscribed) silently.
            retry=Retry(NoBackoff(), 0),
        )
        self.channels: set[str] = set()
        self.pubsub: PubSub | None = None
        self.connected = asyncio.Event()
        self.down_since: float | None = None
        # Channels adopted from a failed shard, or subscribed while this shard was not
        # connected: once they are confirmed here, the process catches up from the database.
        self.owes_resync = False
        self.confirmations: dict[str, asyncio.Future[None]] = {}
        # Adopted while this shard was connected: resync once Redis confirms each.
        self.resync_on_confirm: set[str] = set()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name=f"redis-cluster-shard-{self.name}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self._close_pubsub()
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()

    async def add(self, channel: str, *, missed: bool) -> asyncio.Future[None]:
        """Subscribe here; the future resolves when Redis confirmed it."""
        self.channels.add(channel)
        waiter = self.confirmations.get(channel)
        if waiter is None or waiter.done():
            waiter = self.confirmations[channel] = asyncio.get_running_loop().create_future()
        pubsub = self.pubsub
        # Connected or connecting (the confirmation is read either way); when there is no
        # connection, the next one subscribes every channel of the shard.
        if pubsub is not None:
            if missed:
                self.resync_on_confirm.add(channel)
            try:
                await pubsub.ssubscribe(channel)
            except FAILURES as exc:
                logger.debug("SSUBSCRIBE %s on %s failed: %s", channel, self.name, exc)
                self.owes_resync = True
        elif missed:
            self.owes_resync = True  # the connection subscribes it when it is (back) up
        self.start()
        return waiter

    async def remove(self, channel: str) -> None:
        self.channels.discard(channel)
        pubsub = self.pubsub
        if pubsub is None or not self.connected.is_set():
            return
        try:
            await pubsub.sunsubscribe(channel)
        except FAILURES as exc:
            logger.debug("SUNSUBSCRIBE %s on %s failed: %s", channel, self.name, exc)

    async def _run(self) -> None:
        attempt = 0
        while self.channels:
            try:
                await self._connect()
                attempt = 0
                await self._receive()
            except FAILURES as exc:
                self.connected.clear()
                self._note_outage(exc)
                await self._close_pubsub()
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1
                # Its channels may have a new master now (a replica promoted).
                await self.broker.rehome(self)
        self.connected.clear()
        await self._close_pubsub()

    async def _connect(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=False)
        self.pubsub = pubsub
        pending = set(self.channels)
        for channel in pending:
            waiter = self.confirmations.get(channel)
            if waiter is None or waiter.done():
                self.confirmations[channel] = asyncio.get_running_loop().create_future()
        # One SSUBSCRIBE per slot: a command's channels must share a slot.
        by_slot: dict[int, list[str]] = defaultdict(list)
        for channel in sorted(pending):
            by_slot[key_slot(channel.encode())].append(channel)
        for channels in by_slot.values():
            await pubsub.ssubscribe(*channels)
        # Only when every channel is confirmed is the catch-up from the database complete.
        async with asyncio.timeout(CONFIRM_TIMEOUT_SECONDS):
            while any(c in self.confirmations for c in pending if c in self.channels):
                message = await pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None:
                    self._handle(message)
        self.connected.set()
        self.broker.wake_writer()
        if self.down_since is not None:
            logger.warning(
                "Redis Cluster shard %s: subscription restored after %.1fs; "
                "resynchronising rooms from the database",
                self.name,
                time.monotonic() - self.down_since,
            )
            self.down_since = None
            self.owes_resync = True
        if self.owes_resync:
            self.owes_resync = False
            self.broker.resync()

    async def _receive(self) -> None:
        pubsub = self.pubsub
        assert pubsub is not None
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged: float | None = None
        quiet, pong_timeout = self.broker.quiet_seconds, self.broker.pong_timeout_seconds
        poll = min(POLL_SECONDS, quiet, pong_timeout)
        while self.channels:
            if not pubsub.subscribed:
                await asyncio.sleep(poll)
                continue
            message = await pubsub.get_message(timeout=poll)
            now = loop.time()
            if message is not None:
                heard, pinged = now, None
                try:
                    self._handle(message)
                except Exception:
                    logger.exception("Redis Cluster broker: could not handle a notification")
            elif pinged is not None and now - pinged > pong_timeout:
                raise SubscriptionSilent(f"no answer to PING in {pong_timeout:g}s")
            elif pinged is None and now - heard > quiet:
                await pubsub.ping()
                pinged = now

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "smessage":
            self.broker.receive(message["data"])
        elif kind == "ssubscribe":
            channel = message["channel"].decode()
            waiter = self.confirmations.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if channel in self.resync_on_confirm:
                self.resync_on_confirm.discard(channel)
                self.broker.resync()

    def _note_outage(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            logger.error(
                "Redis Cluster shard %s unreachable (%s): its rooms are still stored, "
                "acknowledged and delivered here; other processes catch up when it returns",
                self.name,
                exc,
            )

    async def _close_pubsub(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()


class ClusterBroker(Broker):
    def __init__(
        self,
        url: str,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        pong_timeout_seconds: float = PONG_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__()
        self.address = parse_cluster_url(url)
        self.quiet_seconds = quiet_seconds
        self.pong_timeout_seconds = pong_timeout_seconds
        self._cluster = cluster_client(self.address)
        self._prefix = cluster_prefix(self.address)
        self._origin = secrets.token_hex(8).encode()
        self._shards: dict[str, _Shard] = {}
        self._home: dict[str, _Shard] = {}  # channel (full name) -> its shard
        self._publishers: dict[str, Redis] = {}
        # Per master: failed writes in a row, and when (loop time) to try it again.
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._topology = asyncio.Lock()
        self._topology_ready = asyncio.Event()
        self._backlog: deque[tuple[float, str, bytes]] = deque()
        self._dropped = 0
        self._backlog_ready = asyncio.Event()
        self._backlog_empty = asyncio.Event()
        self._backlog_empty.set()
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._backlog_empty.wait(), FLUSH_ON_STOP_SECONDS)
        for task in (self._writer, self._discovery):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._writer, self._discovery) if t is not None), return_exceptions=True
        )
        await asyncio.gather(*(s.stop() for s in self._shards.values()), return_exceptions=True)
        await asyncio.gather(*self._closing, return_exceptions=True)
        for client in self._publishers.values():
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self._cluster.aclose()

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

    def _shard(self, channel: str) -> _Shard:
        name, host, port = self._owner(channel)
        shard = self._shards.get(name)
        if shard is None:
            shard = self._shards[name] = _Shard(self, name, host, port)
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

    async def rehome(self, shard: _Shard) -> None:
        """After `shard` failed: refresh the topology and move its channels to whichever
        master serves their slots now (they resync there once subscribed)."""
        if self._stopping:
            return
        async with self._topology:
            try:
                await self._cluster.nodes_manager.initialize()
            except (RedisError, RedisClusterException, OSError) as exc:
                logger.debug("Redis Cluster topology refresh failed: %s", exc)
                return
        for channel in list(shard.channels):
            try:
                target = self._shard(channel)
            except (RedisError, RedisClusterException, OSError):
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

    def _schedule_stop(self, shard: _Shard) -> None:
        # Its own loop ends by itself (no channels left); release its client afterwards.
        async def close() -> None:
            if shard.task is not None and shard.task is not asyncio.current_task():
                await asyncio.gather(shard.task, return_exceptions=True)
            with contextlib.suppress(RedisError, OSError):
                await shard.client.aclose()

        task = asyncio.ensure_future(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def resync(self) -> None:
        for listener in self._reconnect_listeners:
            listener()

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

    # Receiving ---------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        origin, _, payload = data.partition(b"|")
        if origin != self._origin:
            self.deliver_locally(Event.decode(payload))

    # Publishing --------------------------------------------------------------------------

    def publish_remote(self, event: Event) -> None:
        self._backlog.append(
            (
                time.monotonic(),
                hash_tagged(self._prefix, event.channel),
                self._origin + b"|" + event.encode(),
            )
        )
        if len(self._backlog) > BACKLOG_LIMIT:
            self._backlog.popleft()
            self._dropped += 1
        self.wake_writer()

    def wake_writer(self) -> None:
        if self._backlog:
            self._backlog_empty.clear()
            self._backlog_ready.set()

    def _publisher(self, name: str, host: str, port: int) -> Redis:
        client = self._publishers.get(name)
        if client is None:
            client = self._publishers[name] = Redis(
                host=host,
                port=port,
                username=self.address.username,
                password=self.address.password,
                ssl=self.address.tls,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=5,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),
            )
        return client

    async def _write_loop(self) -> None:
        await self._topology_ready.wait()
        while True:
            await self._backlog_ready.wait()
            self._backlog_ready.clear()
            while self._backlog:
                self._forget_stale()
                retry_in = await self._write_round()
                if retry_in is None:
                    continue
                # Some master is failing: its events wait for their retry time, but events
                # for the others go out as soon as they are published.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._backlog_ready.wait(), retry_in)
                self._backlog_ready.clear()
            self._backlog_empty.set()

    async def _write_round(self) -> float | None:
        """Send what waits, one pipeline per master, concurrently; keep (in order) what a
        failing master, or one waiting to be retried, did not take. Returns None if nothing
        is kept, else the seconds until the next retry is due."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        count = len(self._backlog)
        batch = [self._backlog.popleft() for _ in range(count)]
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
        self._backlog.extendleft(batch[i] for i in reversed(keep))
        while len(self._backlog) > BACKLOG_LIMIT:
            self._backlog.popleft()
            self._dropped += 1
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

    def _forget_stale(self) -> None:
        horizon = time.monotonic() - BACKLOG_MAX_AGE_SECONDS
        while self._backlog and self._backlog[0][0] < horizon:
            self._backlog.popleft()
            self._dropped += 1
