"""The wire shapes the client reads: REST resources and server frames (CONTRACT.md).

Models allow extra fields, so a newer server that adds a field never breaks an older
client; frames are told apart by their `type` (a discriminated union).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(Model):
    id: int
    username: str
    display_name: str | None = None
    created_at: datetime | None = None


class Tokens(Model):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: float


class Reaction(Model):
    emoji: str
    count: int
    user_ids: list[int] = []


class Message(Model):
    id: int
    room_id: int
    seq: int
    rev: int = 0
    author: User
    body: str
    created_at: datetime
    edited_at: datetime | None = None
    deleted: bool = False
    client_id: str | None = None
    reactions: list[Reaction] = []
    reply_to: int | None = None
    reply_count: int = 0
    last_reply_at: datetime | None = None
    mentions: list[int] = []


class Room(Model):
    id: int
    name: str
    topic: str | None = None
    visibility: Literal["public", "private"] = "public"
    kind: Literal["room", "dm"] = "room"
    created_by: int | None = None
    created_at: datetime | None = None
    last_seq: int = 0
    last_rev: int = 0
    role: str | None = None
    unread_count: int | None = None
    mention_count: int | None = None
    dm_with: User | None = None


class Member(Model):
    user: User
    role: str
    joined_at: datetime | None = None


class MessagePage(Model):
    messages: list[Message]
    has_more: bool = False


class ChangesPage(Model):
    messages: list[Message]
    last_rev: int
    has_more: bool


# Server -> client frames -------------------------------------------------------------------


class Frame(Model):
    ref: str | int | None = None


class Hello(Frame):
    type: Literal["hello"]
    user: User
    heartbeat_interval: float
    expires_at: datetime


class Subscribed(Frame):
    type: Literal["subscribed"]
    room_id: int
    last_seq: int
    last_rev: int = 0
    replayed: int = 0
    complete: bool = True


class Unsubscribed(Frame):
    type: Literal["unsubscribed"]
    room_id: int
    reason: str | None = None


class MessageCreated(Frame):
    type: Literal["message"]
    message: Message


class Ack(Frame):
    type: Literal["ack"]
    client_id: str | None
    message: Message


class MessageUpdated(Frame):
    type: Literal["message.updated"]
    message: Message


class MessageDeleted(Frame):
    type: Literal["message.deleted"]
    room_id: int
    id: int
    seq: int
    rev: int = 0


class Reacted(Frame):
    type: Literal["reacted"]
    message: Message


class Mention(Frame):
    type: Literal["mention"]
    room_id: int
    message: Message


class TypingEvent(Frame):
    type: Literal["typing"]
    room_id: int
    user: User


class ReadEvent(Frame):
    type: Literal["read"]
    room_id: int
    user_id: int
    seq: int


class Presence(Frame):
    type: Literal["presence"]
    room_id: int
    user: User
    status: Literal["online", "offline"]


class RoomJoined(Frame):
    type: Literal["room.joined"]
    room: Room
    by: User | None = None


class RoomUpdated(Frame):
    type: Literal["room.updated"]
    room: Room


class RoomLeft(Frame):
    type: Literal["room.left"]
    room_id: int
    reason: str | None = None
    by: User | None = None


class RoomDeleted(Frame):
    type: Literal["room.deleted"]
    room_id: int


class Authenticated(Frame):
    type: Literal["authenticated"]
    expires_at: datetime


class ErrorFrame(Frame):
    type: Literal["error"]
    code: str
    detail: str
    retry_after: float | None = None


class Pong(Frame):
    type: Literal["pong"]


ServerFrame = Annotated[
    Hello
    | Subscribed
    | Unsubscribed
    | MessageCreated
    | Ack
    | MessageUpdated
    | MessageDeleted
    | Reacted
    | Mention
    | TypingEvent
    | ReadEvent
    | Presence
    | RoomJoined
    | RoomUpdated
    | RoomLeft
    | RoomDeleted
    | Authenticated
    | ErrorFrame
    | Pong,
    Field(discriminator="type"),
]
server_frame: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


# Events the session adds itself (not frames from the server) ------------------------------


class Connected(Model):
    """A socket is open and greeted; `hello` is the server's greeting."""

    type: Literal["connected"] = "connected"
    hello: Hello


class Disconnected(Model):
    """The socket is gone; the session reconnects on its own in `retry_in` seconds."""

    type: Literal["disconnected"] = "disconnected"
    reason: str
    code: int | None = None
    retry_in: float


class SendFailed(Model):
    """The server refused one of our sends for good (not retried)."""

    type: Literal["send.failed"] = "send.failed"
    client_id: str
    code: str
    detail: str


Event = ServerFrame | Connected | Disconnected | SendFailed
