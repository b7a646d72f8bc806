"""One WebSocket connection: a bounded outgoing queue, written at the client's pace.

Publishing to a connection only appends to its queue. The first frame queued schedules a
flush (a plain callback, `loop.call_soon`) that writes the whole queue in one write through
the server's direct path; only when that must wait (the transport is paused: the client is
not reading) or the server offers no direct path does the connection start a writer task,
which ends once the queue is empty. An idle connection so holds no writer task, no future
and no callback: with 10,000 of them that is about 1 KiB each.

A client that falls `limit` frames behind is cut off with 1013 (it reconnects and resumes
with `since_seq`), so a slow or stalled reader never delays anyone else: a flush writes to
one socket without waiting, and a writer task waits for its own socket only.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable

from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.core import metrics
from app.core.ws_frames import BINARY, EXTENSION, frame, text_frame
from app.delivery.asgi import SERVER_SEND

logger = logging.getLogger(__name__)

TOO_SLOW = 1013
TOKEN_EXPIRED = 4401
# Where an ASGI message keeps its frame's bytes once built: a broadcast shares one message
# among all its recipients, so the first writer builds the frame and the others reuse it.
WIRE = "parley.wire"


class Connection:
    __slots__ = (
        "_close_task",
        "_closing",
        "_closing_waiter",
        "_drain_waiter",
        "_expiry",
        "_limit",
        "_queue",
        "_reader",
        "_reader_stopped",
        "_sending",
        "_serving",
        "close_code",
        "close_timeout",
        "id",
        "rooms",
        "session_id",
        "user_id",
        "user_json",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        *,
        user_id: int,
        user_json: str,
        session_id: int,
        limit: int,
        close_timeout: float = 5.0,
    ) -> None:
        self.id = secrets.token_hex(8)  # unique across processes: events name their origin by it
        self.websocket = websocket
        self.user_id = user_id
        self.user_json = user_json
        self.session_id = session_id
        self.rooms: set[int] = set()  # rooms with a live or pending subscription
        self.close_timeout = close_timeout
        self.close_code: int | None = None
        self._limit = limit
        # ASGI messages not yet written; a flush or the writer swaps the whole list out at
        # once (an empty list is small, which matters with 10,000 idle connections). The
        # bound applies here; what a waiting writer holds is at most one earlier queue's worth.
        self._queue: list[Message] = []
        self._drain_waiter: asyncio.Future[None] | None = None
        # What sends the queue: None when it is empty (idle), the scheduled flush, or the
        # writer task while a write must wait. Nothing is sent before `serve` begins.
        self._sending: asyncio.Handle | asyncio.Task[None] | None = None
        self._serving = False
        self._reader: asyncio.Task[object] | None = None
        self._reader_stopped = False
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._closing_waiter: asyncio.Future[None] | None = None  # made only when awaited
        self._expiry: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user_id} rooms={sorted(self.rooms)}>"

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def flushed(self) -> bool:
        """Everything queued has been handed to the server (or the connection is ending)."""
        if self._closing or not self._serving:
            return True
        return not self._queue and self._sending is None

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def push(self, frame: str) -> None:
        """Queue a frame without waiting. Overflowing the queue cuts the connection (1013)."""
        self.push_message({"type": "websocket.send", "text": frame})

    def push_message(self, message: Message) -> None:
        """`push` for a ready ASGI message: a broadcast builds one and shares it."""
        if self._closing:
            return
        if len(self._queue) >= self._limit:
            logger.info("connection %s of user %s is too slow: closing 1013", self.id, self.user_id)
            metrics.SLOW_CONSUMER_CLOSES.inc()
            self.close(TOO_SLOW, "too slow to keep up; reconnect and resume with since_seq")
            return
        self._queue.append(message)
        if self._sending is None and self._serving:
            self._sending = asyncio.get_running_loop().call_soon(self._flush)

    async def drained(self) -> None:
        """Wait until the queue is at most half full (for bulk sends such as a replay)."""
        while self.backlog > self._limit // 2 and not self._closing:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    def expire_at(self, loop_time: float) -> None:
        """Close with 4401 at `loop_time` unless a fresh token moves the deadline."""
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_at(
            loop_time, self.close, TOKEN_EXPIRED, "token expired"
        )

    async def serve(self, receive_loop: Awaitable[None]) -> None:
        """Run the receive loop here and send the queue beside it (what was queued before
        this starts goes out first); whichever ends first ends both."""
        self._reader = asyncio.current_task()
        self._serving = True
        if self._queue and self._sending is None:
            self._sending = asyncio.get_running_loop().call_soon(self._flush)
        try:
            await receive_loop
            # The loop may end because we closed (an oversized frame: 1009): the close frame
            # must reach the wire before the ASGI app returns, or the server drops the socket
            # without one (1006). `_send_close` bounds its own wait.
            self._reader = None  # nothing left to cancel: the reader is done reading
            await self.close_sent()
        except asyncio.CancelledError:
            if not self._reader_stopped:
                raise
            # We stopped the reader ourselves (the peer never took the close frame).
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        finally:
            self._reader = None
            self._closing = True
            self._stop_sending()
            if self._expiry is not None:
                self._expiry.cancel()
            self._wake_drainer()

    async def until_closing(self) -> None:
        """Return once the connection has begun to close (or the peer is gone)."""
        if self._closing:
            return
        if self._closing_waiter is None:
            self._closing_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._closing_waiter)

    def close(self, code: int, reason: str = "") -> None:
        """Stop sending, drop what is queued and close with `code`. Safe to call repeatedly."""
        if self._closing:
            return
        self._closing = True
        self.close_code = code
        self._queue.clear()
        self._wake_drainer()
        self._stop_sending()
        self._close_task = asyncio.create_task(self._send_close(code, reason))

    async def close_sent(self) -> None:
        """Wait (bounded) until a close begun with `close` has gone out, if one was begun."""
        close_task = self._close_task
        if close_task is not None and not close_task.done():
            await asyncio.wait({close_task}, timeout=self.close_timeout + 1)

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            # A stalled peer never drains its socket, so the close frame may never go out:
            # bound the wait, then stop reading so the connection's resources are released.
            await asyncio.wait_for(self.websocket.close(code, reason), self.close_timeout)
            return
        except (TimeoutError, OSError, RuntimeError, WebSocketDisconnect):
            pass
        if self._reader is not None and not self._reader.done():
            self._reader_stopped = True
            self._reader.cancel()

    def _flush(self) -> None:
        """The scheduled flush: write the queue now through the server's direct path, or
        leave it to a writer task when the write must wait (or there is no direct path)."""
        self._sending = None
        if self._closing or not self._queue:
            return
        direct = (self.websocket.scope.get("extensions") or {}).get(EXTENSION)
        write = direct.get("write") if direct is not None else None
        if write is not None:
            batch = self._queue
            try:
                written = write([m.get(WIRE) or _wire(m) for m in batch])
            except (OSError, RuntimeError):
                self._gone()
                return
            if written:
                self._queue = []
                if self._drain_waiter is not None:
                    self._wake_drainer()
                metrics.FRAMES.add(len(batch))  # per batch: an int addition, not per frame
                return
        # Built frames stay in their messages (WIRE), so a retry by the writer reuses them.
        self._sending = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.id}")

    def _stop_sending(self) -> None:
        sending = self._sending
        if sending is not None:
            sending.cancel()  # a flush not yet run, or the writer task
            self._sending = None

    async def _write_loop(self) -> None:
        """Send until the queue is empty, waiting for the client as needed, then end."""
        scope = self.websocket.scope
        # The server's direct path for ready frames (app/core/ws_server.py), else ASGI `send`.
        direct = (scope.get("extensions") or {}).get(EXTENSION)
        send = None if direct else (scope.get(SERVER_SEND) or self.websocket.send)
        try:
            while self._queue and not self._closing:
                batch, self._queue = self._queue, []
                if self._drain_waiter is not None:
                    self._wake_drainer()
                metrics.FRAMES.add(len(batch))  # per batch: an int addition, not per frame
                if direct is not None:
                    # The server takes ready frames: the whole batch in one write.
                    await direct["send"]([m.get(WIRE) or _wire(m) for m in batch])
                    continue
                assert send is not None
                for message in batch:
                    await send(message)
        except (OSError, RuntimeError, WebSocketDisconnect):
            self._gone()
        finally:
            # Checked and cleared in one step: a push from here on schedules a new flush.
            if self._sending is asyncio.current_task():
                self._sending = None

    def _gone(self) -> None:
        # The peer is gone; the receive loop sees the disconnect and cleans up.
        self._closing = True
        self._queue.clear()
        self._wake_drainer()

    def _wake_drainer(self) -> None:
        # Called wherever `_closing` becomes true, so it also wakes `until_closing`.
        for waiter in (self._drain_waiter, self._closing_waiter if self._closing else None):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        self._drain_waiter = None


def _wire(message: Message) -> bytes:
    """The frame of a `websocket.send` message, built once and kept in the message."""
    text = message.get("text")
    data = text_frame(text) if text is not None else frame(BINARY, message["bytes"])
    message[WIRE] = data
    return data
