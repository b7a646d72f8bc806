"""Rendering server data as terminal text: inert, aligned, in local time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.client.models import Message, Room, User
from app.terminal import render

CREATED = "2026-03-01T00:00:00Z"


def user(id: int, username: str, display_name: str) -> User:
    return User(id=id, username=username, display_name=display_name, created_at=CREATED)  # type: ignore[arg-type]


ALICE = user(1, "alice", "Alice")


def message(**changes: object) -> Message:
    item: dict[str, object] = {
        "id": 7,
        "room_id": 1,
        "seq": 3,
        "rev": 3,
        "author": ALICE,
        "body": "hello",
        "created_at": "2026-03-01T12:34:56.789Z",
        "edited_at": None,
        "deleted": False,
        "client_id": None,
    }
    item.update(changes)
    return Message.model_validate(item)


def room(**changes: object) -> Room:
    fields: dict[str, object] = {
        "id": 1,
        "name": "tea",
        "topic": "",
        "visibility": "public",
        "created_by": 1,
        "created_at": CREATED,
        "last_seq": 0,
        "last_rev": 0,
        "role": "member",
        "unread_count": 0,
        "last_read_seq": 0,
    }
    fields.update(changes)
    return Room.model_validate(fields)


def local_clock(value: str) -> str:
    return datetime.fromisoformat(value).astimezone().strftime("%H:%M")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "^[[31mred^[[0m"),
        ("title\x1b]0;pwned\x07", "title^[]0;pwned^G"),
        ("back\x08\x08\x7f", "back^H^H^?"),
        ("carriage\rreturn", "carriage^Mreturn"),
        ("c1 \x9b2J \x85", "c1 M-^[2J M-^E"),
        ("bidi \u202eevil\u2066", "bidi <U+202E>evil<U+2066>"),
        ("tab\there", "tab    here"),
        ("plain, accents é and emoji 🎉", "plain, accents é and emoji 🎉"),
    ],
)
def test_control_characters_are_shown_inert(text: str, shown: str) -> None:
    assert render.sanitize(text) == shown


def test_newlines_survive_only_where_lines_may_break() -> None:
    assert render.sanitize("one\r\ntwo\nthree", multiline=True) == "one\ntwo\nthree"
    assert render.sanitize("one\ntwo") == "one two"


def test_a_message_line_has_local_time_author_and_body() -> None:
    line = render.plain(render.message(message(), me_id=2))
    assert line == f"[{local_clock('2026-03-01T12:34:56.789+00:00')}] Alice: hello"


def test_edited_and_deleted_messages_are_marked() -> None:
    edited = message(edited_at="2026-03-01T12:40:00Z", body="hello again")
    assert render.plain(render.message(edited, me_id=2)).endswith("Alice: hello again (edited)")
    deleted = message(deleted=True, body="")
    assert render.plain(render.message(deleted, me_id=2)).endswith("Alice (message deleted)")
    update = render.message(edited, me_id=2, note="edited")
    assert render.plain(update).endswith("Alice (edited): hello again")


def test_a_multiline_body_is_indented_under_the_first_line() -> None:
    line = render.plain(render.message(message(body="first\nsecond"), me_id=2))
    first, second = line.split("\n")
    assert first.endswith("Alice: first")
    assert second == " " * (len(first) - len("first")) + "second"


def test_names_from_the_server_are_sanitized_too() -> None:
    mallory = user(3, "mallory", "Mal\x1b[2Jlory\nEve")
    line = render.plain(render.message(message(author=mallory), me_id=2))
    assert "\x1b" not in line
    assert "Mal^[[2Jlory Eve: hello" in line
    assert "\x1b" not in render.plain(render.room_header(room(name="x", topic="\x1b[5m")))


def test_your_own_messages_have_their_own_style() -> None:
    assert render.message(message(), me_id=1)[1][0] == "class:me"
    assert render.message(message(), me_id=2)[1][0].startswith("class:author")


def test_room_list_shows_role_unread_and_the_current_room() -> None:
    rooms = [
        room(id=1, name="tea", topic="Party", role="owner", unread_count=2),
        room(id=2, name="Garden", role=None, unread_count=None),
        room(id=3, name="den", visibility="private", role="member", unread_count=4),
    ]
    lines = render.plain(render.room_list(rooms, current_id=1)).split("\n")
    assert lines[0] == "Rooms:"
    assert lines[1].split() == ["#den", "member,", "private", "4", "unread"]
    assert lines[2].split() == ["#Garden", "not", "joined"]
    assert lines[3].split() == ["*", "#tea", "owner", "2", "unread", "Party"]
    # The room on screen with every message shown counts as read (our marker may lag).
    lines = render.plain(render.room_list(rooms, current_id=1, all_read=1)).split("\n")
    assert lines[3].split() == ["*", "#tea", "owner", "0", "unread", "Party"]


def test_who_and_typing() -> None:
    bob = user(2, "bob", "bob")
    assert render.plain(render.who([bob, ALICE], "tea")) == "* Online in #tea (2): Alice, bob"
    assert render.typing_line([]) == ""
    assert render.typing_line(["Bob"]) == "Bob is typing..."
    assert render.typing_line(["Bob", "Alice"]) == "Alice and Bob are typing..."
    assert render.typing_line(["a", "b", "c"]) == "3 people are typing..."


def test_presence_lines() -> None:
    assert render.plain(render.presence(ALICE, "online", "tea")) == "* Alice came online in #tea"
    assert render.plain(render.presence(ALICE, "offline", "tea")) == (
        "* Alice went offline from #tea"
    )


def test_times_are_shown_in_local_time() -> None:
    stamp = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert render.clock(stamp) == stamp.astimezone().strftime("%H:%M")


def test_a_numbered_message_shows_its_number_reply_and_what_is_under_it() -> None:
    item = message(
        seq=12,
        reply_to=5,
        reactions=[
            {"emoji": "👍", "count": 2, "user_ids": [1, 2]},
            {"emoji": ":ok:", "count": 1, "user_ids": [2]},
        ],
        reply_count=0,
    )
    first, under = render.plain(render.message(item, me_id=2, numbered=True, reply_to="5")).split(
        "\n"
    )
    clock = local_clock("2026-03-01T12:34:56.789+00:00")
    assert first == f" 12 [{clock}] Alice (reply to 5): hello"
    assert under == " " * len(f" 12 [{clock}] ") + "👍 2  :ok: 1"
    root = message(seq=5, reply_count=3)
    assert render.plain(render.message(root, me_id=2)).endswith(
        "hello\n" + " " * 8 + "3 replies (/thread 5)"
    )
    assert render.extras(message(deleted=True, reply_count=3)) == ""


def test_mentions_of_you_are_highlighted_only_when_they_are_you() -> None:
    item = message(body="hi @Bob, and @bobby and mail bob@example.com.", mentions=[2])
    fragments = render.message(item, me_id=2, me_username="bob")
    assert [text for style, text in fragments if style == "class:mention"] == ["@Bob"]
    assert render.plain(fragments).endswith("hi @Bob, and @bobby and mail bob@example.com.")
    not_me = render.message(message(body="hi @bob", mentions=[3]), me_id=2, me_username="bob")
    assert all(style != "class:mention" for style, _ in not_me)


def test_a_direct_message_is_titled_by_the_other_person() -> None:
    dm = room(id=4, name="dm-1-2", kind="dm", dm_with=user(2, "bob", "Bob"))
    assert render.room_title(dm) == "@bob"
    assert render.plain(render.room_header(dm)) == "--- @bob ---"
    assert render.room_title(room(id=1, name="tea", kind="room", dm_with=None)) == "#tea"
