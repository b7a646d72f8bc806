"""The conversation: the room on screen, what arrives on the socket, what the user sends.

The current room is the one subscribed on the socket. Its view remembers the newest `seq`
shown, so that a resume (`since_seq`), a catch-up over REST and the live stream can overlap
and every message is still printed exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.terminal import render
from app.terminal.api import HISTORY_PAGE_MAX, Api, ApiError, Message, Room, ServerUnreachable
from app.terminal.auth import Session, SessionEnded
from app.terminal.connection import Connection, Frame, websocket_url
from app.terminal.outbox import Outbox, Pending
from app.terminal.ui import Terminal
from app.terminal.view import RoomView

logger = logging.getLogger(__name__)

HISTORY_ON_OPEN = 20
TYPING_SHOWN_SECONDS = 6.0
TYPING_SEND_INTERVAL = 3.0
READ_MARKER_DELAY = 0.3
QUIT_WAIT_SECONDS = 3.0
NO_ROOM = "You are not in a room: /join NAME first (/rooms lists them)."


class Chat:
    def __init__(self, *, api: Api, session: Session, ui: Terminal, server: str) -> None:
        self.api = api
        self.session = session
        self.ui = ui
        self.connection = Connection(url=websocket_url(server), session=session, listener=self)
        self.current: RoomView | None = None
        self.outbox = Outbox()
        self._state = "connecting"
        self._subscribed: int | None = None  # the room subscribed on the current socket
        self._subscription_lock = asyncio.Lock()
        self._rooms: dict[int, str] = {}  # id -> name of the rooms you are in or can see
        self._titles: dict[int, str] = {}  # id -> `#name`, or `@username` for a DM
        self._typing_sent = 0.0
        self._read_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Callable[[Frame], Awaitable[None]]] = {
            "message": self._on_message,
            "subscribed": self._on_subscribed,
            "ack": self._on_ack,
            "error": self._on_error,
            "message.updated": self._on_updated,
            "message.deleted": self._on_deleted,
            "typing": self._on_typing,
            "presence": self._on_presence,
            "room.updated": self._on_room_updated,
            "room.deleted": self._on_room_gone,
            "unsubscribed": self._on_room_gone,
            "room.joined": self._on_room_joined,
            "room.left": self._on_room_left,
            "mention": self._on_mention,
        }
        ui.prompt = self._prompt
        ui.status = self._status
        ui.on_typing = self._typing
        ui.room_names = lambda: list(self._rooms.values())

    @property
    def me(self) -> int:
        return int(self.session.user["id"])

    @property
    def me_username(self) -> str:
        return str(self.session.user.get("username") or "")

    # Connection events ------------------------------------------------------------------

    async def on_open(self, hello: Frame) -> None:
        if self._state == "offline":
            self.ui.info("Reconnected.")
        self._state = "connected"
        self._subscribed = None
        await self._sync_subscription()
        for pending in self.outbox:
            await self.connection.send(pending.frame())
        self.ui.refresh()

    def on_down(self, reason: str, retry_in: float) -> None:
        if self._state == "connected":
            self.ui.info(f"Disconnected ({reason}); reconnecting...")
        elif self._state == "connecting":
            self.ui.error(f"Cannot connect ({reason}); reconnecting...")
        logger.info("connection down (%s); next attempt in %.1fs", reason, retry_in)
        self._state = "offline"
        self._subscribed = None
        if self.current is not None:
            self.current.typing.clear()
        self.ui.refresh()

    async def on_frame(self, frame: Frame) -> None:
        handler = self._handlers.get(str(frame.get("type")))
        if handler is None:
            return  # pong, read, authenticated, hello: nothing to show
        try:
            await handler(frame)
        except (ApiError, ServerUnreachable, SessionEnded) as exc:
            self.ui.error(str(exc))
        except (KeyError, TypeError, ValueError) as exc:
            # A frame not shaped as the contract says: skip it rather than drop the socket.
            logger.warning("ignoring a malformed %s frame (%r)", frame.get("type"), exc)

    # What the user does ------------------------------------------------------------------

    async def say(self, body: str, *, reply_to: int | None = None) -> None:
        view = self.require_room()
        if view is None:
            return
        pending = self.outbox.add(view.id, body, reply_to=reply_to)
        if not await self.connection.send(pending.frame()):
            self.ui.info("Not connected: the message will be sent when the connection is back.")
        self.ui.refresh()

    async def close(self) -> None:
        """Give unacknowledged messages a moment to get through, then disconnect."""
        if self.outbox and self.connection.connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.emptied(), QUIT_WAIT_SECONDS)
        if self.outbox:
            self.ui.error(f"{len(self.outbox)} message(s) were not delivered.")
        if self._read_timer is not None:
            self._read_timer.cancel()
        await self.connection.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # Frames -----------------------------------------------------------------------------

    async def _on_message(self, frame: Frame) -> None:
        item = frame.get("message") or {}
        view = self._view(item.get("room_id"))
        if view is not None:
            if view.replay is not None:
                view.replay.append(item)
            else:
                self._display(view, [item])
            view.saw_rev(item.get("rev"))

    async def _on_subscribed(self, frame: Frame) -> None:
        view = self._view(frame.get("room_id"))
        if view is None:
            return
        view.online = {int(u["id"]): u for u in frame.get("online") or []}
        by_rev, replay, view.replay = view.replay is not None, view.replay or [], None
        self._display(view, sorted(replay, key=lambda item: int(item.get("seq") or 0)))
        view.saw_rev(frame.get("last_rev"))
        if not frame.get("complete", True):
            if by_rev:
                await self._catch_up_changes(
                    view, int(frame.get("last_rev") or 0), int(frame.get("last_seq") or 0)
                )
            else:
                await self._catch_up(view, int(frame.get("last_seq") or 0))
        self._mark_read_soon()
        self.ui.refresh()

    async def _on_ack(self, frame: Frame) -> None:
        self.outbox.settle(frame.get("client_id"))
        self.ui.refresh()

    async def _on_error(self, frame: Frame) -> None:
        detail = str(frame.get("detail") or frame.get("code") or "error")
        pending = self.outbox.get(frame.get("ref"))
        if pending is not None and frame.get("code") == "rate_limited":
            self._later(float(frame.get("retry_after") or 1.0), lambda: self._resend(pending))
            return
        if pending is not None:
            self.outbox.settle(pending.client_id)
            preview = render.sanitize(pending.body[:40])
            self.ui.error(f"Not sent: {detail} ({preview!r})")
        elif frame.get("ref") == "auth":
            logger.info("the server refused the renewed token: %s", detail)
        else:
            self.ui.error(detail)

    async def _on_updated(self, frame: Frame) -> None:
        item = frame.get("message") or {}
        view = self._view(item.get("room_id"))
        if view is not None:
            view.saw_rev(item.get("rev"))
            self._show_change(view, item)

    async def _on_deleted(self, frame: Frame) -> None:
        view = self._view(frame.get("room_id"))
        if view is not None:
            view.saw_rev(frame.get("rev"))
            self._show_deleted(view, int(frame.get("seq") or 0))

    def _show_change(self, view: RoomView, item: Message) -> None:
        """A message changed: shown again with a note (an edit), its reactions and replies
        (anything else), or, if we never saw it (its creation reached us only in its current
        state), shown as new."""
        if int(item.get("seq") or 0) > view.last_seq:
            self._display(view, [item])
            return
        if item.get("deleted"):
            self._show_deleted(view, int(item["seq"]))
            view.remember(item)
            return
        before = view.remember(item)
        if before is None:  # not one we remember: say it changed, as it is now
            self.ui.show(view.line(item, me_id=self.me, note="updated"))
        elif _text(before) != _text(item):
            self.ui.show(view.line(item, me_id=self.me, note="edited"))
        elif render.extras(before or {}) != render.extras(item):
            summary = render.extras(item) or "no reactions now"
            self.ui.show([("class:extras", f"{item['seq']:>3} now: {summary}")])

    def _show_deleted(self, view: RoomView, seq: int) -> None:
        if seq <= view.last_seq:
            author = view.authors.get(seq)
            self.ui.info(
                f"A message from {author} was deleted." if author else "A message was deleted."
            )

    async def _on_typing(self, frame: Frame) -> None:
        view = self._view(frame.get("room_id"))
        user = frame.get("user") or {}
        if view is None or user.get("id") == self.me:
            return
        view.set_typing(user, TYPING_SHOWN_SECONDS)
        self.ui.refresh()
        asyncio.get_running_loop().call_later(TYPING_SHOWN_SECONDS + 0.1, self.ui.refresh)

    async def _on_presence(self, frame: Frame) -> None:
        view = self._view(frame.get("room_id"))
        user = frame.get("user") or {}
        if view is None or "id" not in user:
            return
        view.set_presence(user, str(frame.get("status")))
        self.ui.show(render.presence(user, str(frame.get("status")), view.name))

    async def _on_room_updated(self, frame: Frame) -> None:
        room = frame.get("room") or {}
        view = self._view(room.get("id"))
        if view is None:
            return
        name, topic = str(room.get("name") or view.name), str(room.get("topic") or "")
        if name != view.name:
            self.ui.info(f"#{render.sanitize(view.name)} is now #{render.sanitize(name)}.")
        if topic != view.topic:
            self.ui.info(f"Topic: {render.sanitize(topic)}" if topic else "The topic was cleared.")
        view.name, view.topic = name, topic

    async def _on_room_gone(self, frame: Frame) -> None:
        view = self._view(frame.get("room_id"))
        if self._subscribed == frame.get("room_id"):
            self._subscribed = None
        reason = frame.get("reason", "deleted")
        if view is None or reason == "requested":
            return
        messages = {
            "deleted": "#{} was deleted.",
            "left": "You left #{}.",
            "removed": "You were removed from #{}.",
        }
        self.forget(view, messages.get(str(reason), "You are no longer in #{}."))

    async def _on_room_joined(self, frame: Frame) -> None:
        room, by = frame["room"], frame.get("by") or {}
        name = str(room["name"])
        self._rooms[int(room["id"])] = name
        self._titles[int(room["id"])] = render.room_title(room)
        if by.get("id") == self.me:  # your own /join or /dm says so already
            return
        who = render.display_name(by)
        if room.get("kind") == "dm":
            other = render.sanitize(str(by.get("username") or ""))
            self.ui.info(f"{who} started a direct conversation with you (/dm {other} to open it).")
        else:
            self.ui.info(f"{who} added you to #{render.sanitize(name)} (/join {name} to open it).")

    async def _on_mention(self, frame: Frame) -> None:
        """Someone named us, in this room or another one: say so (the line itself shows it
        highlighted when it is the room on screen)."""
        item = frame.get("message") or {}
        room_id = frame.get("room_id")
        if self._view(room_id) is not None:
            return
        who = render.display_name(item.get("author") or {})
        where = self._titles.get(room_id) if isinstance(room_id, int) else None
        place = where or "a room you were just added to"
        preview = render.sanitize(str(item.get("body") or ""))[:80]
        self.ui.show([("class:mention", f"@ {who} mentioned you in {place}:"), ("", f" {preview}")])

    async def _on_room_left(self, frame: Frame) -> None:
        room_id, by = int(frame["room_id"]), frame.get("by") or {}
        name = self._rooms.pop(room_id, None)
        if self._view(room_id) is not None:
            await self._on_room_gone(frame)
        elif name is not None and by.get("id") != self.me:
            who, room = render.display_name(by), render.sanitize(name)
            reason = frame.get("reason")
            self.ui.info(
                f"{who} deleted #{room}."
                if reason == "deleted"
                else f"{who} removed you from #{room}."
            )

    # Helpers ----------------------------------------------------------------------------

    async def open_room(self, room: Room) -> None:
        page, has_more = await self.api.history(int(room["id"]), limit=HISTORY_ON_OPEN)
        view = RoomView.of(room, me_username=self.me_username)
        self.current = view
        lines = [render.room_header(room)]
        if has_more:
            lines.append(render.system("Earlier messages: /history"))
        elif not page:
            lines.append(render.system("No messages yet."))
        self.ui.show(render.joined(*lines))
        self._display(view, page)
        await self._sync_subscription()
        self.ui.refresh()

    async def _sync_subscription(self) -> None:
        """Make the socket's subscription match the current room."""
        async with self._subscription_lock:
            view = self.current
            wanted = view.id if view is not None else None
            if self._subscribed == wanted:
                return
            previous, self._subscribed = self._subscribed, None
            if previous is not None:
                await self.connection.send({"type": "unsubscribe", "room_id": previous})
            if view is not None:
                frame: dict[str, object] = {
                    "type": "subscribe",
                    "room_id": view.id,
                    "ref": f"subscribe:{view.id}",
                }
                # Once the room's change number is known, resume by it: edits and deletes
                # made while we were away come too, not only new messages.
                if view.last_rev is not None:
                    frame["since_rev"] = view.last_rev
                    view.replay = []
                else:
                    frame["since_seq"] = view.last_seq
                    view.replay = None
                if await self.connection.send(frame):
                    self._subscribed = view.id

    async def _catch_up(self, view: RoomView, upto: int) -> None:
        """More was missed than the server replays: fetch the rest over REST."""
        self.ui.info(f"Fetching {upto - view.last_seq} more missed messages...")
        while view.last_seq < upto:
            page, has_more = await self.api.history(
                view.id, after_seq=view.last_seq, limit=HISTORY_PAGE_MAX
            )
            self._display(view, page)
            if not page or not has_more:
                break

    async def _catch_up_changes(self, view: RoomView, after_rev: int, upto_seq: int) -> None:
        """More changes were missed than the server replays: page the rest over REST (live
        frames keep coming; what they already showed is not shown again as new)."""
        missed = upto_seq - view.last_seq
        self.ui.info(
            f"Fetching {missed} more missed messages..."
            if missed > 0
            else "Fetching more missed changes..."
        )
        changed: list[Message] = []
        while True:
            page, after_rev, has_more = await self.api.changes(view.id, after_rev=after_rev)
            changed += page
            if not page or not has_more:
                break
        # New messages first, in seq order (the pages come in rev order), then the changes.
        shown = view.last_seq
        self._display(view, sorted((i for i in changed if int(i["seq"]) > shown), key=_seq))
        for item in changed:
            if int(item["seq"]) <= shown:
                self._show_change(view, item)

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
        if view is None or view.last_seq <= view.read_seq or self._subscribed != view.id:
            return
        frame = {"type": "read", "room_id": view.id, "seq": view.last_seq}
        if await self.connection.send(frame):
            view.read_seq = view.last_seq

    async def _resend(self, pending: Pending) -> None:
        if self.outbox.get(pending.client_id) is pending:
            await self.connection.send(pending.frame())

    def _typing(self) -> None:
        view, now = self.current, time.monotonic()
        if view is None or self._subscribed != view.id:
            return
        if now - self._typing_sent >= TYPING_SEND_INTERVAL:
            self._typing_sent = now
            self._spawn(self.connection.send({"type": "typing", "room_id": view.id}))

    async def fetch_rooms(self) -> list[Room]:
        rooms = await self.api.list_rooms()
        self._rooms = {int(room["id"]): str(room["name"]) for room in rooms}
        self._titles = {int(room["id"]): render.room_title(room) for room in rooms}
        return rooms

    def _view(self, room_id: object) -> RoomView | None:
        view = self.current
        return view if view is not None and view.id == room_id else None

    def require_room(self) -> RoomView | None:
        if self.current is None:
            self.ui.error(NO_ROOM)
        return self.current

    def subscribed_to(self, view: RoomView) -> bool:
        return self._subscribed == view.id

    def forget(self, view: RoomView, message: str) -> None:
        if self.current is view:
            self.current = None
            self.ui.info(message.format(render.sanitize(view.name)))
            self.ui.refresh()

    def _later(self, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        async def wait_then() -> None:
            await asyncio.sleep(delay)
            await action()

        self._spawn(wait_then())

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
        if self.outbox:
            parts.append(f"{len(self.outbox)} unsent")
        typing = view.typing_now() if view is not None else ""
        if typing:
            parts.append(typing)
        return "  |  ".join(parts)


def _text(item: Message) -> tuple[object, object]:
    """What an edit changes (reactions and replies change a message too, not its text)."""
    return item.get("body"), item.get("edited_at")


def _seq(item: Message) -> int:
    return int(item.get("seq") or 0)
