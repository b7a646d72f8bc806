"""Who is online in which room: a member is online while one of their connections is
subscribed to the room. Events are published by the caller on the transitions."""

from __future__ import annotations

from abc import ABC, abstractmethod
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
