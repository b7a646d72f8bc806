"""uvicorn's WebSocket protocol with a direct path for ready-made frames.

uvicorn frames every `websocket.send` on its own: one pass through websockets' `Frame`
serializer and one `transport.write` (a syscall) per frame per connection. With fan-out that
was about 80 % of the server's time (docs/performance.md). A broadcast frame, though, is the
same bytes for every recipient (a server never masks), so Parley builds it once
(`app.core.ws_frames`) and this protocol lets the app write a connection's queued frames in
one `transport.write`, through the ASGI extension `parley.frames`:

    scope["extensions"]["parley.frames"] = {"send": send_frames}
    await send_frames([frame_bytes, ...])

Everything else is uvicorn's `WebSocketsSansIOProtocol` unchanged: the handshake, the
`websocket.http.response` denial, parsing and validating client frames (websockets'
sans-I/O `ServerProtocol`: fragmentation, control frames, UTF-8, masking, close codes, the
size limit with 1009), ping/pong and keepalive, closing. The direct path respects the same
flow control as uvicorn's `send` (it waits while the transport is paused) and stops at the
same point (after a close frame was sent or received). It is offered only when
permessage-deflate was not negotiated: compressed frames differ per connection.

`parley serve` selects it (`WS_PROTOCOL=parley`, the default); with plain uvicorn use
`--ws app.core.ws_server:ParleyWebSocketProtocol`.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from app.core.ws_frames import EXTENSION


class ParleyWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The request is in the scope now; uvicorn's copy is never read again (and 10,000
        # idle connections each kept one).
        del self.request
        if self.response.status_code == 101 and not self.conn.extensions:
            self.scope["extensions"][EXTENSION] = {"send": self.send_frames}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            # Only the handshake reads the response; uvicorn keeps it for the connection's life.
            self.response = None  # type: ignore[assignment]

    async def send_frames(self, frames: list[bytes]) -> None:
        """Write complete frames (from `ws_frames`) in one write, after accept and before
        close. Raises ClientDisconnected (an OSError) once the connection cannot take them."""
        if not self.writable.is_set():
            await self.writable.wait()  # the transport's buffer is above its high-water mark
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
