"""Presence in one process: counts in memory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from app.delivery.presence.base import Presence


class LocalPresence(Presence):
    """One process: counts in memory."""

    def __init__(self) -> None:
        self._counts: dict[int, dict[int, int]] = defaultdict(dict)  # room -> user -> connections
        self._users: dict[int, str] = {}  # user -> JSON, while online somewhere
        self._rooms_online: dict[int, int] = {}  # user -> rooms they are online in

    async def join(self, room_id: int, user_id: int, user_json: str) -> bool:
        counts = self._counts[room_id]
        counts[user_id] = counts.get(user_id, 0) + 1
        self._users[user_id] = user_json
        if counts[user_id] > 1:
            return False
        self._rooms_online[user_id] = self._rooms_online.get(user_id, 0) + 1
        return True

    async def leave(self, room_id: int, user_id: int) -> bool:
        counts = self._counts.get(room_id)
        if not counts or user_id not in counts:
            return False
        counts[user_id] -= 1
        if counts[user_id] > 0:
            return False
        del counts[user_id]
        if not counts:
            del self._counts[room_id]
        self._rooms_online[user_id] -= 1
        if not self._rooms_online[user_id]:
            del self._rooms_online[user_id]
            del self._users[user_id]
        return True

    async def online(self, room_id: int) -> list[str]:
        return [self._users[user_id] for user_id in self._counts.get(room_id, {})]

    def set_expiry_handler(self, handler: Callable[[int, str], None]) -> None:
        # Nothing here expires: in one process every connection leaves explicitly, even
        # when the process stops (its sockets close first).
        del handler

    def held(self) -> list[tuple[int, int, str]]:
        """(room_id, user_id, user_json) for every user online here."""
        return [
            (room_id, user_id, self._users[user_id])
            for room_id, users in self._counts.items()
            for user_id in users
        ]

    def rooms(self) -> list[int]:
        return list(self._counts)
