from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.users.schemas import UserRead

MAX_BODY_LENGTH = 4000

# Trimmed, then 1-4000 characters. Stored and returned as plain text, never as HTML.
MessageBody = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_LENGTH)
]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class MessageRead(BaseModel):
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


class MessageCreate(BaseModel):
    body: MessageBody
    client_id: ClientId | None = Field(
        None, description="Your id for this send; sending it again returns the original."
    )


class MessageUpdate(BaseModel):
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
