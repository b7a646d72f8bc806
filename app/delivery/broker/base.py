"""The broker interface between the hub and the fan-out.

A broker delivers every published event to this process's handler at once (synchronously,
in publish order, if the process subscribes to the event's channel) and, when there are other
processes, to theirs. `publish` never blocks the caller: a sender's path does not wait on the
network to reach other processes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from app.delivery.events import CONTROL_CHANNEL, Event

Handler = Callable[[Event], None]


class Broker(ABC):
    def __init__(self) -> None:
        self._handler: Handler | None = None
        # The control channel carries session revocations: every process always listens.
        self._channels: set[str] = {CONTROL_CHANNEL}
        self._reconnect_listeners: list[Callable[[], None]] = []

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def add_reconnect_listener(self, listener: Callable[[], None]) -> None:
        """Called after the broker lost events for a while (a reconnect): the listener
        fetches what was missed from the source of truth."""
        self._reconnect_listeners.append(listener)

    def resync(self) -> None:
        """Tell the reconnect listeners that events may have been missed."""
        for listener in self._reconnect_listeners:
            listener()

    def deliver_locally(self, event: Event) -> None:
        if self._handler is not None and event.channel in self._channels:
            self._handler(event)

    def publish(self, event: Event) -> None:
        """Deliver to this process now, and to the others as soon as the transport allows."""
        self.deliver_locally(event)
        self.publish_remote(event)

    async def publish_all(self, events: Sequence[Event]) -> None:
        """The sink for committed events (group commit, `transaction`): each is published,
        in order. Async only to match `EventSink`; it never waits."""
        for event in events:
            self.publish(event)

    @abstractmethod
    def publish_remote(self, event: Event) -> None:
        """Send to other processes, without blocking and in publish order."""

    async def subscribe(self, channel: str) -> None:
        """Returns once events published on `channel` anywhere will reach this process."""
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        if channel != CONTROL_CHANNEL:
            self._channels.discard(channel)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the broker cannot carry events right now (readiness)."""

    @property
    def healthy(self) -> bool:
        return True
