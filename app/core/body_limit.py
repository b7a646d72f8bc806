"""Refuse REST request bodies over MAX_REQUEST_BODY_BYTES before reading them.

uvicorn has no body size limit of its own (it hands the app whatever arrives), and FastAPI
reads a body whole before validating it. This pure ASGI middleware answers 413
`{"detail"}` at once when `Content-Length` is over the limit, without reading a byte of the
body; for a body without a length (chunked), it counts bytes as the app receives them and,
once over the limit, answers 413 itself and tells the app the client went away.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            # Not awaited here: a plain return leaves no frame of ours on a WebSocket's stack for
            # the connection's life (each layer's was a few hundred bytes per idle connection).
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        responded = False  # the 413 went out: whatever the app sends afterwards is dropped
        started = False

        async def limited_receive() -> Message:
            nonlocal received, responded
            if responded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started:
                        responded = True
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if responded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracked_send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"Request body too large: the limit is {self.max_bytes} bytes."}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The unread body is still on the wire: this connection cannot carry
                    # another request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server already refuses a malformed length
    return None
