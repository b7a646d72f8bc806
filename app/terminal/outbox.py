"""Messages sent but not yet acknowledged.

Each line gets a fresh `client_id` when typed and keeps it until the server acks it, so a
send repeated after a reconnect is stored once (the server deduplicates by `client_id`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Pending:
    client_id: str
    room_id: int
    body: str
    reply_to: int | None = None  # the id of the message this answers (in its thread)

    def frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "type": "send",
            "room_id": self.room_id,
            "body": self.body,
            "client_id": self.client_id,
            "ref": self.client_id,
        }
        if self.reply_to is not None:
            frame["reply_to"] = self.reply_to
        return frame


class Outbox:
    def __init__(self) -> None:
        self._pending: dict[str, Pending] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, room_id: int, body: str, *, reply_to: int | None = None) -> Pending:
        pending = Pending(
            client_id=f"tc-{uuid.uuid4().hex}", room_id=room_id, body=body, reply_to=reply_to
        )
        self._pending[pending.client_id] = pending
        self._empty.clear()
        return pending

    def get(self, client_id: object) -> Pending | None:
        return self._pending.get(client_id) if isinstance(client_id, str) else None

    def settle(self, client_id: object) -> Pending | None:
        """Acknowledged or refused: no longer ours to resend."""
        pending = self._pending.pop(client_id, None) if isinstance(client_id, str) else None
        if not self._pending:
            self._empty.set()
        return pending

    async def emptied(self) -> None:
        await self._empty.wait()

    def __iter__(self) -> Iterator[Pending]:
        return iter(list(self._pending.values()))

    def __len__(self) -> int:
        return len(self._pending)
