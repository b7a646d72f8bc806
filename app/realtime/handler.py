"""The WebSocket protocol for one connection: read frames, act, answer.

Frames from one connection are handled in order. A `send` does not wait for its commit:
it is handed to the group committer and acknowledged from there, so a client may keep
several sends in flight on one connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Message
from starlette.websockets import WebSocket

from app.auth import service as auth_service
from app.auth.dependencies import SocketCaller
from app.auth.exceptions import InvalidAccessToken
from app.core import metrics, request_context
from app.core.errors import DomainError
from app.core.ratelimit import TokenBucket
from app.delivery import events, frames
from app.delivery.asgi import SERVER_RECEIVE
from app.delivery.connection import Connection
from app.messages import reactions as reaction_service
from app.messages.group_commit import Outcome, Stored, Submission
from app.realtime import protocol
from app.realtime.dependencies import SocketServices
from app.rooms import membership as membership_service
from app.rooms.exceptions import RoomNotFound
from app.users.models import User

logger = logging.getLogger(__name__)

FRAME_TOO_BIG = 1009
TOO_MANY_CONNECTIONS = 4429
INTERNAL_ERROR = 1011
SERVER_RESTARTING = 1012
TYPING_INTERVAL_SECONDS = 1.0


class ConnectionHandler:
    # Per connection, so kept lean: most connections only ever listen.
    __slots__ = ("_frame_bucket", "_send_bucket", "_typing_at", "connection", "services")

    def __init__(self, connection: Connection, services: SocketServices) -> None:
        self.connection = connection
        self.services = services
        settings = services.settings
        self._frame_bucket = TokenBucket(settings.ws_frames_per_second, settings.ws_frames_burst)
        self._send_bucket: TokenBucket | None = None
        self._typing_at: dict[int, float] | None = None

    async def receive_loop(
        self, room_id: int | None, since_seq: int | None, since_rev: int | None = None
    ) -> None:
        websocket = self.connection.websocket
        receive = websocket.scope.get(SERVER_RECEIVE) or websocket.receive
        if room_id is not None:
            await self.handle_frame(
                protocol.Subscribe(
                    type="subscribe", room_id=room_id, since_seq=since_seq, since_rev=since_rev
                )
            )
        # Each frame is handled in a call of its own, so that nothing of the last one stays
        # referenced while the connection waits: most connections wait most of the time.
        while await self.on_message(await receive()):
            if self.services.draining():
                await self._read_no_more(receive)
                return

    async def _read_no_more(self, receive: Callable[[], Awaitable[Message]]) -> None:
        """The server is draining: take no new frames (TCP pushes back on the client) until
        the drain closes the connection, then read only up to the disconnect."""
        await self.connection.until_closing()
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async def on_message(self, message: Message) -> bool:
        """Handle one ASGI message; False when the connection is over."""
        if message["type"] == "websocket.disconnect":
            return False
        text = message.get("text")
        if text is None:
            try:
                text = bytes(message.get("bytes") or b"").decode()
            except UnicodeDecodeError:
                self.error("invalid_json", "binary frames must hold UTF-8 JSON")
                return True
        if (
            len(text) > protocol.MAX_FRAME_BYTES // 4
            and len(text.encode()) > protocol.MAX_FRAME_BYTES
        ):
            self.connection.close(FRAME_TOO_BIG, "frame larger than 64 KiB")
            return False
        try:
            frame = protocol.parse(text)
        except protocol.ProtocolError as exc:
            self.error(exc.code, exc.detail, exc.ref)
            return True
        wait = self._frame_bucket.take()
        if wait:
            self.error("rate_limited", "Too many frames.", frame.ref, retry_after=round(wait, 3))
            return True
        await self.handle_frame(frame)
        return True

    async def handle_frame(self, frame: protocol.ClientFrame) -> None:
        try:
            await HANDLERS[frame.type](self, frame)
        except DomainError as exc:
            self.error(exc.code, exc.detail, frame.ref)
        except (SQLAlchemyError, OSError) as exc:
            # A database blip refuses this one frame; the connection and its other
            # subscriptions carry on, and the client may retry.
            logger.warning("connection %s: %s failed: %s", self.connection.id, frame.type, exc)
            self.error("unavailable", "The server could not do that just now; retry.", frame.ref)

    def error(self, code: str, detail: str, ref: frames.Ref = None, **extra: object) -> None:
        self.connection.push(frames.error(code, detail, ref=ref, **extra))

    async def _subscribe(self, frame: protocol.Subscribe) -> None:
        await self.services.subscriptions.subscribe(
            self.connection, frame.room_id, frame.since_seq, frame.ref, since_rev=frame.since_rev
        )

    async def _unsubscribe(self, frame: protocol.Unsubscribe) -> None:
        await self.services.subscriptions.unsubscribe(self.connection, frame.room_id, frame.ref)

    async def _send(self, frame: protocol.Send) -> None:
        if self._send_bucket is None:
            settings = self.services.settings
            self._send_bucket = TokenBucket(settings.messages_per_second, settings.messages_burst)
        wait = self._send_bucket.take()
        if wait:
            self.error(
                "rate_limited", "You are sending too fast.", frame.ref, retry_after=round(wait, 3)
            )
            return
        connection = self.connection
        self.services.committer.submit(
            Submission(
                frame.room_id,
                connection.user_id,
                connection.user_json,
                frame.body,
                frame.client_id,
                self,
                frame.ref,
                frame.reply_to,
            )
        )
        if self._typing_at:
            # Clients clear someone's typing indicator when their message arrives, so the
            # next typing frame must go out at once, not wait out the throttle.
            self._typing_at.pop(frame.room_id, None)

    def acked(self, submission: Submission, outcome: Outcome) -> None:
        """The committer's `acked` sink for this connection's sends."""
        if isinstance(outcome, Stored):
            self.connection.push(
                frames.ack(
                    client_id=submission.client_id,
                    message_json=outcome.message_json,
                    ref=submission.ref,
                )
            )
        else:
            self.connection.push(frames.error(outcome.code, outcome.detail, ref=submission.ref))

    async def _react(self, frame: protocol.React | protocol.Unreact) -> None:
        """Add or remove the caller's reaction; `reacted` (with the frame's ref) once it is
        committed, also when nothing changed; subscribers get `message.updated` if it did."""
        change = reaction_service.react if frame.type == "react" else reaction_service.unreact
        async with self.services.transaction() as session:
            user = await session.get(User, self.connection.user_id)
            if user is None:  # the account is gone; its sockets are closing
                raise RoomNotFound()
            message = await change(session, user, frame.room_id, frame.message_id, frame.emoji)
        self.connection.push(frames.reacted(message_json=message.model_dump_json(), ref=frame.ref))

    async def _typing(self, frame: protocol.Typing) -> None:
        if frame.room_id not in self.connection.rooms:
            self.error("not_member", f"Subscribe to room {frame.room_id} first.", frame.ref)
            return
        now = time.monotonic()
        if self._typing_at is None:
            self._typing_at = {}
        if now - self._typing_at.get(frame.room_id, 0.0) < TYPING_INTERVAL_SECONDS:
            return  # clients repeat typing every few seconds; one per second is plenty
        self._typing_at[frame.room_id] = now
        typing = frames.typing(room_id=frame.room_id, user_json=self.connection.user_json)
        self.services.broker.publish(
            events.room_frame(
                room_id=frame.room_id, frame=typing, skip_user_id=self.connection.user_id
            )
        )

    async def _read(self, frame: protocol.Read) -> None:
        async with self.services.transaction() as session:
            await membership_service.mark_read(
                session,
                self.connection.user_id,
                frame.room_id,
                frame.seq,
                origin=self.connection.id,
            )

    async def _auth(self, frame: protocol.Auth) -> None:
        try:
            async with self.services.transaction() as session:
                auth = await auth_service.authenticate_access_token(
                    session, self.services.settings, frame.token
                )
        except InvalidAccessToken:
            self.error("invalid_frame", "That token is invalid, expired or revoked.", frame.ref)
            return
        if auth.user.id != self.connection.user_id:
            self.error("invalid_frame", "That token belongs to another user.", frame.ref)
            return
        self.connection.session_id = auth.session_id
        schedule_expiry(self.connection, auth.expires_at)
        self.connection.push(frames.authenticated(expires_at=auth.expires_at, ref=frame.ref))

    async def _ping(self, frame: protocol.Ping) -> None:
        self.connection.push(frames.pong(frame.ref))


Handler = Callable[[ConnectionHandler, Any], Awaitable[None]]

# One table for every connection, rather than bound methods built per connection.
HANDLERS: dict[str, Handler] = {
    "subscribe": ConnectionHandler._subscribe,
    "unsubscribe": ConnectionHandler._unsubscribe,
    "send": ConnectionHandler._send,
    "react": ConnectionHandler._react,
    "unreact": ConnectionHandler._react,
    "typing": ConnectionHandler._typing,
    "read": ConnectionHandler._read,
    "auth": ConnectionHandler._auth,
    "ping": ConnectionHandler._ping,
}


def schedule_expiry(connection: Connection, expires_at: datetime) -> None:
    remaining = (expires_at - datetime.now(UTC)).total_seconds()
    connection.expire_at(asyncio.get_running_loop().time() + max(0.0, remaining))


async def run_connection(
    websocket: WebSocket,
    services: SocketServices,
    caller: SocketCaller,
    *,
    room_id: int | None = None,
    since_seq: int | None = None,
    since_rev: int | None = None,
) -> None:
    """Accept (the token was already checked), greet, serve frames until either side closes."""
    settings = services.settings
    await websocket.accept()
    hub = services.subscriptions.hub
    if services.draining():
        # A handshake that finished while the server drains: 1012 sends the client to
        # reconnect (elsewhere, or after the restart) rather than to re-authenticate.
        await websocket.close(SERVER_RESTARTING, "server restarting")
        return
    # Counted per process: what a socket costs (memory, a file descriptor, a writer task) is
    # spent in the process that holds it, so the cap bounds exactly that. Nothing awaits
    # between this check and `hub.add` below, so concurrent handshakes cannot slip past it.
    if hub.connections_of(caller.user_id) >= settings.ws_max_connections_per_user:
        logger.info("user %s: too many connections, refusing with 4429", caller.user_id)
        await websocket.close(
            TOO_MANY_CONNECTIONS, "too many connections for this user; close another or retry"
        )
        return
    connection = Connection(
        websocket,
        user_id=caller.user_id,
        user_json=caller.user_json,
        session_id=caller.session_id,
        limit=settings.ws_send_queue_size,
        close_timeout=settings.ws_close_timeout_seconds,
    )
    # Every line logged for this connection from here on (its tasks inherit the context)
    # names it and its user; JSON logs carry them as fields.
    request_context.bind_connection(connection=connection.id, user=caller.user_id)
    logger.info("connection %s of user %s opened", connection.id, caller.user_id)
    handler = ConnectionHandler(connection, services)
    hub.add(connection)
    connection.push(
        frames.hello(
            user_json=caller.user_json,
            heartbeat_interval=settings.heartbeat_interval_seconds,
            expires_at=caller.expires_at,
        )
    )
    schedule_expiry(connection, caller.expires_at)
    metrics.WS_CONNECTIONS.inc()
    try:
        await connection.serve(handler.receive_loop(room_id, since_seq, since_rev))
    except Exception:
        # Logged here with the connection's context; the client gets a proper close frame
        # (1011) instead of a dropped socket, and every resource is released below.
        logger.exception("connection %s of user %s failed", connection.id, connection.user_id)
        connection.close(INTERNAL_ERROR, "internal error")
        await connection.close_sent()
    finally:
        metrics.WS_CONNECTIONS.dec()
        await services.subscriptions.disconnect(connection)
        logger.info("connection %s of user %s closed", connection.id, caller.user_id)
