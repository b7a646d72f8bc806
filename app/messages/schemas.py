from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.core.validation import DbMessageId
from app.protocol.types import ClientId, MessageBody
from app.users.schemas import EXAMPLE_USER, UserRead


class ReactionRead(BaseModel):
    emoji: str
    count: int = Field(description="Exact: everyone who has this reaction now.")
    user_ids: list[int] = Field(description="The first 50 of them, in the order they reacted.")


class MessageRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 314,
                    "room_id": 1,
                    "seq": 42,
                    "author": EXAMPLE_USER,
                    "body": "Hello everyone!",
                    "created_at": "2026-11-21T10:02:00Z",
                    "edited_at": None,
                    "deleted": False,
                    "client_id": "3f2b7c1e-5d1a-4c5e-9a63-1f0e2d4b8c7a",
                    "reactions": [{"emoji": "👍", "count": 2, "user_ids": [2, 3]}],
                    "reply_to": None,
                    "reply_count": 0,
                    "last_reply_at": None,
                    "mentions": [],
                }
            ]
        }
    )

    id: int
    room_id: int
    seq: int
    rev: int
    author: UserRead
    body: str
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    client_id: str | None
    # Version 2. New messages start with the empty values; `message_json` (sends.py) writes
    # these same fields in this same order for the hot path.
    reactions: list[ReactionRead] = Field(
        default_factory=list, description="One entry per emoji in use, first used first."
    )
    reply_to: int | None = Field(None, description="The thread root, for a reply.")
    reply_count: int = Field(0, description="Replies to this message (deleted ones included).")
    last_reply_at: datetime | None = None
    mentions: list[int] = Field(
        default_factory=list, description="Mentioned members' ids, in order of appearance."
    )


class MessageCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"body": "Hello everyone!", "client_id": "3f2b7c1e-5d1a-4c5e-9a63-1f0e2d4b8c7a"}
            ]
        }
    )

    body: MessageBody
    client_id: ClientId | None = Field(
        None, description="Your id for this send; sending it again returns the original."
    )
    reply_to: DbMessageId | None = Field(
        None, description="Reply to this message of the room (its thread, if it is a reply)."
    )


class MessageUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "Hello everyone (edited)"}]})

    body: MessageBody


class MessagesPage(BaseModel):
    messages: list[MessageRead]
    has_more: bool


class ChangesPage(BaseModel):
    messages: list[MessageRead]
    last_rev: int = Field(description="The next `after_rev`: the page's last rev, or after_rev.")
    has_more: bool


class SearchResults(BaseModel):
    messages: list[MessageRead]


class RepliesPage(BaseModel):
    messages: list[MessageRead]
    has_more: bool
