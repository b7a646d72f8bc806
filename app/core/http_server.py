"""uvicorn's HTTP protocols with a deadline for the request head.

uvicorn 0.54 closes idle keep-alive connections (`timeout_keep_alive`) and caps the size of an
incomplete h11 event (`h11_max_incomplete_event_size`), but it has no time limit on reading a
request head: a client that connects and sends half a request line, or one header byte every
few seconds, holds the connection (and its file descriptor and buffers) forever. These
subclasses close a connection whose request head is not complete within
HTTP_HEADER_TIMEOUT_SECONDS of the connection opening or of the previous response ending.

`parley serve` selects them (`http=` option); with plain uvicorn use
`--http app.core.http_server:HeadTimeoutProtocol`.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.core.config import Settings

logger = logging.getLogger(__name__)


@lru_cache
def head_timeout_seconds() -> float:
    # Protocols are built by uvicorn, which knows nothing of our settings; read them once.
    return Settings().http_header_timeout_seconds


class _HeadDeadline:
    """The timer shared by both protocols: armed while a request head is awaited."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None
    _head_timer: asyncio.TimerHandle | None = None

    def _await_head(self) -> None:
        # Never re-armed while running: dribbling bytes must not extend the deadline.
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(head_timeout_seconds(), self._head_too_slow)

    def _head_received(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            logger.info("closing %s: request head not complete in time", _peer(self.client))
            self.transport.close()


class HeadTimeoutH11Protocol(_HeadDeadline, H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_state()

    def _follow_state(self) -> None:
        # h11 is IDLE exactly while the next request's head is awaited or partly received.
        if self.conn.their_state is h11.IDLE:
            self._await_head()
        else:
            self._head_received()


def _httptools_protocol() -> type[Any] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional (uvicorn[standard] brings it)
        return None

    class HeadTimeoutHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_received()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._head_received()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            # A pipelined request waiting here already has its head; otherwise the next
            # head (maybe partly parsed already) is awaited from now on.
            head_already_parsed = bool(self.pipeline)
            super().on_response_complete()
            if not head_already_parsed:
                self._await_head()

    return HeadTimeoutHttpToolsProtocol


# Like uvicorn's "auto": httptools when installed, else h11.
HeadTimeoutProtocol: type[Any] = _httptools_protocol() or HeadTimeoutH11Protocol


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"
