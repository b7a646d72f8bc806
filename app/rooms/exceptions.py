from __future__ import annotations

from typing import Any

from app.core.errors import Conflict, Forbidden, NotFound

# OpenAPI: what every room-scoped route may answer when the room is hidden or missing.
NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such room, or a private room you cannot see."}
}


class RoomNotFound(NotFound):
    """Also the answer for a private room the caller cannot see, so it does not leak."""

    default_detail = "Room not found."


class NotRoomMember(Forbidden):
    code = "not_member"
    default_detail = "You are not a member of this room."


class RoomNameTaken(Conflict):
    default_detail = "A room with that name already exists."


class MemberNotFound(NotFound):
    default_detail = "That user is not a member of this room."


class OwnerCannotLeave(Conflict):
    default_detail = "The owner cannot leave: hand ownership to another member or delete the room."
