"""What a typed line means."""

from __future__ import annotations

import pytest

from app.terminal.commands import (
    MAX_BODY,
    CommandError,
    Create,
    DirectMessage,
    Help,
    History,
    Join,
    Leave,
    Logout,
    Quit,
    React,
    Reply,
    Rooms,
    Say,
    Search,
    Thread,
    Who,
    help_text,
    parse,
)


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("hello there", Say("hello there")),
        ("  padded  ", Say("padded")),
        ("//shrug", Say("/shrug")),
        ("/rooms", Rooms()),
        ("/ROOMS", Rooms()),
        ("/join tea", Join("tea")),
        ("/join #tea", Join("tea")),
        ("/j tea", Join("tea")),
        ("/create den", Create("den", private=False)),
        ("/create den private", Create("den", private=True)),
        ("/create den PUBLIC", Create("den", private=False)),
        ("/leave", Leave()),
        ("/who", Who()),
        ("/history", History(20)),
        ("/history 5", History(5)),
        ("/help", Help()),
        ("/?", Help()),
        ("/logout", Logout()),
        ("/quit", Quit()),
        ("/exit", Quit()),
        ("/react 12 👍", React(12, "👍")),
        ("/react 3 :shipit:", React(3, ":shipit:")),
        ("/reply 12 sure,  see you", Reply(12, "sure,  see you")),
        ("/r 4 ok", Reply(4, "ok")),
        ("/thread 12", Thread(12)),
        ("/dm bob", DirectMessage("bob")),
        ("/dm @bob", DirectMessage("bob")),
        ("/msg bob", DirectMessage("bob")),
        ("/search quarterly  budget", Search("quarterly  budget")),
    ],
)
def test_lines_and_commands(line: str, action: object) -> None:
    assert parse(line) == action


def test_blank_lines_do_nothing() -> None:
    assert parse("") is None
    assert parse("   ") is None


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("/join", "Usage: /join NAME"),
        ("/join a b", "Usage: /join NAME"),
        ("/create", "Usage: /create NAME [private]"),
        ("/create den secret", "Usage: /create NAME [private]"),
        ("/history x", "Usage: /history [N] (N from 1 to 200)"),
        ("/history 0", "Usage: /history [N]"),
        ("/history 201", "Usage: /history [N]"),
        ("/who me", "Usage: /who"),
        ("/react 12", "Usage: /react N EMOJI"),
        ("/react x 👍", "Usage: /react N EMOJI"),
        ("/react 1 " + "a" * 33, "Usage: /react N EMOJI"),
        ("/reply 12", "Usage: /reply N TEXT"),
        ("/reply twelve hi", "Usage: /reply N TEXT"),
        ("/reply 1 " + "x" * (MAX_BODY + 1), f"the limit is {MAX_BODY}"),
        ("/thread", "Usage: /thread N"),
        ("/thread 1 2", "Usage: /thread N"),
        ("/dm", "Usage: /dm USER"),
        ("/dm @", "Usage: /dm USER"),
        ("/search", "Usage: /search QUERY"),
        ("/search " + "q" * 201, "Usage: /search QUERY"),
        ("/dance", "Unknown command /dance. Type /help for the list."),
        ("x" * (MAX_BODY + 1), f"the limit is {MAX_BODY}"),
    ],
)
def test_malformed_commands_say_how_to_write_them(line: str, complaint: str) -> None:
    with pytest.raises(CommandError) as error:
        parse(line)
    assert complaint in str(error.value)


def test_help_lists_every_command() -> None:
    text = help_text()
    for command in ("/rooms", "/join", "/create", "/leave", "/who", "/history", "/quit"):
        assert command in text
