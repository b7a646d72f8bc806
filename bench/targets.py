"""What differs between the servers under test: URLs, handshake, send frame, acks.

Parley: authenticated `/ws?token=`, `hello`, then `subscribe` → `subscribed` (whose `last_seq`
is where the subscriber's stream starts), `ack` frames for sends, `ping` → `pong`.

The reference (bench/reference_server.py): `/ws` with no auth and no subscribe; every
connection hears every broadcast, numbered by the server's in-memory counter, and a sender
takes its own broadcast coming back as the acknowledgement.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import httpx
import orjson

from bench.client import Client


def encode_send(room_id: int, body: str, client_id: str) -> bytes:
    return orjson.dumps({"type": "send", "room_id": room_id, "body": body, "client_id": client_id})


class Target(Protocol):
    name: str
    base_url: str
    pid: int | None
    acks_by_broadcast: bool

    def ws_url(self, token: str | None) -> str: ...

    async def prepare(self) -> None: ...

    def before_connect(self, client: Client) -> None: ...

    async def handshake(self, client: Client, room_id: int) -> None: ...

    async def settle(self, clients: list[Client]) -> None: ...


def _ws_base(base_url: str) -> str:
    return "ws" + base_url.removeprefix("http")


@dataclass
class ParleyTarget:
    base_url: str
    pid: int | None = None
    name: str = "parley"
    acks_by_broadcast: bool = False

    def ws_url(self, token: str | None) -> str:
        assert token is not None, "Parley needs a token"
        return f"{_ws_base(self.base_url)}/ws?token={quote(token)}"

    async def prepare(self) -> None:
        return None

    def before_connect(self, client: Client) -> None:
        client.arm("hello")  # it may arrive in the same read as the handshake response

    async def handshake(self, client: Client, room_id: int) -> None:
        await client.expect("hello")
        if client.subscriber:
            client.arm("subscribed")
            client.send_json({"type": "subscribe", "room_id": room_id})
            subscribed = await client.expect("subscribed")
            client.start_at(int(subscribed["last_seq"]))

    async def settle(self, clients: list[Client]) -> None:
        """Ping every connection and wait for every pong: the frames queued for it before
        (presence announcements of the others joining) have then been delivered."""
        for client in clients:
            client.arm("pong")
            client.send_json({"type": "ping"})
        await asyncio.gather(*(client.expect("pong") for client in clients))


@dataclass
class ReferenceTarget:
    base_url: str
    pid: int | None = None
    name: str = "reference"
    acks_by_broadcast: bool = True
    start_seq: int = 0

    def ws_url(self, token: str | None) -> str:
        return f"{_ws_base(self.base_url)}/ws"

    async def prepare(self) -> None:
        """Read the broadcast counter: the streams start after it (nobody sends before
        every connection is open)."""
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            response = await http.get("/healthz")
            response.raise_for_status()
            self.start_seq = int(response.json()["seq"])

    def before_connect(self, client: Client) -> None:
        client.start_at(self.start_seq)

    async def handshake(self, client: Client, room_id: int) -> None:
        return None

    async def settle(self, clients: list[Client]) -> None:
        await asyncio.sleep(0.2)


def make_target(kind: str, base_url: str, pid: int | None = None) -> Target:
    if kind == "parley":
        return ParleyTarget(base_url, pid)
    if kind == "reference":
        return ReferenceTarget(base_url, pid)
    raise ValueError(f"unknown server kind {kind!r} (expected 'parley' or 'reference')")
