"""The conversation: the room on screen, what the session hears, what the user sends.

The socket is an `app.client.Session`: it reconnects, resumes by `rev`, keeps unacked
sends in its outbox and renews the token in band. The current room is the one room the
session is subscribed to. Its view remembers the newest `seq` shown, so that the history
fetched on opening, a replay, a catch-up over REST and the live stream can overlap and
every message is still printed exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from app.client import ApiError, ParleyClient, ParleyError, Session
from app.client.models import (
    Ack,
    CaughtUp,
    Connected,
    Disconnected,
    ErrorFrame,
    Event,
    LoggedOut,
    Mention,
    Message,
    MessageDeleted,
    MessageFrame,
    MessageUpdated,
    Presence,
    Room,
    RoomDeleted,
    RoomJoined,
    RoomLeft,
    RoomUpdated,
    SendFailed,
    Subscribed,
    TypingFrame,
    Unsubscribed,
    User,
)
from app.client.session import RETRIED
from app.terminal import render
from app.terminal.ui import Terminal
from app.terminal.view import RoomView

logger = logging.getLogger(__name__)

HISTORY_ON_OPEN = 20
TYPING_SHOWN_SECONDS = 6.0
TYPING_SEND_INTERVAL = 3.0
READ_MARKER_DELAY = 0.3
QUIT_WAIT_SECONDS = 3.0
NO_ROOM = "You are not in a room: /join NAME first (/rooms lists them)."
SUBSCRIBE_REF = "subscribe:"  # the session's `ref` on its subscribe frames
CLOSE_REASONS = {
    1000: "closed by the server",
    1001: "the server is going away",
    1006: "connection lost",
    1008: "the server refused the token",
    1009: "a frame was too large",
    1011: "server error",
    1012: "server restarting",
    1013: "too slow to keep up",
    4401: "session expired",
}
ROOM_GONE = {
    "deleted": "#{} was deleted.",
    "left": "You left #{}.",
    "removed": "You were removed from #{}.",
}


def describe(exc: ParleyError) -> str:
    """An error as one line for the user (the server's own words where it gave some)."""
    if isinstance(exc, ApiError):
        return exc.detail
    return str(exc)


class Chat:
    def __init__(self, *, client: ParleyClient, user: User, ui: Terminal) -> None:
        self.client = client
        self.user = user
        self.ui = ui
        # `relogin`: a revoked login pauses the session (rooms, outbox) until the user
        # logs in again, instead of ending it.
        self.session: Session = client.session(relogin=True)
        self.on_logged_out: Callable[[str], None] = lambda _reason: None
        self.current: RoomView | None = None
        self._state = "connecting"
        self._subscription_lock = asyncio.Lock()
        self._rooms: dict[int, str] = {}  # id -> name of the rooms you are in or can see
        self._titles: dict[int, str] = {}  # id -> `#name`, or `@username` for a DM
        self._typing_sent = 0.0
        self._read_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        ui.prompt = self._prompt
        ui.status = self._status
        ui.on_typing = self._typing
        ui.room_names = lambda: list(self._rooms.values())

    @property
    def me(self) -> int:
        return self.user.id

    @property
    def me_username(self) -> str:
        return self.user.username

    # The session's events ------------------------------------------------------------------

    async def run(self) -> None:
        """Start the session and show what it hears, until it is closed."""
        self.session.start()
        async for event in self.session:
            try:
                await self.on_event(event)
            except ParleyError as exc:  # a REST call made for an event (none today) failed
                self.ui.error(describe(exc))

    async def on_event(self, event: Event) -> None:
        match event:
            case Connected():
                self._on_open()
            case Disconnected():
                self._on_down(event)
            case LoggedOut():
                self.on_logged_out(event.reason)
            case MessageFrame() | Ack():
                self._on_message(event.message)
                if isinstance(event, Ack):
                    self.ui.refresh()  # one fewer unsent
            case Subscribed():
                self._on_subscribed(event)
            case MessageUpdated():
                self._on_updated(event.message)
            case CaughtUp():
                self._on_caught_up(event)
            case MessageDeleted():
                view = self._view(event.room_id)
                if view is not None:
                    self._show_deleted(view, event.seq)
            case SendFailed():
                preview = render.sanitize(event.body[:40])
                self.ui.error(f"Not sent: {event.detail or event.code} ({preview!r})")
                self.ui.refresh()
            case ErrorFrame():
                self._on_error(event)
            case TypingFrame():
                self._on_typing(event)
            case Presence():
                self._on_presence(event)
            case RoomUpdated():
                self._on_room_updated(event)
            case RoomDeleted():
                self._on_room_gone(event.room_id, "deleted")
            case Unsubscribed():
                self._on_room_gone(event.room_id, event.reason)
            case RoomJoined():
                self._on_room_joined(event)
            case RoomLeft():
                self._on_room_left(event)
            case Mention():
                self._on_mention(event)
            case _:
                pass  # reacted, read, hello: nothing to show

    def _on_open(self) -> None:
        if self._state == "offline":
            self.ui.info("Reconnected.")
        self._state = "connected"
        view = self.current
        if view is not None and view.id in self.session.rooms:
            view.replay = []  # the session resubscribes it now: hold the replay
        self.ui.refresh()

    def _on_down(self, event: Disconnected) -> None:
        reason = CLOSE_REASONS.get(event.code or 0, event.reason)
        if self._state == "connected":
            self.ui.info(f"Disconnected ({reason}); reconnecting...")
        elif self._state == "connecting":
            self.ui.error(f"Cannot connect ({reason}); reconnecting...")
        logger.info("connection down (%s); next attempt in %.1fs", reason, event.retry_in)
        self._state = "offline"
        view = self.current
        if view is not None:
            # What came before the loss is shown; the next subscription resumes after it.
            self._flush_replay(view)
            self._flush_catch_up(view)
            view.typing.clear()
        self.ui.refresh()

    def _on_message(self, item: Message) -> None:
        view = self._view(item.room_id)
        if view is None:
            return
        if view.replay is not None:
            view.replay.append(item)
        else:
            self._display(view, [item])

    def _on_subscribed(self, frame: Subscribed) -> None:
        view = self._view(frame.room_id)
        if view is None:
            return
        view.online = {user.id: user for user in frame.online}
        self._flush_replay(view)
        if not frame.complete:
            # The session pages the rest from `/changes` now (as message.updated), then
            # says it caught up: hold them until then, to show new ones in order.
            missed = frame.last_seq - view.last_seq
            self.ui.info(
                f"Fetching {missed} more missed messages..."
                if missed > 0
                else "Fetching more missed changes..."
            )
            view.catch_up = []
        self._mark_read_soon()
        self.ui.refresh()

    def _on_updated(self, item: Message) -> None:
        view = self._view(item.room_id)
        if view is None:
            return
        if view.catch_up is not None:
            view.catch_up.append(item)
        elif view.replay is not None and item.seq > view.last_seq:
            view.replay.append(item)  # created and changed while we were away
        else:
            self._show_change(view, item)

    def _on_caught_up(self, event: CaughtUp) -> None:
        view = self._view(event.room_id)
        if view is not None:
            self._flush_catch_up(view)

    def _flush_replay(self, view: RoomView) -> None:
        replay, view.replay = view.replay or [], None
        self._display(view, sorted(replay, key=_seq))

    def _flush_catch_up(self, view: RoomView) -> None:
        """New messages first, in seq order (the pages come in rev order), then changes."""
        changed, view.catch_up = view.catch_up or [], None
        shown = view.last_seq
        self._display(view, sorted((m for m in changed if m.seq > shown), key=_seq))
        for item in changed:
            if item.seq <= shown:
                self._show_change(view, item)

    def _on_error(self, frame: ErrorFrame) -> None:
        ref = frame.ref if isinstance(frame.ref, str) else None
        if frame.code in RETRIED and ref in self.session.pending:
            return  # the session sends it again after `retry_after`
        if ref == "auth":
            logger.info("the server refused the renewed token: %s", frame.detail)
            return
        view = self.current
        if view is not None and ref == f"{SUBSCRIBE_REF}{view.id}":
            self._flush_replay(view)  # no replay is coming: the session dropped the room
        self.ui.error(frame.detail or frame.code)

    def _show_change(self, view: RoomView, item: Message) -> None:
        """A message changed: shown again with a note (an edit), its reactions and replies
        (anything else), or, if we never saw it (its creation reached us only in its current
        state), shown as new."""
        if item.seq > view.last_seq:
            self._display(view, [item])
            return
        if item.deleted:
            self._show_deleted(view, item.seq)
            view.remember(item)
            return
        before = view.remember(item)
        if before is None:  # not one we remember: say it changed, as it is now
            self.ui.show(view.line(item, me_id=self.me, note="updated"))
        elif _text(before) != _text(item):
            self.ui.show(view.line(item, me_id=self.me, note="edited"))
        elif render.extras(before) != render.extras(item):
            summary = render.extras(item) or "no reactions now"
            self.ui.show([("class:extras", f"{item.seq:>3} now: {summary}")])

    def _show_deleted(self, view: RoomView, seq: int) -> None:
        if seq <= view.last_seq:
            author = view.authors.get(seq)
            self.ui.info(
                f"A message from {author} was deleted." if author else "A message was deleted."
            )

    def _on_typing(self, frame: TypingFrame) -> None:
        view = self._view(frame.room_id)
        if view is None or frame.user.id == self.me:
            return
        view.set_typing(frame.user, TYPING_SHOWN_SECONDS)
        self.ui.refresh()
        asyncio.get_running_loop().call_later(TYPING_SHOWN_SECONDS + 0.1, self.ui.refresh)

    def _on_presence(self, frame: Presence) -> None:
        view = self._view(frame.room_id)
        if view is None:
            return
        view.set_presence(frame.user, frame.status)
        self.ui.show(render.presence(frame.user, frame.status, view.name))

    def _on_room_updated(self, frame: RoomUpdated) -> None:
        room = frame.room
        self._rooms[room.id] = room.name
        view = self._view(room.id)
        if view is None:
            return
        name, topic = room.name or view.name, room.topic or ""
        if name != view.name:
            self.ui.info(f"#{render.sanitize(view.name)} is now #{render.sanitize(name)}.")
        if topic != view.topic:
            self.ui.info(f"Topic: {render.sanitize(topic)}" if topic else "The topic was cleared.")
        view.name, view.topic = name, topic

    def _on_room_gone(self, room_id: int, reason: str) -> None:
        view = self._view(room_id)
        if view is None or reason == "requested":
            return
        self.forget(view, ROOM_GONE.get(reason, "You are no longer in #{}."))

    def _on_room_joined(self, frame: RoomJoined) -> None:
        room, by = frame.room, frame.by
        self._rooms[room.id] = room.name
        self._titles[room.id] = render.room_title(room)
        if by.id == self.me:  # your own /join or /dm says so already
            return
        who = render.display_name(by)
        if room.kind == "dm":
            other = render.sanitize(by.username)
            self.ui.info(f"{who} started a direct conversation with you (/dm {other} to open it).")
        else:
            name = room.name
            self.ui.info(f"{who} added you to #{render.sanitize(name)} (/join {name} to open it).")

    def _on_mention(self, frame: Mention) -> None:
        """Someone named us, in this room or another one: say so (the line itself shows it
        highlighted when it is the room on screen)."""
        if self._view(frame.room_id) is not None:
            return
        who = render.display_name(frame.message.author)
        place = self._titles.get(frame.room_id) or "a room you were just added to"
        preview = render.sanitize(frame.message.body)[:80]
        self.ui.show([("class:mention", f"@ {who} mentioned you in {place}:"), ("", f" {preview}")])

    def _on_room_left(self, frame: RoomLeft) -> None:
        name = self._rooms.pop(frame.room_id, None)
        self._titles.pop(frame.room_id, None)
        if self._view(frame.room_id) is not None:
            self._on_room_gone(frame.room_id, frame.reason)
        elif name is not None and frame.by.id != self.me:
            who, room = render.display_name(frame.by), render.sanitize(name)
            self.ui.info(
                f"{who} deleted #{room}."
                if frame.reason == "deleted"
                else f"{who} removed you from #{room}."
            )

    # What the user does --------------------------------------------------------------------

    async def say(self, body: str, *, reply_to: int | None = None) -> None:
        view = self.require_room()
        if view is None:
            return
        try:
            await self.session.send(view.id, body, reply_to=reply_to)
        except ValidationError as exc:  # what the server would refuse is refused here
            self.ui.error(f"Not sent: {exc.errors()[0]['msg']}")
            return
        if not self.session.connected:
            self.ui.info("Not connected: the message will be sent when the connection is back.")
        self.ui.refresh()

    async def open_room(self, room: Room) -> None:
        # The room's change number before its history: the subscription replays whatever
        # changed after it, so nothing between the two is missed (and overlaps show once).
        since_rev = room.last_rev
        page = await self.client.messages(room.id, limit=HISTORY_ON_OPEN)
        view = RoomView.of(room, me_username=self.me_username)
        self.current = view
        lines = [render.room_header(room)]
        if page.has_more:
            lines.append(render.system("Earlier messages: /history"))
        elif not page.messages:
            lines.append(render.system("No messages yet."))
        self.ui.show(render.joined(*lines))
        self._display(view, page.messages)
        await self._sync_subscription(view, since_rev)
        self.ui.refresh()

    async def _sync_subscription(self, view: RoomView, since_rev: int) -> None:
        """Make the session's one subscription the room on screen."""
        async with self._subscription_lock:
            for room_id in list(self.session.rooms):
                if room_id != view.id:
                    await self.session.unsubscribe(room_id)
            if view.id not in self.session.rooms and self.current is view:
                view.replay = []
                await self.session.subscribe(view.id, since_rev)

    async def close(self) -> None:
        """Give unacknowledged messages a moment to get through, then disconnect."""
        if self.session.pending and self.session.connected:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(QUIT_WAIT_SECONDS):
                    await self.session.wait_sent()
        if self.session.pending:
            self.ui.error(f"{len(self.session.pending)} message(s) were not delivered.")
        if self._read_timer is not None:
            self._read_timer.cancel()
        await self.session.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # Helpers -------------------------------------------------------------------------------

    def _display(self, view: RoomView, items: list[Message]) -> None:
        """Print the messages not shown yet, in order, as one block."""
        lines = view.take_new(items, me_id=self.me)
        if lines:
            self.ui.show(lines)
            self._mark_read_soon()

    def _mark_read_soon(self) -> None:
        """Send one read marker for a burst of displayed messages, not one per message."""
        if self._read_timer is None:
            self._read_timer = asyncio.get_running_loop().call_later(
                READ_MARKER_DELAY, lambda: self._spawn(self._send_read_marker())
            )

    async def _send_read_marker(self) -> None:
        self._read_timer = None
        view = self.current
        if view is None or view.last_seq <= view.read_seq or not self.session.live(view.id):
            return
        if await self.session.read(view.id, view.last_seq):
            view.read_seq = view.last_seq

    def _typing(self) -> None:
        view, now = self.current, time.monotonic()
        if view is None or not self.session.live(view.id):
            return
        if now - self._typing_sent >= TYPING_SEND_INTERVAL:
            self._typing_sent = now
            self._spawn(self.session.typing(view.id))

    async def fetch_rooms(self) -> list[Room]:
        rooms = await self.client.rooms()
        self._rooms = {room.id: room.name for room in rooms}
        self._titles = {room.id: render.room_title(room) for room in rooms}
        return rooms

    def _view(self, room_id: int) -> RoomView | None:
        view = self.current
        return view if view is not None and view.id == room_id else None

    def require_room(self) -> RoomView | None:
        if self.current is None:
            self.ui.error(NO_ROOM)
        return self.current

    def subscribed_to(self, view: RoomView) -> bool:
        return self.session.live(view.id)

    def forget(self, view: RoomView, message: str) -> None:
        if self.current is view:
            self.current = None
            self.ui.info(message.format(render.sanitize(view.name)))
            self.ui.refresh()

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _prompt(self) -> str:
        return f"{self.current.title}> " if self.current else "> "

    def _status(self) -> str:
        view = self.current
        if self._state == "connected":
            parts = [f"{view.title}: {len(view.online)} online" if view else "no room"]
        elif self._state == "offline":
            parts = ["offline, reconnecting..."]
        else:
            parts = ["connecting..."]
        unsent = len(self.session.pending)
        if unsent:
            parts.append(f"{unsent} unsent")
        typing = view.typing_now() if view is not None else ""
        if typing:
            parts.append(typing)
        return "  |  ".join(parts)


def _text(item: Message) -> tuple[object, object]:
    """What an edit changes (reactions and replies change a message too, not its text)."""
    return item.body, item.edited_at


def _seq(item: Message) -> int:
    return item.seq
