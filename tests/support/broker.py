"""An in-memory broker that also keeps, in order, every event published through it."""

from __future__ import annotations

from app.delivery.broker import MemoryBroker
from app.delivery.events import Event


class RecordingBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[Event] = []

    def publish_remote(self, event: Event) -> None:
        # Called for every published event, after local delivery: where another process
        # would hear it, the test does.
        self.published.append(event)
