"""Counts HTTP requests by route template (`/rooms/{room_id}`, never the raw path: one label
value per route, not per room) and status, and times them. WebSockets are counted by the
real-time layer instead."""

from __future__ import annotations

import time
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics

UNMATCHED = "unmatched"  # no route: every unknown path shares one label value
# A client can send any method name; each would become a new series, so others share one.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            # Not awaited here: a plain return leaves no frame of ours on a WebSocket's stack for
            # the connection's life (each layer's was a few hundred bytes per idle connection).
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router records the matched route in the scope it was given (ours).
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_REQUEST_SECONDS.labels(method, route).observe(
                time.perf_counter() - started
            )
