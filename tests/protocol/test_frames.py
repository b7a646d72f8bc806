"""The hot path's bytes are the models' bytes: for every server frame kind, what
`app/delivery/frames.py` builds equals the `app/protocol` model's `model_dump_json()`,
and parses back into that model. Also: the payload models mirror the REST schemas."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import BaseModel

from app.delivery import frames
from app.messages.schemas import MessageRead
from app.messages.sends import message_json
from app.protocol import payloads, server
from app.protocol.server import parse_server_frame
from app.rooms.models import RoomKind
from app.rooms.schemas import RoomForCaller, RoomRead
from app.users.schemas import UserRead

WHEN = datetime(2026, 11, 21, 10, 2, 0, 123456, tzinfo=UTC)
LATER = datetime(2026, 11, 21, 10, 5, 7, tzinfo=UTC)

ALICE = UserRead(id=1, username="alice", display_name="Alice ✨", created_at=WHEN)
BOB = UserRead(id=2, username="bob", display_name='Bob "the" <b>', created_at=LATER)

PLAIN = MessageRead(
    id=314,
    room_id=7,
    seq=42,
    rev=50,
    author=ALICE,
    body="Hello \u2028 everyone! 👋 <script>",
    created_at=WHEN,
    edited_at=None,
    deleted=False,
    client_id="c-1",
)
RICH = MessageRead(
    id=315,
    room_id=7,
    seq=43,
    rev=53,
    author=BOB,
    body="@alice look 👀",
    created_at=WHEN,
    edited_at=LATER,
    deleted=False,
    client_id=None,
    reactions=[
        {"emoji": "👩‍💻", "count": 2, "user_ids": [1, 2]},
        {"emoji": ":shipit:", "count": 1, "user_ids": [2]},
    ],
    reply_to=300,
    reply_count=0,
    last_reply_at=None,
    mentions=[1],
)
ROOT = RICH.model_copy(update={"reply_to": None, "reply_count": 3, "last_reply_at": LATER})
TOMBSTONE = PLAIN.model_copy(update={"body": "", "deleted": True, "edited_at": LATER})
MESSAGES = [PLAIN, RICH, ROOT, TOMBSTONE]

ROOM = RoomRead(
    id=7,
    name="general",
    topic="Anything goes",
    visibility="public",  # type: ignore[arg-type]
    created_by=1,
    created_at=WHEN,
    last_seq=43,
    last_rev=53,
)
DM_FOR_BOB = RoomForCaller(
    **ROOM.model_dump(exclude={"kind", "visibility"}),
    visibility="private",  # type: ignore[arg-type]
    kind="dm",  # type: ignore[arg-type]
    role="member",  # type: ignore[arg-type]
    unread_count=2,
    last_read_seq=41,
    mention_count=1,
    dm_with=ALICE,
)
JOINED_FOR_BOB = DM_FOR_BOB.model_copy(
    update={"kind": RoomKind.ROOM, "dm_with": None, "mention_count": None, "role": None}
)


def _j(model: BaseModel) -> str:
    return model.model_dump_json()


def _msg(message: MessageRead) -> payloads.Message:
    return payloads.Message.model_validate_json(_j(message))


def _user(user: UserRead) -> payloads.User:
    return payloads.User.model_validate_json(_j(user))


REFS: list[str | int | None] = [None, 7, "r-ü", ""]

# (name, fast-path bytes, the model's frame) for every server frame kind, with and without ref.
Case = tuple[str, Callable[[], str], Callable[[], server.ServerFrame]]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for m in MESSAGES:
        cases += [
            (
                f"message-{m.id}",
                lambda m=m: frames.message(_j(m)),
                lambda m=m: server.MessageFrame(message=_msg(m)),
            ),
            (
                f"message.updated-{m.id}",
                lambda m=m: frames.message_updated(_j(m)),
                lambda m=m: server.MessageUpdated(message=_msg(m)),
            ),
            (
                f"mention-{m.id}",
                lambda m=m: frames.mention(room_id=m.room_id, message_json=_j(m)),
                lambda m=m: server.Mention(room_id=m.room_id, message=_msg(m)),
            ),
        ]
        for ref in REFS:
            cases += [
                (
                    f"ack-{m.id}-{ref!r}",
                    lambda m=m, ref=ref: frames.ack(
                        client_id=m.client_id, message_json=_j(m), ref=ref
                    ),
                    lambda m=m, ref=ref: server.Ack(
                        client_id=m.client_id, message=_msg(m), ref=ref
                    ),
                ),
                (
                    f"reacted-{m.id}-{ref!r}",
                    lambda m=m, ref=ref: frames.reacted(message_json=_j(m), ref=ref),
                    lambda m=m, ref=ref: server.Reacted(message=_msg(m), ref=ref),
                ),
            ]
    for ref in REFS:
        cases += [
            (
                f"subscribed-{ref!r}",
                lambda ref=ref: frames.subscribed(
                    room_id=7,
                    last_seq=43,
                    last_rev=53,
                    replayed=2,
                    complete=False,
                    online_json="[" + ",".join([_j(ALICE), _j(BOB)]) + "]",
                    ref=ref,
                ),
                lambda ref=ref: server.Subscribed(
                    room_id=7,
                    last_seq=43,
                    last_rev=53,
                    replayed=2,
                    complete=False,
                    online=[_user(ALICE), _user(BOB)],
                    ref=ref,
                ),
            ),
            (
                f"unsubscribed-{ref!r}",
                lambda ref=ref: frames.unsubscribed(room_id=7, reason="requested", ref=ref),
                lambda ref=ref: server.Unsubscribed(room_id=7, reason="requested", ref=ref),
            ),
            (
                f"authenticated-{ref!r}",
                lambda ref=ref: frames.authenticated(expires_at=LATER, ref=ref),
                lambda ref=ref: server.Authenticated(expires_at=LATER, ref=ref),
            ),
            (
                f"pong-{ref!r}",
                lambda ref=ref: frames.pong(ref),
                lambda ref=ref: server.Pong(ref=ref),
            ),
            (
                f"error-{ref!r}",
                lambda ref=ref: frames.error("not_member", "Join the room first.", ref=ref),
                lambda ref=ref: server.Error(
                    code="not_member", detail="Join the room first.", ref=ref
                ),
            ),
            (
                f"error-rate_limited-{ref!r}",
                lambda ref=ref: frames.error(
                    "rate_limited", "Too many frames.", ref=ref, retry_after=0.25
                ),
                lambda ref=ref: server.Error(
                    code="rate_limited", detail="Too many frames.", retry_after=0.25, ref=ref
                ),
            ),
        ]
    cases += [
        (
            "hello",
            lambda: frames.hello(user_json=_j(ALICE), heartbeat_interval=25, expires_at=LATER),
            lambda: server.Hello(user=_user(ALICE), heartbeat_interval=25, expires_at=LATER),
        ),
        (
            "hello-microseconds",
            lambda: frames.hello(user_json=_j(BOB), heartbeat_interval=1, expires_at=WHEN),
            lambda: server.Hello(user=_user(BOB), heartbeat_interval=1, expires_at=WHEN),
        ),
        (
            "message.deleted",
            lambda: frames.message_deleted(room_id=7, message_id=314, seq=42, rev=54),
            lambda: server.MessageDeleted(room_id=7, id=314, seq=42, rev=54),
        ),
        (
            "typing",
            lambda: frames.typing(room_id=7, user_json=_j(BOB)),
            lambda: server.TypingFrame(room_id=7, user=_user(BOB)),
        ),
        (
            "read",
            lambda: frames.read(room_id=7, user_id=2, seq=42),
            lambda: server.ReadFrame(room_id=7, user_id=2, seq=42),
        ),
        (
            "presence",
            lambda: frames.presence(room_id=7, user_json=_j(BOB), status="offline"),
            lambda: server.Presence(room_id=7, user=_user(BOB), status="offline"),
        ),
        (
            "room.updated",
            lambda: frames.room_updated(_j(ROOM)),
            lambda: server.RoomUpdated(room=payloads.Room.model_validate_json(_j(ROOM))),
        ),
        (
            "room.joined-dm",
            lambda: frames.room_joined(room_json=_j(DM_FOR_BOB), by_json=_j(ALICE)),
            lambda: server.RoomJoined(
                room=payloads.RoomForCaller.model_validate_json(_j(DM_FOR_BOB)), by=_user(ALICE)
            ),
        ),
        (
            "room.joined-room",
            lambda: frames.room_joined(room_json=_j(JOINED_FOR_BOB), by_json=_j(ALICE)),
            lambda: server.RoomJoined(
                room=payloads.RoomForCaller.model_validate_json(_j(JOINED_FOR_BOB)),
                by=_user(ALICE),
            ),
        ),
        (
            "room.left",
            lambda: frames.room_left(room_id=7, reason="removed", by_json=_j(ALICE)),
            lambda: server.RoomLeft(room_id=7, reason="removed", by=_user(ALICE)),
        ),
        (
            "room.deleted",
            lambda: frames.room_deleted(7),
            lambda: server.RoomDeleted(room_id=7),
        ),
    ]
    return cases


CASES = _cases()


@pytest.mark.parametrize(("fast", "model"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fast_path_bytes_equal_the_models_serialization(
    fast: Callable[[], str], model: Callable[[], server.ServerFrame]
) -> None:
    built = fast()
    expected = model()
    assert built == expected.model_dump_json()
    # And the frame reads back as exactly that model (what the typed client does).
    assert parse_server_frame(built) == expected


def test_every_server_frame_kind_is_checked() -> None:
    checked = {orjson.loads(fast())["type"] for _name, fast, _model in CASES}
    assert checked == set(server.SERVER_FRAMES)


def test_ref_is_omitted_when_absent_and_kept_when_empty() -> None:
    assert "ref" not in orjson.loads(server.Pong().model_dump_json())
    assert orjson.loads(server.Pong(ref="").model_dump_json())["ref"] == ""
    assert orjson.loads(server.Pong(ref=0).model_dump_json())["ref"] == 0


def test_message_json_hot_path_equals_the_message_model() -> None:
    fast = message_json(
        message_id=PLAIN.id,
        room_id=PLAIN.room_id,
        seq=PLAIN.seq,
        rev=PLAIN.rev,
        author_json=_j(ALICE),
        body=PLAIN.body,
        created_at=WHEN,
        edited_at=None,
        deleted=False,
        client_id="c-1",
    )
    assert fast == _msg(PLAIN).model_dump_json() == _j(PLAIN)


@pytest.mark.parametrize(
    ("protocol_model", "rest_model"),
    [
        (payloads.User, UserRead),
        (payloads.Message, MessageRead),
        (payloads.Reaction, MessageRead.model_fields["reactions"].annotation.__args__[0]),  # type: ignore[union-attr]
        (payloads.Room, RoomRead),
        (payloads.RoomForCaller, RoomForCaller),
    ],
)
def test_payloads_mirror_the_rest_schemas(
    protocol_model: type[BaseModel], rest_model: type[BaseModel]
) -> None:
    # Same fields in the same order, so the same JSON: frames carry REST-serialized objects.
    assert list(protocol_model.model_fields) == list(rest_model.model_fields)
    for name, field in rest_model.model_fields.items():
        assert protocol_model.model_fields[name].is_required() == field.is_required(), name


def test_unknown_server_frame_type_is_refused() -> None:
    with pytest.raises(ValueError, match="not a known server frame"):
        parse_server_frame('{"type": "nope"}')
