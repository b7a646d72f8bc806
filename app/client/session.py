"""`Session`: one WebSocket that outlives many sockets.

It subscribes to its rooms and, after any loss, reconnects with backoff and resumes each
room by `since_rev` (paging `GET …/changes` when the replay was incomplete). Sends go
through an outbox keyed by `client_id`: a send stays there until its `ack`, and is sent
again with the same `client_id` after a reconnect, so the server stores it once. The
access token is renewed before it expires and swapped in band (`auth`); a `rate_limited`
or `unavailable` error is honoured by resending after `retry_after`. `async for event in
session` yields typed frames (`app.client.models`) plus `Connected` / `Disconnected` /
`LoggedOut` / `SendFailed` / `CaughtUp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app.client.models import (
    Ack,
    Authenticated,
    CaughtUp,
    Connected,
    Disconnected,
    ErrorFrame,
    Event,
    Hello,
    LoggedOut,
    Message,
    MessageDeleted,
    MessageFrame,
    MessageUpdated,
    Pong,
    Reacted,
    RoomDeleted,
    RoomLeft,
    SendFailed,
    Subscribed,
    Unsubscribed,
)
from app.client.rest import ApiError, NotLoggedIn, ParleyClient, ParleyError
from app.protocol import client as frames
from app.protocol.server import parse_server_frame

logger = logging.getLogger(__name__)

TOKEN_EXPIRED = 4401
HELLO_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
MAX_FRAME = 2**20
# Bounds what a stalled consumer makes the session hold in memory.
EVENT_QUEUE_MAX = 10_000
CHANGES_PAGE = 1000
SUBSCRIBE_REF = "subscribe:"
# Refusals for now, not for good: the send stays in the outbox and goes again (same
# client_id) after `retry_after`, or after the reconnect if the server was going away.
RETRIED = ("rate_limited", "unavailable")


@dataclass
class Backoff:
    """Exponential with "equal jitter": half the ceiling for sure, half at random."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class _Pending:
    frame: frames.Send
    done: asyncio.Future[Message]
    not_before: float = 0.0  # loop time; set by `retry_after`


@dataclass
class RoomState:
    """What the session knows of one room: its highest `rev` and its messages."""

    last_rev: int = 0
    messages: dict[int, Message] = field(default_factory=dict)

    def apply(self, message: Message) -> bool:
        """Keep the state with the higher rev; False if this one is not newer."""
        known = self.messages.get(message.id)
        if known is not None and known.rev >= message.rev and message.rev:
            return False
        self.messages[message.id] = message
        self.last_rev = max(self.last_rev, message.rev)
        return True


class Session:
    def __init__(
        self,
        client: ParleyClient,
        rooms: Iterable[int] = (),
        *,
        since_rev: dict[int, int] | None = None,
        backoff: Backoff | None = None,
        relogin: bool = False,
    ) -> None:
        """`since_rev` resumes rooms from a known change number; `relogin` keeps the
        session (rooms, outbox) through a revoked login until the client logs in again,
        instead of ending it."""
        self.client = client
        self.relogin = relogin
        self.rooms: dict[int, RoomState] = {}
        # A room without a known rev replays from 0 (its whole recent history, up to
        # REPLAY_LIMIT then paged), so the session's view starts complete.
        for room_id in rooms:
            self.rooms[room_id] = RoomState(last_rev=(since_rev or {}).get(room_id, 0))
        self.hello: Hello | None = None
        self._backoff = backoff or Backoff()
        self._outbox: dict[str, _Pending] = {}
        self._events: asyncio.Queue[Event | None] = asyncio.Queue(EVENT_QUEUE_MAX)
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._live = asyncio.Event()
        self._awaiting: set[int] = set()  # rooms whose `subscribed` has not come yet
        self._tasks: set[asyncio.Task[Any]] = set()

    # Lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="parley-session")

    async def close(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._tasks):
            task.cancel()
        for pending in self._outbox.values():
            if not pending.done.done():
                pending.done.cancel()
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait(None)

    async def wait_live(self) -> None:
        """Until a socket is open and every room's subscription is live (callers bound
        the wait with `asyncio.timeout`)."""
        await self._live.wait()

    async def wait_sent(self) -> None:
        """Until every queued send is acknowledged or refused (bound it with a timeout)."""
        waiting = [p.done for p in self._outbox.values()]
        if waiting:
            await asyncio.wait(waiting)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def live(self, room_id: int) -> bool:
        """The room's subscription is live on the open socket (its replay has come)."""
        return self.connected and room_id in self.rooms and room_id not in self._awaiting

    @property
    def pending(self) -> list[str]:
        """The client_ids sent but not yet acknowledged."""
        return list(self._outbox)

    def messages(self, room_id: int) -> list[Message]:
        """The session's view of a room, in `seq` order."""
        return sorted(self.rooms[room_id].messages.values(), key=lambda m: m.seq)

    def _end(self, reason: str, code: int | None = None) -> None:
        """Nothing to reconnect with: tell the consumer, then end its iteration."""
        logger.warning("session ended: %s", reason)
        self._emit(Disconnected(reason=reason, code=code, retry_in=0))
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait(None)

    # Events --------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def next_event(self) -> Event:
        event = await self._events.get()
        if event is None:
            raise ParleyError("the session is closed")
        return event

    def _emit(self, event: Event) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            # A consumer that stopped reading loses events, never the session's state.
            logger.warning("event queue full; dropping a %s event", event.type)

    # Sending -------------------------------------------------------------------------------

    async def send(
        self,
        room_id: int,
        body: str,
        *,
        reply_to: int | None = None,
        client_id: str | None = None,
    ) -> asyncio.Future[Message]:
        """Queue a message; the future resolves with the stored message on its `ack`."""
        client_id = client_id or uuid.uuid4().hex
        # Validated here, before it is queued: a body the server would refuse raises now.
        frame = frames.Send(
            type="send",
            room_id=room_id,
            body=body,
            client_id=client_id,
            reply_to=reply_to,
            ref=client_id,
        )
        done: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._outbox[client_id] = _Pending(frame, done)
        await self._send_frame(frame)
        return done

    # These are sent now or not at all: False when there is no open socket.

    async def react(self, room_id: int, message_id: int, emoji: str, *, on: bool = True) -> bool:
        frame: frames.React | frames.Unreact = (
            frames.React(type="react", room_id=room_id, message_id=message_id, emoji=emoji)
            if on
            else frames.Unreact(type="unreact", room_id=room_id, message_id=message_id, emoji=emoji)
        )
        return await self._send_frame(frame)

    async def typing(self, room_id: int) -> bool:
        return await self._send_frame(frames.Typing(type="typing", room_id=room_id))

    async def read(self, room_id: int, seq: int) -> bool:
        return await self._send_frame(frames.Read(type="read", room_id=room_id, seq=seq))

    async def subscribe(self, room_id: int, since_rev: int = 0) -> None:
        """Add a room (replayed after `since_rev`); it is resumed after every reconnect."""
        self.rooms.setdefault(room_id, RoomState(last_rev=since_rev))
        if self.connected:
            self._awaiting.add(room_id)
            self._live.clear()
            await self._subscribe(room_id)

    async def unsubscribe(self, room_id: int) -> None:
        self._forget(room_id)
        await self._send_frame(frames.Unsubscribe(type="unsubscribe", room_id=room_id))

    def _forget(self, room_id: int) -> None:
        self.rooms.pop(room_id, None)
        self._awaiting.discard(room_id)
        if not self._awaiting and self.connected:
            self._live.set()

    async def _send_frame(self, frame: frames.ClientFrame) -> bool:
        """Send now if connected; False if not (the outbox keeps what must not be lost)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(frame.model_dump_json(exclude_none=True))
        except ConnectionClosed:
            return False
        return True

    async def _subscribe(self, room_id: int) -> None:
        state = self.rooms[room_id]
        await self._send_frame(
            frames.Subscribe(
                type="subscribe",
                room_id=room_id,
                since_rev=state.last_rev,
                ref=f"{SUBSCRIBE_REF}{room_id}",
            )
        )

    # The connection loop -------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                token = await self.client.fresh_token()
            except NotLoggedIn as exc:
                if not await self._logged_out(str(exc) or "not logged in"):
                    return
                continue
            except ParleyError as exc:
                await self._retry_later(f"cannot renew the session: {exc}", None)
                continue
            reason, code, renew = await self._connect_once(token)
            self._live.clear()
            if self._stopping:
                return
            if renew:
                try:
                    await self.client.refresh(stale=token)
                except NotLoggedIn as exc:  # the session is revoked: only a login helps
                    if self.relogin:
                        self._emit(Disconnected(reason=reason, code=code, retry_in=0))
                    if not await self._logged_out(str(exc) or "session revoked", code):
                        return
                    continue
                except ParleyError:
                    pass
            await self._retry_later(reason, code)

    async def _logged_out(self, reason: str, code: int | None = None) -> bool:
        """The login is gone: wait for a new one (True) or end the session (False)."""
        self._emit(LoggedOut(reason=reason))
        if not self.relogin:
            self._end(reason, code)
            return False
        logger.info("logged out (%s); waiting for a new login", reason)
        await self.client.wait_logged_in()
        self._backoff.reset()
        return True

    async def _retry_later(self, reason: str, code: int | None) -> None:
        delay = self._backoff.next_delay()
        logger.info("disconnected (%s); reconnecting in %.1fs", reason, delay)
        self._emit(Disconnected(reason=reason, code=code, retry_in=delay))
        await asyncio.sleep(delay)

    async def _connect_once(self, token: str) -> tuple[str, int | None, bool]:
        """One socket's life: why it ended, its close code, whether to renew the token."""
        socket: ClientConnection | None = None
        try:
            async with connect(
                self.client.ws_url,
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=HELLO_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                max_size=MAX_FRAME,
            ) as socket:
                first = parse_server_frame(await asyncio.wait_for(socket.recv(), HELLO_TIMEOUT))
                if not isinstance(first, Hello):
                    return "the server did not greet with `hello`", None, False
                self.hello = first
                self._ws = socket
                self._backoff.reset()
                self._emit(Connected(hello=first))
                if self.client.access_token != token:  # renewed while connecting
                    await self._send_auth()
                await self._resume()
                await self._serve(socket, first)
        except InvalidStatus as exc:
            status = exc.response.status_code
            return f"the server refused the connection ({status})", status, status in (401, 403)
        except (OSError, TimeoutError, InvalidHandshake, ValueError) as exc:
            return f"cannot connect: {exc or type(exc).__name__}", None, False
        except ConnectionClosed:
            pass
        except ParleyError as exc:  # paging `/changes` failed: reconnect and resume
            return f"cannot fetch missed changes: {exc}", None, False
        finally:
            self._ws = None
        code = (socket.close_code if socket is not None else None) or 1006
        return f"closed ({code})", code, code in (TOKEN_EXPIRED, 1008)

    async def _resume(self) -> None:
        """Resubscribe every room by `since_rev`, then resend every unacknowledged send."""
        self._awaiting = set(self.rooms)
        if not self._awaiting:
            self._live.set()
        for room_id in list(self.rooms):
            await self._subscribe(room_id)
        loop = asyncio.get_running_loop()
        for client_id, pending in list(self._outbox.items()):
            delay = pending.not_before - loop.time()
            if delay > 0:
                self._later(delay, client_id)
            else:
                await self._send_frame(pending.frame)

    async def _serve(self, ws: ClientConnection, hello: Hello) -> None:
        tasks = [
            asyncio.create_task(self._heartbeat(ws, hello.heartbeat_interval)),
            asyncio.create_task(self._renew_in_band()),
        ]
        try:
            async for raw in ws:
                try:
                    frame = parse_server_frame(raw)
                except ValueError:
                    logger.warning("ignoring a frame the client does not know: %.120r", raw)
                    continue
                await self._handle(frame)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _heartbeat(self, ws: ClientConnection, interval: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(max(interval, 1.0))
                await ws.send('{"type":"ping"}')

    async def _renew_in_band(self) -> None:
        """Refresh the access token before it expires and hand it to the open socket."""
        while True:
            await asyncio.sleep(max(self.client.renew_in, 0.5))
            try:
                await self.client.fresh_token()
            except ParleyError as exc:
                logger.warning("cannot renew the access token: %s", exc)
                continue
            await self._send_auth()

    async def _send_auth(self) -> None:
        await self._send_frame(frames.Auth(type="auth", token=self.client.access_token, ref="auth"))

    def _later(self, delay: float, client_id: str) -> None:
        async def resend() -> None:
            await asyncio.sleep(delay)
            pending = self._outbox.get(client_id)
            if pending is not None:
                await self._send_frame(pending.frame)

        task = asyncio.create_task(resend())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Frames --------------------------------------------------------------------------------

    async def _handle(self, frame: Any) -> None:
        if isinstance(frame, Ack):
            self._track(frame.message)
            pending = self._outbox.pop(frame.client_id or "", None)
            if pending is not None and not pending.done.done():
                pending.done.set_result(frame.message)
            self._emit(frame)
        elif isinstance(frame, MessageFrame | MessageUpdated | Reacted):
            if self._track(frame.message) or isinstance(frame, Reacted):
                self._emit(frame)
        elif isinstance(frame, MessageDeleted):
            state = self.rooms.get(frame.room_id)
            if state is not None:
                known = state.messages.get(frame.id)
                if known is not None and known.rev >= frame.rev:
                    return
                if known is not None:
                    state.messages[frame.id] = known.model_copy(
                        update={"deleted": True, "body": "", "rev": frame.rev, "reactions": []}
                    )
                state.last_rev = max(state.last_rev, frame.rev)
            self._emit(frame)
        elif isinstance(frame, Subscribed):
            self._emit(frame)
            state = self.rooms.get(frame.room_id)
            if state is not None:
                state.last_rev = max(state.last_rev, frame.last_rev)
                if not frame.complete:
                    await self._page_changes(frame.room_id, frame.last_rev)
                    self._emit(CaughtUp(room_id=frame.room_id, last_rev=state.last_rev))
            self._awaiting.discard(frame.room_id)
            if not self._awaiting:
                self._live.set()
        elif isinstance(frame, ErrorFrame):
            self._on_error(frame)
        elif isinstance(frame, RoomDeleted | RoomLeft):
            self._forget(frame.room_id)
            self._emit(frame)
        elif isinstance(frame, Unsubscribed):
            if frame.reason != "requested":  # left or removed: nothing to resume
                self._forget(frame.room_id)
            self._emit(frame)
        elif isinstance(frame, Authenticated | Pong):
            pass
        else:
            self._emit(frame)

    def _track(self, message: Message) -> bool:
        state = self.rooms.get(message.room_id)
        return True if state is None else state.apply(message)

    async def _page_changes(self, room_id: int, after_rev: int) -> None:
        """The replay was cut at REPLAY_LIMIT: fetch the rest over REST."""
        while True:
            page = await self.client.changes(room_id, after_rev=after_rev, limit=CHANGES_PAGE)
            for message in page.messages:
                if self._track(message):
                    self._emit(MessageUpdated(message=message))
            if not page.has_more or not page.messages:
                return
            after_rev = page.last_rev

    def _on_error(self, frame: ErrorFrame) -> None:
        ref = frame.ref if isinstance(frame.ref, str) else None
        if ref and ref.startswith(SUBSCRIBE_REF) and ref[len(SUBSCRIBE_REF) :].isdigit():
            # A room we may not subscribe to (gone, or we are not a member): drop it, so
            # the session goes live with the others and does not retry it forever.
            room_id = int(ref[len(SUBSCRIBE_REF) :])
            self.rooms.pop(room_id, None)
            self._awaiting.discard(room_id)
            if not self._awaiting:
                self._live.set()
        pending = self._outbox.get(ref) if ref else None
        if pending is None:
            self._emit(frame)
            return
        if frame.code in RETRIED:
            delay = frame.retry_after if frame.retry_after is not None else 1.0
            pending.not_before = asyncio.get_running_loop().time() + delay
            self._later(delay, pending.frame.client_id)
            self._emit(frame)
            return
        # Refused for good (too long, not a member...): resending would be refused again.
        del self._outbox[pending.frame.client_id]
        if not pending.done.done():
            pending.done.set_exception(ApiError(400, f"{frame.code}: {frame.detail}"))
            pending.done.exception()  # the caller may not await it; don't warn
        self._emit(
            SendFailed(
                client_id=pending.frame.client_id,
                room_id=pending.frame.room_id,
                body=pending.frame.body,
                code=frame.code,
                detail=frame.detail,
            )
        )
