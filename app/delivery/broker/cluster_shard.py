"""One master's subscription for `ClusterBroker`: the sharded channels (SSUBSCRIBE) whose
slots it serves, watched like `RedisBroker`'s one connection; a failure is an outage for
this shard's rooms only, after which the broker moves its channels to their current master."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from redis.asyncio.client import PubSub
from redis.crc import key_slot

from app.delivery.broker._shared import (
    CONFIRM_TIMEOUT_SECONDS,
    FAILURES,
    POLL_SECONDS,
    Outage,
    close_quietly,
    listen,
)
from app.delivery.broker.cluster_topology import node_client

if TYPE_CHECKING:
    from app.delivery.broker.cluster import ClusterBroker

logger = logging.getLogger(__name__)

# Short at first: a failover with a short cluster-node-timeout takes a second or two.
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 1.0, 2.0)


class Shard:
    """The subscription to one master, for the channels whose slots it serves."""

    def __init__(self, broker: ClusterBroker, name: str, host: str, port: int) -> None:
        self.broker = broker
        self.name = name
        self.client = node_client(broker.address, host, port)
        self.channels: set[str] = set()
        self.pubsub: PubSub | None = None
        self.connected = asyncio.Event()
        self.outage = Outage()
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
        await close_quietly(self.client)

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
                # Its channels may have a new master now (a replica promoted). Moving them
                # may fail too while the cluster settles: the loop must go on trying, or the
                # shard's rooms would stay on a dead master for good.
                try:
                    await self.broker.rehome(self)
                except FAILURES as exc:
                    logger.warning(
                        "Redis Cluster shard %s: moving its rooms failed: %s", self.name, exc
                    )
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
        down_for = self.outage.end()
        if down_for is not None:
            logger.warning(
                "Redis Cluster shard %s: subscription restored after %.1fs; "
                "resynchronising rooms from the database",
                self.name,
                down_for,
            )
            self.owes_resync = True
        if self.owes_resync:
            self.owes_resync = False
            self.broker.resync()

    async def _receive(self) -> None:
        assert self.pubsub is not None
        await listen(
            self.pubsub,
            self._handle,
            quiet_seconds=self.broker.quiet_seconds,
            pong_timeout_seconds=self.broker.pong_timeout_seconds,
            logger=logger,
            active=lambda: bool(self.channels),
        )

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
        if self.outage.begin():
            logger.error(
                "Redis Cluster shard %s unreachable (%s): its rooms are still stored, "
                "acknowledged and delivered here; other processes catch up when it returns",
                self.name,
                exc,
            )

    async def _close_pubsub(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            await close_quietly(pubsub)
