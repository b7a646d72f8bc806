"""Keep the server's own `send` and `receive` for WebSocket connections.

Each connection's writer hands its frames straight to the server's `send` rather than going
through Starlette's WebSocket.send and the exception handler's wrapper: those check state
transitions and mark responses as started on every call, which at fan-out rates costs about
as much as framing the message. The writer only sends between accept and close, which the
connection tracks itself. The receive loop likewise reads the server's `receive` (one frame
fewer on every idle connection's stack). Both fall back to Starlette's methods where the
middleware is absent.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send

SERVER_SEND = "parley.server_send"
SERVER_RECEIVE = "parley.server_receive"


class KeepServerSend:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket":
            scope[SERVER_SEND] = send
            scope[SERVER_RECEIVE] = receive
        # Not awaited here: a plain return leaves no frame of ours on a WebSocket's stack for
        # the connection's life (each layer's was a few hundred bytes per idle connection).
        return self.app(scope, receive, send)
