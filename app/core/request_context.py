"""Who a log line is about: the request id, and for WebSocket work the connection and user.

The values live in context variables, so every line logged while handling a request (by
Parley, SQLAlchemy or uvicorn's access log) carries them without being passed around. Tasks
started from a handler inherit them, which is how a connection's writer logs its own ids.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's own id (a proxy's, say) is kept when it is short and plain; anything else could
# forge or break log lines, so it is replaced by one of ours.
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
connection_id: ContextVar[str | None] = ContextVar("connection_id", default=None)
user_id: ContextVar[int | None] = ContextVar("user_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    if value and _ACCEPTABLE_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


def bind_connection(*, connection: str, user: int) -> None:
    """Mark the current task (and those it starts) as working for this WebSocket connection."""
    connection_id.set(connection)
    user_id.set(user)


class RequestIdMiddleware:
    """Give every HTTP request and WebSocket handshake an id, log it, and answer it.

    Pure ASGI (no `BaseHTTPMiddleware`): the id is set in the request's own task, so the
    handler, the exception log and the access log all see it; the response carries it as
    `X-Request-ID` (a WebSocket's in its accept headers).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = accept_request_id(incoming)
        # Not reset afterwards: the server runs each request in its own task (own context),
        # and an error logged by the outermost middleware should still name its request.
        request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = rid
            await send(message)

        # Returned, not awaited: the caller awaits it in this same task (so in the context
        # that has the id), and no frame of ours stays on a WebSocket's stack.
        return self.app(scope, receive, send_with_id)
