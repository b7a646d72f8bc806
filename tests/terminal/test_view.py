"""The room on screen prints each message once, in order, however the copies arrive."""

from __future__ import annotations

from app.client.models import Message
from app.terminal import render
from app.terminal.view import RoomView
from tests.terminal.test_render import user

BOB = user(2, "bob", "Bob")


def message(seq: int, day: int = 1, rev: int | None = None, body: str = "") -> Message:
    return Message.model_validate(
        {
            "id": 100 + seq,
            "room_id": 1,
            "seq": seq,
            "rev": rev or seq,
            "author": BOB,
            "body": body or f"message {seq}",
            "created_at": f"2026-03-{day:02d}T12:00:00Z",
            "edited_at": None,
            "deleted": False,
            "client_id": None,
        }
    )


def shown(view: RoomView, seqs: list[int], day: int = 1) -> list[str]:
    text = render.plain(view.take_new([message(s, day) for s in seqs], me_id=1))
    return [line.split(": ", 1)[1] for line in text.split("\n") if ": " in line]


def test_history_replay_and_live_overlap_without_repeats() -> None:
    view = RoomView(id=1, name="tea")
    assert shown(view, [1, 2, 3]) == ["message 1", "message 2", "message 3"]  # history
    assert shown(view, [3, 4]) == ["message 4"]  # resume replay overlaps
    assert shown(view, [2, 4, 5, 6]) == ["message 5", "message 6"]  # REST catch-up
    assert shown(view, [6]) == []  # the live copy of what the catch-up showed
    assert (view.oldest_seq, view.last_seq) == (1, 6)


def test_a_new_day_gets_a_separator_once() -> None:
    view = RoomView(id=1, name="tea")
    first = render.plain(view.take_new([message(1, day=1), message(2, day=1)], me_id=1))
    assert first.count("---") == 2  # one separator line: "--- <day> ---"
    second = render.plain(view.take_new([message(3, day=2)], me_id=1))
    assert second.startswith("--- ")


def test_a_message_ends_its_authors_typing_and_is_remembered() -> None:
    view = RoomView(id=1, name="tea")
    view.set_typing(BOB, seconds=10)
    assert view.typing_now() == "Bob is typing..."
    shown(view, [1])
    assert view.typing_now() == ""
    assert view.authors[1] == "Bob"


def test_presence_updates_who_is_online() -> None:
    view = RoomView(id=1, name="tea")
    view.set_presence(BOB, "online")
    assert list(view.online) == [2]
    view.set_typing(BOB, seconds=10)
    view.set_presence(BOB, "offline")
    assert view.online == {}
    assert view.typing_now() == ""


def test_a_remembered_message_keeps_its_newest_state() -> None:
    view = RoomView(id=1, name="tea")
    shown(view, [1])
    assert view.remember(message(1, rev=5, body="edited")) is not None
    assert view.remember(message(1, rev=3, body="stale")) is not None  # older: ignored
    assert view.known[1].body == "edited"
    assert view.by_id(101) is view.known[1]
