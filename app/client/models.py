"""What the client reads and sends: the protocol's own models (`app.protocol`, the one
definition of every frame and payload) plus the REST envelopes and the session's own
events. Frames are parsed with `app.protocol.server.parse_server_frame`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from app.protocol.payloads import Message, Reaction, RoomForCaller, User
from app.protocol.server import (
    Ack,
    AnyServerFrame,
    Authenticated,
    Hello,
    Mention,
    MessageDeleted,
    MessageFrame,
    MessageUpdated,
    Pong,
    Presence,
    Reacted,
    ReadFrame,
    RoomDeleted,
    RoomJoined,
    RoomLeft,
    RoomUpdated,
    Subscribed,
    TypingFrame,
    Unsubscribed,
)
from app.protocol.server import Error as ErrorFrame

# Every REST call answers a room as its caller sees it (role, unread and mention counts).
Room = RoomForCaller

__all__ = [
    "Ack",
    "AnyServerFrame",
    "Authenticated",
    "CaughtUp",
    "ChangesPage",
    "Connected",
    "Disconnected",
    "ErrorFrame",
    "Event",
    "Hello",
    "LoggedOut",
    "Member",
    "Mention",
    "Message",
    "MessageDeleted",
    "MessageFrame",
    "MessagePage",
    "MessageUpdated",
    "Pong",
    "Presence",
    "Reacted",
    "Reaction",
    "ReadFrame",
    "Room",
    "RoomDeleted",
    "RoomJoined",
    "RoomLeft",
    "RoomUpdated",
    "SendFailed",
    "Subscribed",
    "Tokens",
    "TypingFrame",
    "Unsubscribed",
    "User",
]


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: float


class Member(BaseModel):
    user: User
    role: Literal["owner", "admin", "member"]
    joined_at: datetime


class MessagePage(BaseModel):
    messages: list[Message]
    has_more: bool = False


class ChangesPage(BaseModel):
    messages: list[Message]
    last_rev: int
    has_more: bool


# Events the session adds itself (not frames from the server) ------------------------------


class Connected(BaseModel):
    """A socket is open and greeted; `hello` is the server's greeting."""

    type: Literal["connected"] = "connected"
    hello: Hello


class Disconnected(BaseModel):
    """The socket is gone; the session reconnects on its own in `retry_in` seconds."""

    type: Literal["disconnected"] = "disconnected"
    reason: str
    code: int | None = None
    retry_in: float


class LoggedOut(BaseModel):
    """The server no longer accepts the session's refresh token (logged out elsewhere,
    revoked, expired). A session made with `relogin=True` waits for the client's next
    `login` and then reconnects and resumes, outbox and all; otherwise it ends."""

    type: Literal["logged_out"] = "logged_out"
    reason: str


class SendFailed(BaseModel):
    """The server refused one of our sends for good (it is not retried)."""

    type: Literal["send.failed"] = "send.failed"
    client_id: str
    room_id: int
    body: str
    code: str
    detail: str


class CaughtUp(BaseModel):
    """After a `subscribed` with `complete: false`, the session paged the missed changes
    from `GET …/changes` and emitted each as `message.updated`: this says the paging is
    done and the room is complete up to `last_rev` (live frames follow)."""

    type: Literal["caught_up"] = "caught_up"
    room_id: int
    last_rev: int


Event = AnyServerFrame | Connected | Disconnected | LoggedOut | SendFailed | CaughtUp
