"""Who is online in which room: a member is online while one of their connections is
subscribed to the room. Events are published by the caller on the transitions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable


class Presence(ABC):
    @abstractmethod
    async def join(self, room_id: int, user_id: int, user_json: str) -> bool:
        """Count one more subscribed connection; True if the user just came online."""

    @abstractmethod
    async def leave(self, room_id: int, user_id: int) -> bool:
        """Count one fewer; True if that was the user's last connection (now offline)."""

    @abstractmethod
    async def online(self, room_id: int) -> list[str]:
        """The online users' JSON (UserRead), in no particular order."""

    @abstractmethod
    def set_expiry_handler(self, handler: Callable[[int, str], None]) -> None:
        """Told (room_id, user_json) when a user's presence expired without a goodbye."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


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


def create_presence(broker_url: str, *, ttl: float) -> Presence:
    if broker_url.startswith("memory://"):
        return LocalPresence()
    from app.delivery.presence.redis import RedisPresence

    return RedisPresence(broker_url, ttl=ttl)
