from __future__ import annotations

from app.core.errors import Conflict, Forbidden, NotFound, error_responses


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


# OpenAPI: what room-scoped routes answer when the room is hidden or missing (404), and,
# for those that need membership, when the caller is not a member of a public room (403).
NOT_VISIBLE = error_responses(RoomNotFound)
MEMBERS_ONLY = error_responses(RoomNotFound, NotRoomMember)
