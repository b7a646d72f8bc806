"""Server data as terminal text: inert, aligned, in local time.

Everything here takes the protocol's models (`app.client.models`), returns prompt_toolkit
fragments (`(style, text)` pairs) and has no side effects. Every string that came from the
server passes through `sanitize`, so a message, a display name or a topic can never move
the cursor, change colours or retitle the window.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from datetime import date, datetime

from app.client.models import Message, Room, User

Fragments = list[tuple[str, str]]

# C0 controls but newline, DEL, C1 controls; then the invisible characters that reorder or
# hide text (bidi overrides and isolates, line/paragraph separators).
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_INVISIBLE = re.compile("[\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
AUTHOR_STYLES = ("ansicyan", "ansigreen", "ansiyellow", "ansimagenta", "ansiblue", "ansired")


def _caret(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x09:
        return "    "
    if code == 0x7F:
        return "^?"
    if code >= 0x80:  # C1, in `cat -v` notation
        return "M-^" + chr(code - 0x80 + 0x40)
    return "^" + chr(code + 0x40)


def sanitize(text: str, *, multiline: bool = False) -> str:
    """Control characters become visible caret notation (ESC is `^[`), tabs spaces and
    invisible reordering characters `<U+202E>`; newlines stay only if `multiline`."""
    text = text.replace("\r\n", "\n")
    if not multiline:
        text = text.replace("\n", " ")
    text = _CONTROL.sub(_caret, text)
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def local(value: datetime) -> datetime:
    """A timestamp from the server, in local time."""
    return value.astimezone()


def clock(value: datetime) -> str:
    return local(value).strftime("%H:%M")


def display_name(user: User | None) -> str:
    if user is None:
        return "someone"
    return sanitize(user.display_name or user.username or "someone")


def author_style(user: User, me_id: int | None) -> str:
    if user.id == me_id:
        return "class:me"
    palette = AUTHOR_STYLES[zlib.crc32(str(user.id).encode()) % len(AUTHOR_STYLES)]
    return f"class:author {palette}"


# A mention as the server reads one: `@` not after a letter, digit, `_`, `.`, `-` or `@`.
_MENTION = re.compile(r"(?<![\w.\-@])@([A-Za-z0-9_.\-]+)")


def message(
    item: Message,
    *,
    me_id: int | None,
    note: str = "",
    numbered: bool = False,
    me_username: str | None = None,
    reply_to: str | None = None,
) -> Fragments:
    """`[HH:MM] Name: body`, with `(edited)` / `(deleted)` marks; continuation lines of a
    multi-line body are indented under the first. `numbered` puts the message's number (its
    `seq`, what /react, /reply and /thread take) in front; `reply_to` says which message a
    reply answers; mentions of `me_username` are highlighted; reactions and the number of
    replies follow on a line of their own."""
    author = item.author
    name = display_name(author)
    number = f"{item.seq:>3} " if numbered else ""
    head = f"[{clock(item.created_at)}] "
    fragments: Fragments = []
    if number:
        fragments.append(("class:number", number))
    fragments += [
        ("class:time", head),
        (author_style(author, me_id), name),
    ]
    if reply_to:
        fragments.append(("class:note", f" (reply to {reply_to})"))
    if note:
        fragments.append(("class:note", f" ({note})"))
    if item.deleted:
        fragments.append(("class:deleted", " (message deleted)"))
        return fragments
    fragments.append(("", ": "))
    indent = " " * (len(number) + len(head) + len(name) + 2)
    mentions_me = me_id is not None and me_id in item.mentions
    lines = sanitize(item.body, multiline=True).split("\n")
    for index, line in enumerate(lines):
        text = line if index == 0 else f"\n{indent}{line}"
        if mentions_me and me_username:
            fragments += _highlight(text, me_username)
        else:
            fragments.append(("class:body", text))
    if item.edited_at and not note:
        fragments.append(("class:note", " (edited)"))
    summary = extras(item)
    if summary:
        fragments.append(("class:extras", f"\n{' ' * len(number + head)}{summary}"))
    return fragments


def _highlight(text: str, username: str) -> Fragments:
    """`text` with each mention of `username` in the mention style."""
    out: Fragments = []
    last = 0
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".-")
        if name.casefold() != username.casefold():
            continue
        out.append(("class:body", text[last : match.start()]))
        out.append(("class:mention", "@" + name))
        last = match.start() + 1 + len(name)
    out.append(("class:body", text[last:]))
    return [fragment for fragment in out if fragment[1]]


def reactions(item: Message) -> str:
    """`👍 2  :shipit: 1`: each emoji on the message and how many used it."""
    return "  ".join(f"{sanitize(r.emoji)} {r.count}" for r in item.reactions)


def extras(item: Message) -> str:
    """What goes under a message: its reactions, and how many replies it has."""
    if item.deleted:
        return ""
    parts = []
    shown = reactions(item)
    if shown:
        parts.append(shown)
    count = item.reply_count
    if count:
        replies = "1 reply" if count == 1 else f"{count} replies"
        parts.append(f"{replies} (/thread {item.seq})")
    return "  ·  ".join(parts)


def earlier_messages(
    items: list[Message],
    *,
    me_id: int | None,
    room_name: str,
    has_more: bool,
    line: Callable[[Message], Fragments] | None = None,
) -> Fragments:
    """A page of older history, framed so it reads apart from the live conversation
    (`line` draws each message, as the room on screen does)."""
    lines = [system(f"{len(items)} earlier messages in #{sanitize(room_name)}:")]
    day: date | None = None
    for item in items:
        if local(item.created_at).date() != day:
            day = local(item.created_at).date()
            lines.append(day_separator(day))
        lines.append(line(item) if line else message(item, me_id=me_id))
    more = "/history shows more" if has_more else "that was the beginning"
    lines.append(system(f"end of earlier messages ({more})"))
    return joined(*lines)


def thread(
    root: Message | None,
    replies: list[Message],
    *,
    me_id: int | None,
    me_username: str | None,
    has_more: bool,
) -> Fragments:
    """A thread: its first message, then its replies, framed apart from the room."""
    count = len(replies)
    lines = [system(f"Thread ({count} {'reply' if count == 1 else 'replies'}):")]
    if root is not None:
        lines.append(message(root, me_id=me_id, numbered=True, me_username=me_username))
    for item in replies:
        line = message(item, me_id=me_id, numbered=True, me_username=me_username)
        lines.append([("", "    "), *line])
    if not replies:
        lines.append(system("No replies yet: /reply N TEXT starts them."))
    lines.append(system("end of thread" + (" (more replies not shown)" if has_more else "")))
    return joined(*lines)


def search_results(
    items: list[Message], *, query: str, me_id: int | None, me_username: str | None
) -> Fragments:
    """Search hits, best first, each with its date and number."""
    if not items:
        return system(f"Nothing matches {sanitize(query)!r}.")
    lines = [system(f"{len(items)} found for {sanitize(query)!r} (best first):")]
    for item in items:
        day = local(item.created_at).strftime("%d %b %Y")
        line = message(item, me_id=me_id, numbered=True, me_username=me_username)
        lines.append([("class:time", f"{day} "), *line])
    return joined(*lines)


def day_separator(day: date) -> Fragments:
    return [("class:system", f"--- {day.strftime('%A %d %B %Y')} ---")]


def system(text: str) -> Fragments:
    """A line from the client itself (sanitized again all the same: it quotes names)."""
    return [("class:system", f"* {sanitize(text, multiline=True)}")]


def error(text: str) -> Fragments:
    return [("class:error", f"! {sanitize(text)}")]


def presence(user: User, status: str, room_name: str) -> Fragments:
    verb = "came online in" if status == "online" else "went offline from"
    return system(f"{display_name(user)} {verb} #{sanitize(room_name)}")


def typing_line(names: Iterable[str]) -> str:
    names = sorted(names)
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing..."
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing..."
    return f"{len(names)} people are typing..."


def room_title(room: Room) -> str:
    """`#name` for a room; `@username` for a direct message (its own name is not shown)."""
    other = room.dm_with if room.kind == "dm" else None
    if other is not None and other.username:
        return "@" + sanitize(other.username)
    return "#" + sanitize(room.name)


def room_header(room: Room) -> Fragments:
    topic = sanitize(room.topic or "")
    text = f"--- {room_title(room)}" + (f": {topic}" if topic else "") + " ---"
    return [("class:header", text)]


def room_list(
    rooms: list[Room], current_id: int | None, *, all_read: int | None = None
) -> Fragments:
    """One line per room: current mark, name, your role or `not joined`, unread, topic
    (`all_read`: a room whose messages are all on screen, though our read marker may
    still be on its way)."""
    if not rooms:
        return system("No rooms yet. Create one with /create NAME")
    width = max(len(room_title(r)) for r in rooms)
    fragments: Fragments = [("class:system", "Rooms:")]
    for room in sorted(rooms, key=lambda r: room_title(r).casefold()):
        mark = "*" if room.id == current_id else " "
        name = room_title(room)
        role: str = room.role or "not joined"
        if room.visibility == "private":
            role += ", private"
        unread = room.unread_count
        if unread is not None and room.id == all_read:
            unread = 0
        fragments.append(("", f"\n {mark} {name:<{width + 1}} {role:<18}"))
        if unread is not None:  # members only
            fragments.append(("class:unread" if unread else "", f"{unread:>4} unread"))
        else:
            fragments.append(("", " " * 11))
        mentions = room.mention_count
        if mentions:
            fragments.append(("class:mention", f" {mentions} @you"))
        topic = sanitize(room.topic or "")
        if topic:
            fragments.append(("class:system", f"  {topic}"))
    if current_id is None:
        fragments.append(("class:system", "\n* Open one with /join NAME."))
    return fragments


def who(users: list[User], room_name: str) -> Fragments:
    names = sorted((display_name(u) for u in users), key=str.casefold)
    if not names:
        return system(f"Nobody is online in #{sanitize(room_name)}.")
    return system(f"Online in #{sanitize(room_name)} ({len(names)}): " + ", ".join(names))


def joined(*lines: Fragments) -> Fragments:
    """Several lines as one block (printed at once, so nothing interleaves with it)."""
    out: Fragments = []
    for index, line in enumerate(lines):
        if index:
            out.append(("", "\n"))
        out.extend(line)
    return out


def plain(fragments: Fragments) -> str:
    return "".join(text for _style, text in fragments)
