"""A webhook receiver for tests: a tiny HTTP/1.1 server on 127.0.0.1 that checks every
delivery's signature (and timestamp window) and records what came, when, and whether two
requests for one path ever overlapped.

It can answer with another status (or 401 to a bad signature), hold requests until released
(to kill Parley mid-delivery), or be down (its port closed) and come back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.servers import free_port

TIMESTAMP_WINDOW_SECONDS = 300


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature matched (with the path's secret) and the timestamp is fresh
    started: float
    ended: float = 0.0

    @property
    def payload(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result

    @property
    def delivery_id(self) -> str:
        return self.headers["parley-delivery"]


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """What a receiver does (the README's snippet): HMAC of "<timestamp>.<body>" in constant
    time, and a timestamp within five minutes."""
    timestamp = headers.get("parley-timestamp", "")
    signature = headers.get("parley-signature", "")
    if not timestamp.isdigit():
        return False
    if abs((now or time.time()) - int(timestamp)) > TIMESTAMP_WINDOW_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(signature, f"sha256={expected.hexdigest()}")


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    status: int = 200
    # Answer 401 to a request whose signature does not check, as a real receiver does.
    refuse_unsigned: bool = False
    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret
    received: list[Received] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    hold: asyncio.Event | None = None  # set: answer; None: answer at once
    _in_flight: dict[str, int] = field(default_factory=dict)
    _server: asyncio.Server | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        """Down: the port refuses connections until `start` again."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def of(self, path: str = "/hook") -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, count: int, path: str = "/hook", timeout: float = 15.0) -> None:
        """Until `count` requests for `path` have arrived (accepted or not)."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.of(path)) >= count)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path = ""
        counted = False
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _method, path, _version = lines[0].split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self._in_flight[path] = self._in_flight.get(path, 0) + 1
            counted = True
            if self._in_flight[path] > 1:
                self.overlaps.append(path)
            secret = self.secrets.get(path, "")
            entry = Received(path, headers, body, verify(secret, headers, body), time.monotonic())
            async with self._arrived:
                self.received.append(entry)
                self._arrived.notify_all()
            if self.hold is not None:
                await self.hold.wait()
            entry.ended = time.monotonic()
            self._in_flight[path] -= 1
            counted = False
            status = 401 if self.refuse_unsigned and not entry.signed else self.status
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            if counted:
                self._in_flight[path] -= 1
            writer.close()
