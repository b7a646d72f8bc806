"""The room on screen: what has been shown of it, who is there, who is typing.

`take_new` is the one place that decides what gets printed: only messages newer than the
newest shown, in order. So the initial history, a replay, a REST catch-up and the live
stream may overlap freely and each message still appears exactly once. `last_rev` is the
room's change number up to which the subscription delivered every change: a reconnect
resumes after it (`since_rev`), so edits and deletes made meanwhile are shown too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.terminal import render

REMEMBERED_AUTHORS = 500

Message = dict[str, Any]


@dataclass
class RoomView:
    id: int
    name: str
    topic: str = ""
    last_seq: int = 0  # newest seq shown
    oldest_seq: int | None = None  # oldest seq shown (where /history continues)
    read_seq: int = 0  # newest read marker sent
    last_rev: int | None = None  # every change up to it came; None before a subscription
    # New messages of a resume by rev, held until `subscribed`: the replay comes in rev
    # order, so a message created while we were away and edited since comes after newer ones.
    replay: list[dict[str, Any]] | None = None
    last_day: date | None = None
    online: dict[int, dict[str, Any]] = field(default_factory=dict)
    typing: dict[int, tuple[str, float]] = field(default_factory=dict)  # user: (name, until)
    authors: dict[int, str] = field(default_factory=dict)  # seq: who wrote it

    @classmethod
    def of(cls, room: dict[str, Any]) -> RoomView:
        return cls(id=int(room["id"]), name=str(room["name"]), topic=str(room.get("topic") or ""))

    def take_new(self, items: list[Message], *, me_id: int) -> render.Fragments:
        """The lines for messages not shown yet (with day separators); marks them shown."""
        lines: list[render.Fragments] = []
        for item in items:
            seq = int(item["seq"])
            if seq <= self.last_seq:
                continue  # already shown: the replay and the live stream overlap
            day = render.parse_time(item["created_at"]).date()
            if day != self.last_day:
                self.last_day = day
                lines.append(render.day_separator(day))
            lines.append(render.message(item, me_id=me_id))
            self.last_seq = seq
            if self.oldest_seq is None:
                self.oldest_seq = seq
            self.typing.pop(int((item.get("author") or {}).get("id") or 0), None)
            self.remember_author(item)
        return render.joined(*lines)

    def saw_rev(self, rev: object) -> None:
        """A change the subscription delivered (they come in rev order)."""
        if isinstance(rev, int) and not isinstance(rev, bool):
            self.last_rev = rev if self.last_rev is None else max(self.last_rev, rev)

    def remember_author(self, item: Message) -> None:
        """Kept for a while, to say whose message a `message.deleted` was about."""
        self.authors[int(item["seq"])] = render.display_name(item.get("author") or {})
        if len(self.authors) > REMEMBERED_AUTHORS:
            del self.authors[min(self.authors)]

    def set_typing(self, user: dict[str, Any], seconds: float) -> None:
        self.typing[int(user["id"])] = (render.display_name(user), time.monotonic() + seconds)

    def typing_now(self) -> str:
        now = time.monotonic()
        return render.typing_line(name for name, until in self.typing.values() if until > now)

    def set_presence(self, user: dict[str, Any], status: str) -> None:
        if status == "online":
            self.online[int(user["id"])] = user
        else:
            self.online.pop(int(user["id"]), None)
            self.typing.pop(int(user["id"]), None)
