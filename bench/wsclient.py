"""WebSocket client connections for the load generator, behind one small interface.

`picows` (a Cython client) is used when it is installed: with 1000 subscribers the client
side receives 100k+ frames a second on one core, and the pure-Python `websockets` client
would become the bottleneck. `websockets` (a project dependency) is the fallback, so the smoke
test runs with nothing extra installed.

Each received text frame is handed to `on_frame` as raw bytes (or str) in the event-loop
callback that read it; `send` queues a text frame without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

FrameHandler = Callable[[bytes | str], None]
CloseHandler = Callable[[int | None], None]

try:
    import picows

    HAVE_PICOWS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_PICOWS = False

CONNECT_TIMEOUT = 30.0


class Link(Protocol):
    """One open WebSocket connection."""

    def send(self, text: bytes) -> None: ...

    def close(self) -> None: ...


def backend_name(requested: str = "auto") -> str:
    if requested == "auto":
        return "picows" if HAVE_PICOWS else "websockets"
    if requested == "picows" and not HAVE_PICOWS:
        raise RuntimeError("picows is not installed (pip install picows)")
    return requested


async def open_link(
    url: str,
    on_frame: FrameHandler,
    on_close: CloseHandler,
    *,
    backend: str = "auto",
    local_host: str | None = None,
) -> Link:
    """Connect to `url`; raises if the handshake fails (e.g. HTTP 403 for a bad token)."""
    local_addr = (local_host, 0) if local_host else None
    if backend_name(backend) == "picows":
        return await _open_picows(url, on_frame, on_close, local_addr)
    return await _open_websockets(url, on_frame, on_close, local_addr)


# picows ------------------------------------------------------------------------------------

if HAVE_PICOWS:
    _TEXT = picows.WSMsgType.TEXT
    _CLOSE = picows.WSMsgType.CLOSE
    _CONTINUATION = picows.WSMsgType.CONTINUATION

    class _PicowsListener(picows.WSListener):
        def __init__(self, on_frame: FrameHandler, on_close: CloseHandler) -> None:
            self._on_frame = on_frame
            self._on_close = on_close
            self._close_code: int | None = None
            self._partial: bytearray | None = None

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            msg_type = frame.msg_type
            if msg_type is _TEXT and frame.fin:
                # Parsed at once by the handler, so the zero-copy view is safe here.
                self._on_frame(frame.get_payload_as_memoryview())  # type: ignore[arg-type]
            elif msg_type is _TEXT or msg_type is _CONTINUATION:
                if msg_type is _TEXT:
                    self._partial = bytearray()
                if self._partial is not None:
                    self._partial += frame.get_payload_as_bytes()
                    if frame.fin:
                        data, self._partial = bytes(self._partial), None
                        self._on_frame(data)
            elif msg_type is _CLOSE:
                self._close_code = frame.get_close_code().value
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
            self._on_close(self._close_code)

    class _PicowsLink:
        __slots__ = ("_transport",)

        def __init__(self, transport: picows.WSTransport) -> None:
            self._transport = transport

        def send(self, text: bytes) -> None:
            self._transport.send(_TEXT, text)

        def close(self) -> None:
            self._transport.disconnect(graceful=False)


async def _open_picows(
    url: str,
    on_frame: FrameHandler,
    on_close: CloseHandler,
    local_addr: tuple[str, int] | None,
) -> Link:
    transport, _listener = await picows.ws_connect(
        lambda: _PicowsListener(on_frame, on_close),
        url,
        websocket_handshake_timeout=CONNECT_TIMEOUT,
        max_frame_size=64 * 1024 * 1024,
        local_addr=local_addr,
    )
    return _PicowsLink(transport)


# websockets --------------------------------------------------------------------------------


class _WebsocketsLink:
    """websockets' `send` is a coroutine: one writer task per connection keeps frame order."""

    def __init__(self, ws: object, on_frame: FrameHandler, on_close: CloseHandler) -> None:
        self._ws = ws
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(on_frame, on_close))
        self._writer = asyncio.create_task(self._write())

    def send(self, text: bytes) -> None:
        self._outbox.put_nowait(text)

    def close(self) -> None:
        self._writer.cancel()
        self._reader.cancel()
        self._ws.transport.abort()  # type: ignore[attr-defined]

    async def _read(self, on_frame: FrameHandler, on_close: CloseHandler) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in self._ws:  # type: ignore[attr-defined]
                on_frame(message)
        except ConnectionClosed:
            pass
        finally:
            self._writer.cancel()
            on_close(self._ws.close_code)  # type: ignore[attr-defined]

    async def _write(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            while True:
                text = await self._outbox.get()
                await self._ws.send(text.decode())  # type: ignore[attr-defined]


async def _open_websockets(
    url: str,
    on_frame: FrameHandler,
    on_close: CloseHandler,
    local_addr: tuple[str, int] | None,
) -> Link:
    from websockets.asyncio.client import connect

    ws = await connect(
        url,
        max_size=None,
        compression=None,
        ping_interval=None,
        open_timeout=CONNECT_TIMEOUT,
        local_addr=local_addr,
    )
    return _WebsocketsLink(ws, on_frame, on_close)
