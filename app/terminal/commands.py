"""What a typed line means: a message to send or a slash command. Parsing only."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HISTORY = 20
MAX_HISTORY = 200
MAX_BODY = 4000


class CommandError(ValueError):
    """The line is not a valid command; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class Say:
    body: str


@dataclass(frozen=True, slots=True)
class Rooms:
    pass


@dataclass(frozen=True, slots=True)
class Join:
    name: str


@dataclass(frozen=True, slots=True)
class Create:
    name: str
    private: bool = False


@dataclass(frozen=True, slots=True)
class Leave:
    pass


@dataclass(frozen=True, slots=True)
class Who:
    pass


@dataclass(frozen=True, slots=True)
class History:
    count: int = DEFAULT_HISTORY


@dataclass(frozen=True, slots=True)
class React:
    number: int
    emoji: str


@dataclass(frozen=True, slots=True)
class Reply:
    number: int
    body: str


@dataclass(frozen=True, slots=True)
class Thread:
    number: int


@dataclass(frozen=True, slots=True)
class DirectMessage:
    username: str


@dataclass(frozen=True, slots=True)
class Search:
    query: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Logout:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Action = (
    Say
    | Rooms
    | Join
    | Create
    | Leave
    | Who
    | History
    | React
    | Reply
    | Thread
    | DirectMessage
    | Search
    | Help
    | Logout
    | Quit
)

MAX_EMOJI = 32  # code points, as the server allows
MAX_QUERY = 200

# name: (usage, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "rooms": ("/rooms", "list rooms with your role and unread counts"),
    "join": ("/join NAME", "join a public room if needed, open it and show recent messages"),
    "create": ("/create NAME [private]", "create a room (public unless `private`) and open it"),
    "leave": ("/leave", "leave the current room"),
    "who": ("/who", "who is online in the current room"),
    "history": ("/history [N]", f"show N earlier messages (default {DEFAULT_HISTORY})"),
    "react": (
        "/react N EMOJI",
        "add EMOJI to message N (the number before it), or take it back",
    ),
    "reply": ("/reply N TEXT", "reply to message N in its thread"),
    "thread": ("/thread N", "show message N's thread: the message and its replies"),
    "dm": ("/dm USER", "open your direct conversation with USER (started if new)"),
    "search": ("/search QUERY", "find messages of the current room (best match first)"),
    "help": ("/help", "this list"),
    "logout": ("/logout", "end the session here and forget the saved login"),
    "quit": ("/quit", "leave parley chat (Ctrl-D works too)"),
}
ALIASES = {
    "exit": "quit",
    "q": "quit",
    "j": "join",
    "list": "rooms",
    "h": "help",
    "?": "help",
    "msg": "dm",
    "r": "reply",
}


def help_text() -> str:
    width = max(len(usage) for usage, _ in COMMANDS.values())
    lines = [f"  {usage:<{width}}  {summary}" for usage, summary in COMMANDS.values()]
    lines.append(f"  {'//text':<{width}}  send a line that starts with /")
    return "Commands:\n" + "\n".join(lines)


def parse(line: str) -> Action | None:
    """None for a blank line; raises CommandError for a malformed command."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("//"):
        return _say(text[1:])
    if not text.startswith("/"):
        return _say(text)
    word, _, rest = text[1:].partition(" ")
    name = ALIASES.get(word.lower(), word.lower())
    args = rest.split()
    if name not in COMMANDS:
        raise CommandError(f"Unknown command /{word}. Type /help for the list.")
    usage = COMMANDS[name][0]
    if name == "join":
        if len(args) != 1:
            raise CommandError(f"Usage: {usage}")
        return Join(args[0].lstrip("#"))
    if name == "create":
        if not 1 <= len(args) <= 2 or (len(args) == 2 and args[1].lower() not in _VISIBILITY):
            raise CommandError(f"Usage: {usage}")
        return Create(args[0].lstrip("#"), private=len(args) == 2 and args[1].lower() == "private")
    if name == "history":
        return History(_count(args, usage))
    if name == "react":
        if len(args) != 2 or not args[0].isdigit() or len(args[1]) > MAX_EMOJI:
            raise CommandError(f"Usage: {usage}")
        return React(int(args[0]), args[1])
    if name == "reply":
        number, _, body = rest.strip().partition(" ")
        if not number.isdigit() or not body.strip():
            raise CommandError(f"Usage: {usage}")
        return Reply(int(number), _say(body.strip()).body)
    if name == "thread":
        if len(args) != 1 or not args[0].isdigit():
            raise CommandError(f"Usage: {usage}")
        return Thread(int(args[0]))
    if name == "dm":
        if len(args) != 1 or not args[0].lstrip("@"):
            raise CommandError(f"Usage: {usage}")
        return DirectMessage(args[0].lstrip("@"))
    if name == "search":
        query = rest.strip()
        if not query or len(query) > MAX_QUERY:
            raise CommandError(f"Usage: {usage} (1 to {MAX_QUERY} characters)")
        return Search(query)
    if args:
        raise CommandError(f"Usage: {usage}")
    return _SIMPLE[name]


def _say(body: str) -> Say:
    if len(body) > MAX_BODY:
        raise CommandError(f"That message is {len(body)} characters; the limit is {MAX_BODY}.")
    return Say(body)


def _count(args: list[str], usage: str) -> int:
    if not args:
        return DEFAULT_HISTORY
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_HISTORY:
        raise CommandError(f"Usage: {usage} (N from 1 to {MAX_HISTORY})")
    return int(args[0])


_VISIBILITY = ("private", "public")
_SIMPLE: dict[str, Action] = {
    "rooms": Rooms(),
    "leave": Leave(),
    "who": Who(),
    "help": Help(),
    "logout": Logout(),
    "quit": Quit(),
}
