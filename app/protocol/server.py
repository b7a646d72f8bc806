"""Server-to-client frames. `app/delivery/frames.py` builds the same bytes on the hot path
(a message serialized once, embedded as-is); tests/protocol/test_frames.py checks that
each of its builders produces exactly `model_dump_json()` of the model here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from app.protocol.payloads import Message, Room, RoomForCaller, User
from app.protocol.types import Ref

Status = Literal["online", "offline"]


# Fields that are left out of a frame when they have no value (never sent as null).
OMITTED_WHEN_NONE = ("ref", "retry_after")


class ServerFrame(BaseModel):
    # Serialization schema: every field is always present (but see OMITTED_WHEN_NONE).
    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_serialization_defaults_required=True
    )

    # No return annotation on purpose: Pydantic would take it as the frame's serialization
    # JSON schema (a bare object), and the AsyncAPI document needs the fields.
    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler):
        # `ref` (and `retry_after`) appear only when set: the wire never carries `"ref": null`.
        data: dict[str, Any] = handler(self)
        for name in OMITTED_WHEN_NONE:
            if name in data and data[name] is None:
                del data[name]
        return data


class Hello(ServerFrame):
    """First frame after accept: who you are, how often to ping, when the token expires."""

    type: Literal["hello"] = "hello"
    user: User
    heartbeat_interval: int = Field(description="Seconds between pings.")
    expires_at: datetime = Field(description="When the access token expires.")


class Subscribed(ServerFrame):
    """The subscription is live; the replay (if any) came before this frame."""

    type: Literal["subscribed"] = "subscribed"
    room_id: int
    last_seq: int
    last_rev: int = Field(description="The room's last_rev when the replay was taken.")
    replayed: int = Field(description="How many frames the replay resent.")
    complete: bool = Field(description="false: more were missed; page the rest over REST.")
    online: list[User] = Field(description="The room's members connected now.")
    ref: Ref = None


class Unsubscribed(ServerFrame):
    """The subscription ended: `requested`, or the receiver left / was removed."""

    type: Literal["unsubscribed"] = "unsubscribed"
    room_id: int
    reason: str = Field(description="`requested`, `left` or `removed`.")
    ref: Ref = None


class MessageFrame(ServerFrame):
    """A new message (or, in a replay, a message created after `since_rev`)."""

    type: Literal["message"] = "message"
    message: Message


class Ack(ServerFrame):
    """Your send is committed (also for a repeated `client_id`: the original message)."""

    type: Literal["ack"] = "ack"
    client_id: str | None
    message: Message
    ref: Ref = None


class MessageUpdated(ServerFrame):
    """A message changed: edited, reacted to, or a new reply to it."""

    type: Literal["message.updated"] = "message.updated"
    message: Message


class MessageDeleted(ServerFrame):
    """A message was deleted (its tombstone keeps its `seq`)."""

    type: Literal["message.deleted"] = "message.deleted"
    room_id: int
    id: int
    seq: int
    rev: int


class Reacted(ServerFrame):
    """To the sender of `react` / `unreact`: the message as it now is."""

    type: Literal["reacted"] = "reacted"
    message: Message
    ref: Ref = None


class Mention(ServerFrame):
    """A committed message mentions you (to every connection of yours, subscribed or not)."""

    type: Literal["mention"] = "mention"
    room_id: int
    message: Message


class TypingFrame(ServerFrame):
    """Someone is typing in the room (not stored)."""

    type: Literal["typing"] = "typing"
    room_id: int
    user: User


class ReadFrame(ServerFrame):
    """Someone moved their read marker."""

    type: Literal["read"] = "read"
    room_id: int
    user_id: int
    seq: int


class Presence(ServerFrame):
    """A member's first connection subscribed, or their last one left."""

    type: Literal["presence"] = "presence"
    room_id: int
    user: User
    status: Status


class RoomUpdated(ServerFrame):
    """The room's name, topic or visibility changed."""

    type: Literal["room.updated"] = "room.updated"
    room: Room


class RoomJoined(ServerFrame):
    """You were added to a room (or a direct message was opened with you)."""

    type: Literal["room.joined"] = "room.joined"
    room: RoomForCaller
    by: User


class RoomLeft(ServerFrame):
    """You left, were removed from, or lost a room (`reason`)."""

    type: Literal["room.left"] = "room.left"
    room_id: int
    reason: str = Field(description="`left`, `removed` or `deleted`.")
    by: User = Field(description="Who did it (yourself, when you left).")


class RoomDeleted(ServerFrame):
    """The room is gone; the subscription ended."""

    type: Literal["room.deleted"] = "room.deleted"
    room_id: int


class Authenticated(ServerFrame):
    """The `auth` frame's token is now in use."""

    type: Literal["authenticated"] = "authenticated"
    expires_at: datetime
    ref: Ref = None


class Pong(ServerFrame):
    """Reply to `ping`."""

    type: Literal["pong"] = "pong"
    ref: Ref = None


class Error(ServerFrame):
    """The frame was refused; the connection stays open."""

    type: Literal["error"] = "error"
    code: str = Field(description="One of the error codes (see ERROR_CODES).")
    detail: str
    retry_after: float | None = Field(None, description="With rate_limited: seconds to wait.")
    ref: Ref = None


SERVER_FRAMES: dict[str, type[ServerFrame]] = {
    model.model_fields["type"].default: model
    for model in (
        Hello,
        Subscribed,
        Unsubscribed,
        MessageFrame,
        Ack,
        MessageUpdated,
        MessageDeleted,
        Reacted,
        Mention,
        TypingFrame,
        ReadFrame,
        Presence,
        RoomUpdated,
        RoomJoined,
        RoomLeft,
        RoomDeleted,
        Authenticated,
        Pong,
        Error,
    )
}

AnyServerFrame = (
    Hello
    | Subscribed
    | Unsubscribed
    | MessageFrame
    | Ack
    | MessageUpdated
    | MessageDeleted
    | Reacted
    | Mention
    | TypingFrame
    | ReadFrame
    | Presence
    | RoomUpdated
    | RoomJoined
    | RoomLeft
    | RoomDeleted
    | Authenticated
    | Pong
    | Error
)

# The error frame's codes, and what each means.
ERROR_CODES: dict[str, str] = {
    "invalid_json": "The frame is not valid JSON.",
    "invalid_frame": "The frame does not match its schema (or the change is refused: "
    "a 21st emoji, a reaction on a deleted message, reply_to a deleted message).",
    "unknown_type": "The frame's `type` is not a client frame.",
    "not_found": "The room or message does not exist, or you cannot see it.",
    "not_member": "Only members read, send, react or subscribe.",
    "too_long": "The body is over 4000 characters after trimming.",
    "rate_limited": "Too many frames or sends; wait `retry_after` seconds.",
    "forbidden": "Your role does not allow that.",
    "conflict": "That conflicts with the current state; reload it and retry.",
    "unauthorized": "Not authenticated (the token was refused).",
    "unavailable": "The server could not do that just now (a dependency is down); retry.",
}

# WebSocket close codes, and what a client does about each.
CLOSE_CODES: dict[int, str] = {
    1008: "Policy violation.",
    1009: "A frame over the hard size limit of 64 KiB.",
    1012: "Server restarting: reconnect and resume by `since_rev` (or `since_seq`).",
    1013: "Too slow to keep up (the send queue overflowed): reconnect and resume.",
    4401: "Token expired or session revoked: re-authenticate, then reconnect.",
    4429: "Too many connections for this user in one server process; close one first.",
}


def parse_server_frame(text: str | bytes) -> AnyServerFrame:
    """A server frame as its model (for clients); ValueError for an unknown `type`."""
    data = orjson.loads(text)
    kind = data.get("type") if isinstance(data, dict) else None
    model = SERVER_FRAMES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"not a known server frame: {str(text)[:80]!r}")
    frame: AnyServerFrame = model.model_validate(data)  # type: ignore[assignment]
    return frame
