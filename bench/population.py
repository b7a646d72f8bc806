"""The users and rooms every round reuses: made once per benchmark database, over REST.

Tokens stay valid across server restarts (same SECRET_KEY, sessions in the database, and a
one-day lifetime), so each run only connects. Set-up time is reported apart from the runs.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from typing import Any

from bench.rest import Api, BenchUser
from bench.scenarios import IdleScenario, Scenario


class Population:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.users: list[BenchUser] = []
        self.rooms: dict[str, int] = {}  # load scenario -> its room
        self.idle_room_ids: list[int] = []  # idle rooms, `room_size` consecutive users each
        self.seconds: dict[str, float] = {}

    async def prepare(
        self, base_url: str, loads: Sequence[Scenario], idle: IdleScenario | None
    ) -> None:
        need = max([s.connections for s in loads] + [idle.connections if idle else 0])
        async with Api(base_url) as api:
            started = time.monotonic()
            self.users = await api.create_users(need, prefix=f"b{self.tag}")
            self.seconds["users"] = round(time.monotonic() - started, 1)
            started = time.monotonic()
            for scenario in loads:
                members = self.users[: scenario.connections]
                self.rooms[scenario.name] = await api.room_with(
                    members, f"bench-{self.tag}-{scenario.name}"
                )
            if idle is not None:
                size = idle.room_size
                for k in range(math.ceil(idle.connections / size)):
                    members = self.users[k * size : (k + 1) * size]
                    self.idle_room_ids.append(
                        await api.room_with(members, f"bench-{self.tag}-idle-{k}")
                    )
            self.seconds["rooms"] = round(time.monotonic() - started, 1)

    def tokens(self, count: int) -> list[str | None]:
        return [user.token for user in self.users[:count]]

    def idle_rooms(self, count: int, room_size: int) -> list[int]:
        return [self.idle_room_ids[i // room_size] for i in range(count)]

    def summary(self) -> dict[str, Any]:
        return {
            "users": len(self.users),
            "rooms": len(self.rooms) + len(self.idle_room_ids),
            "setup_seconds": self.seconds,
        }
