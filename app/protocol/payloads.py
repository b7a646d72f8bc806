"""The objects frames carry: the same JSON shapes, in the same field order, as the REST
schemas (`UserRead`, `MessageRead`, `RoomRead`, `RoomForCaller`). A test checks each
against its REST twin (tests/protocol/test_payloads.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Visibility = Literal["public", "private"]
RoomKind = Literal["room", "dm"]
Role = Literal["owner", "admin", "member"]


class Payload(BaseModel):
    # On the wire every field is present (null or empty when it has no value).
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class User(Payload):
    """The public face of an account."""

    id: int
    username: str
    display_name: str
    created_at: datetime
    # Added in version 2 with bots: older servers omit it, so it defaults to a person.
    bot: bool = Field(False, description="A bot account (it acts with an API key).")


class Reaction(Payload):
    emoji: str
    count: int = Field(description="Exact: everyone who has this reaction now.")
    user_ids: list[int] = Field(description="The first 50 of them, in the order they reacted.")


class Message(Payload):
    id: int
    room_id: int
    seq: int = Field(description="1, 2, 3, ... per room, no gaps, in commit order.")
    rev: int = Field(description="The room's change number of this message's latest change.")
    author: User
    body: str = Field(description="Plain text (empty once deleted); escape it to render it.")
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    client_id: str | None
    reactions: list[Reaction] = Field(
        default_factory=list, description="One entry per emoji in use, first used first."
    )
    reply_to: int | None = Field(None, description="The thread root, for a reply.")
    reply_count: int = Field(0, description="Replies to this message (deleted ones included).")
    last_reply_at: datetime | None = None
    mentions: list[int] = Field(
        default_factory=list, description="Mentioned members' ids, in order of appearance."
    )


class Room(Payload):
    id: int
    name: str
    topic: str
    visibility: Visibility
    created_by: int
    created_at: datetime
    last_seq: int
    last_rev: int
    kind: RoomKind = "room"


class RoomForCaller(Room):
    """A room as its receiver sees it: role, read marker, unread and mention counts (null
    if not a member), and the other person of a direct message."""

    role: Role | None
    unread_count: int | None
    last_read_seq: int | None
    mention_count: int | None = None
    dm_with: User | None = None
