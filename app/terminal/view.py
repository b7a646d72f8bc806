"""The room on screen: what has been shown of it, who is there, who is typing.

`take_new` is the one place that decides what gets printed: only messages newer than the
newest shown, in order. So the initial history, a replay, a REST catch-up and the live
stream may overlap freely and each message still appears exactly once. (The session,
`app.client.Session`, resumes the subscription by the room's change number after every
reconnect, so edits and deletes made meanwhile arrive too.)

Each message is shown with its number (its `seq`), which /react, /reply and /thread take;
the view remembers the recent ones it showed, to find them by number and to tell an edit
from a reaction or a new reply when a message changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

from app.client.models import Message, Room, User
from app.terminal import render

REMEMBERED = 500  # messages kept per room, by number


@dataclass
class RoomView:
    id: int
    name: str
    topic: str = ""
    last_seq: int = 0  # newest seq shown
    oldest_seq: int | None = None  # oldest seq shown (where /history continues)
    read_seq: int = 0  # newest read marker sent
    # New messages of a resume by rev, held until `subscribed`: the replay comes in rev
    # order, so a message created while we were away and edited since comes after newer ones.
    replay: list[Message] | None = None
    # Changes paged over REST after an incomplete replay, held until the session says it
    # caught up: new messages are then shown in seq order, before the other changes.
    catch_up: list[Message] | None = None
    last_day: date | None = None
    online: dict[int, User] = field(default_factory=dict)
    typing: dict[int, tuple[str, float]] = field(default_factory=dict)  # user: (name, until)
    known: dict[int, Message] = field(default_factory=dict)  # seq: the message as last seen
    title: str = ""  # `#name`, or `@username` for a direct message
    me_username: str | None = None  # mentions of this name are highlighted

    @classmethod
    def of(cls, room: Room, *, me_username: str | None = None) -> RoomView:
        return cls(
            id=room.id,
            name=room.name,
            topic=room.topic or "",
            title=render.room_title(room),
            me_username=me_username,
        )

    @property
    def authors(self) -> dict[int, str]:
        """Who wrote each remembered message (to say whose message was deleted)."""
        return {seq: render.display_name(m.author) for seq, m in self.known.items()}

    def line(self, item: Message, *, me_id: int, note: str = "") -> render.Fragments:
        """One message as shown in this room: numbered, replies saying what they answer."""
        return render.message(
            item,
            me_id=me_id,
            note=note,
            numbered=True,
            me_username=self.me_username,
            reply_to=self.reply_label(item),
        )

    def reply_label(self, item: Message) -> str | None:
        if item.reply_to is None:
            return None
        root = self.by_id(item.reply_to)
        return str(root.seq) if root is not None else "an earlier message"

    def by_id(self, message_id: int) -> Message | None:
        return next((m for m in self.known.values() if m.id == message_id), None)

    def take_new(self, items: list[Message], *, me_id: int) -> render.Fragments:
        """The lines for messages not shown yet (with day separators); marks them shown."""
        lines: list[render.Fragments] = []
        for item in items:
            seq = item.seq
            if seq <= self.last_seq:
                continue  # already shown: the replay and the live stream overlap
            day = render.local(item.created_at).date()
            if day != self.last_day:
                self.last_day = day
                lines.append(render.day_separator(day))
            self.remember(item)
            lines.append(self.line(item, me_id=me_id))
            self.last_seq = seq
            if self.oldest_seq is None:
                self.oldest_seq = seq
            self.typing.pop(item.author.id, None)
        return render.joined(*lines)

    def remember(self, item: Message) -> Message | None:
        """Keep `item` (the newer state, by `rev`); returns the state it replaces."""
        seq = item.seq
        previous = self.known.get(seq)
        if previous is not None and previous.rev > item.rev:
            return previous
        self.known[seq] = item
        if len(self.known) > REMEMBERED:
            del self.known[min(self.known)]
        return previous

    def set_typing(self, user: User, seconds: float) -> None:
        self.typing[user.id] = (render.display_name(user), time.monotonic() + seconds)

    def typing_now(self) -> str:
        now = time.monotonic()
        return render.typing_line(name for name, until in self.typing.values() if until > now)

    def set_presence(self, user: User, status: str) -> None:
        if status == "online":
            self.online[user.id] = user
        else:
            self.online.pop(user.id, None)
            self.typing.pop(user.id, None)
