"""uvicorn's WebSocket protocol with a direct path for ready-made frames, and lighter.

uvicorn frames every `websocket.send` on its own: one pass through websockets' `Frame`
serializer and one `transport.write` (a syscall) per frame per connection. With fan-out that
was about 80 % of the server's time (docs/performance.md). A broadcast frame, though, is the
same bytes for every recipient (a server never masks), so Parley builds it once
(`app.core.ws_frames`) and this protocol lets the app write a connection's queued frames in
one `transport.write`, through the ASGI extension `parley.frames`:

    scope["extensions"]["parley.frames"] = {"send": send_frames, "write": write_frames}
    await send_frames([frame_bytes, ...])  # waits while the transport is paused
    write_frames([frame_bytes, ...])       # False (nothing written) while it is paused

`write` lets a connection with nothing to wait for write from a plain callback, without a
task of its own (an idle connection then holds no writer task at all).

Everything else is uvicorn's `WebSocketsSansIOProtocol` unchanged: the handshake, the
`websocket.http.response` denial, parsing and validating client frames (websockets'
sans-I/O `ServerProtocol`: fragmentation, control frames, UTF-8, masking, close codes, the
size limit with 1009), ping/pong and keepalive, closing. The direct path respects the same
flow control as uvicorn's `send` (it waits while the transport is paused) and stops at the
same point (after a close frame was sent or received). It is offered only when
permessage-deflate was not negotiated: compressed frames differ per connection.

An idle connection costs less here: uvicorn's `asyncio.Queue` and `asyncio.Event` (four
deques, about 3 KiB) become the small `_Inbox` and `_Flag`, the request's headers, which
websockets' parser keeps for the connection's life, are dropped once the scope has its own
copy, and uvicorn's attributes live in slots: with its 37 of them an instance dict outgrows
CPython's shared-key layout and costs about 1.6 KiB, the slots about 0.3 KiB.

`parley serve` selects it (`WS_PROTOCOL=parley`, the default); with plain uvicorn use
`--ws app.core.ws_server:ParleyWebSocketProtocol`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from app.core.ws_frames import EXTENSION


class _Inbox:
    """What uvicorn uses of `asyncio.Queue` for the app's incoming events: unbounded
    (uvicorn pauses reading after each message, so it holds one or two: a list, not a
    deque), usually one reader (the app's `receive`)."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        _wake(self._waiters)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            # Parked here rather than in `_parked`: an idle connection waits in this call for
            # its whole life, and one coroutine frame fewer is about 0.2 KiB.
            if self._waiters is None:
                self._waiters = []
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self._items.pop(0)


class _Flag:
    """What uvicorn uses of `asyncio.Event` for "the transport takes writes": futures made
    only while a writer waits for a paused transport."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        _wake(self._waiters)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            if self._waiters is None:  # made on first wait: an idle connection holds none
                self._waiters = []
            await _parked(self._waiters)
        return True


async def _parked(waiters: list[asyncio.Future[None]]) -> None:
    """Wait for the next `_wake` of `waiters`."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    finally:
        if waiter in waiters:
            waiters.remove(waiter)


def _wake(waiters: list[asyncio.Future[None]] | None) -> None:
    for waiter in waiters or ():
        if not waiter.done():
            waiter.set_result(None)


class ParleyWebSocketProtocol(WebSocketsSansIOProtocol):
    # Every attribute uvicorn 0.54's `WebSocketsSansIOProtocol` sets. One it adds later just
    # lands in the instance dict again (it works, it only costs the memory back).
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The scope has its own copy of the headers now. websockets' parser generator keeps
        # `event` for the connection's life, and uvicorn keeps it as `request`: with 10,000
        # idle connections that was about 2 KiB each.
        del self.request
        event.headers.clear()
        if self.response.status_code == 101 and not self.conn.extensions:
            self.scope["extensions"][EXTENSION] = {
                "send": self.send_frames,
                "write": self.write_frames,
            }

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            # Only the handshake reads the response; uvicorn keeps it for the connection's life.
            self.response = None  # type: ignore[assignment]

    async def send_frames(self, frames: list[bytes]) -> None:
        """Write complete frames (from `ws_frames`) in one write, after accept and before
        close, waiting while the transport is paused. Raises ClientDisconnected (an OSError)
        once the connection cannot take them."""
        while not self.write_frames(frames):
            await self.writable.wait()  # the transport's buffer is above its high-water mark

    def write_frames(self, frames: list[bytes]) -> bool:
        """`send_frames` without the wait: False, and nothing written, while the transport
        is paused. Raises ClientDisconnected once the connection cannot take them."""
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        if not self.writable.is_set():
            return False
        self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        return True
