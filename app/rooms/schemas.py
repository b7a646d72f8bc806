from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.validation import DbSeq, DbUserId, Storable
from app.rooms.models import Role, RoomKind, Visibility
from app.users.schemas import UserRead

RoomName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.-]+$"),
    Storable,
]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), Storable]


class RoomCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "general", "topic": "Anything goes", "visibility": "public"}]
        }
    )

    name: RoomName = Field(description="1-64 letters, digits, `_`, `.` or `-`; unique (any case).")
    topic: Topic = ""
    visibility: Visibility = Visibility.PUBLIC


class RoomUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"topic": "Release planning"}]})

    name: RoomName | None = None
    topic: Topic | None = None
    visibility: Visibility | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> RoomUpdate:
        if self.name is None and self.topic is None and self.visibility is None:
            raise ValueError("give at least one of name, topic, visibility")
        return self


class RoomRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    topic: str
    visibility: Visibility
    created_by: int
    created_at: datetime
    last_seq: int
    last_rev: int
    kind: RoomKind = RoomKind.ROOM


class RoomForCaller(RoomRead):
    """A room as the caller sees it: their role, read marker and unread count (null if not
    a member)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "name": "general",
                    "topic": "Anything goes",
                    "visibility": "public",
                    "created_by": 1,
                    "created_at": "2026-11-21T09:31:00Z",
                    "last_seq": 42,
                    "role": "owner",
                    "unread_count": 2,
                    "last_read_seq": 40,
                    "kind": "room",
                    "mention_count": 1,
                    "dm_with": None,
                }
            ]
        }
    )

    role: Role | None
    unread_count: int | None
    last_read_seq: int | None
    mention_count: int | None = Field(
        None, description="Unread messages that mention you (null if not a member)."
    )
    dm_with: UserRead | None = Field(None, description="In a direct message: the other person.")


class RoomsPage(BaseModel):
    rooms: list[RoomForCaller]


class MemberRead(BaseModel):
    user: UserRead
    role: Role
    joined_at: datetime


class MembersPage(BaseModel):
    members: list[MemberRead]


class MembershipUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "member"}]})

    role: Role | None = Field(None, description="Default `member`; owner/admin may set roles.")


class ReadMarkerUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"seq": 42}]})

    seq: DbSeq = Field(description="The highest seq you have read.")


class ReadMarkerRead(BaseModel):
    room_id: int
    seq: int
    unread_count: int
    mention_count: int = 0


class DirectMessageCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": 2}]})

    user_id: DbUserId = Field(description="The person to talk with.")
