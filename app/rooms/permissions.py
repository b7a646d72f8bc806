"""Who may do what in a room. Every rule lives here; services ask, routers never decide.

Roles rank owner > admin > member. A private room is invisible (404) to non-members.
"""

from __future__ import annotations

from app.core.errors import Forbidden
from app.rooms.exceptions import NotRoomMember, RoomNotFound
from app.rooms.models import Membership, Role, Room, RoomKind, Visibility

RANK = {Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def rank(role: str | None) -> int:
    return RANK[Role(role)] if role else 0


def ensure_visible(room: Room | None, membership: Membership | None) -> Room:
    if room is None or (room.visibility == Visibility.PRIVATE and membership is None):
        raise RoomNotFound()
    return room


def ensure_member(room: Room, membership: Membership | None) -> Membership:
    """Only members read history, send, subscribe or see the member list."""
    if membership is None:
        raise RoomNotFound() if room.visibility == Visibility.PRIVATE else NotRoomMember()
    return membership


def ensure_not_dm(room: Room, doing: str) -> None:
    """A direct message is exactly its two people, as they are: nobody renames it, changes
    its topic or roles, adds or removes anyone, or deletes it. Either may leave."""
    if room.kind == RoomKind.DM:
        raise Forbidden(f"A direct message's {doing} cannot be changed.")


def ensure_can_update_room(room: Room, membership: Membership) -> None:
    ensure_not_dm(room, "name, topic and visibility")
    if rank(membership.role) < RANK[Role.ADMIN]:
        raise Forbidden("Only the owner or an admin can change the room.")


def ensure_can_delete_room(room: Room, membership: Membership) -> None:
    ensure_not_dm(room, "existence")
    if membership.role != Role.OWNER:
        raise Forbidden("Only the owner can delete the room.")


def ensure_can_join(room: Room, role: Role | None) -> None:
    """Joining yourself: public rooms only, and only as a plain member."""
    if room.visibility != Visibility.PUBLIC:
        raise RoomNotFound()
    if role not in (None, Role.MEMBER):
        raise Forbidden("You can only join as a member.")


def ensure_can_manage_members(actor: Membership) -> None:
    if rank(actor.role) < RANK[Role.ADMIN]:
        raise Forbidden("Only the owner or an admin can add people to the room.")


def ensure_can_add(actor: Membership, role: Role) -> None:
    """Adding someone else: owner and admins add members; only the owner adds admins."""
    ensure_can_manage_members(actor)
    if role == Role.OWNER:
        raise Forbidden("Ownership can only be handed to someone who is already a member.")
    if role == Role.ADMIN and actor.role != Role.OWNER:
        raise Forbidden("Only the owner can make admins.")


def ensure_can_set_role(actor: Membership, target: Membership, role: Role) -> None:
    """Changing a role: the owner promotes, demotes and hands over ownership; nobody changes
    their own role, and admins cannot touch roles at all."""
    if actor.user_id == target.user_id:
        raise Forbidden("You cannot change your own role.")
    if actor.role != Role.OWNER:
        raise Forbidden("Only the owner can change roles.")


def ensure_can_remove(actor: Membership, target: Membership) -> None:
    """Removing someone else: you must outrank them (owner > admin > member)."""
    if rank(actor.role) < RANK[Role.ADMIN] or rank(actor.role) <= rank(target.role):
        raise Forbidden("You can only remove members below your own role.")


def ensure_can_edit_message(actor_id: int, author_id: int) -> None:
    if actor_id != author_id:
        raise Forbidden("Only the author can edit a message.")


def ensure_can_delete_message(actor: Membership, author_id: int) -> None:
    if actor.user_id != author_id and rank(actor.role) < RANK[Role.ADMIN]:
        raise Forbidden("Only the author, an admin or the owner can delete a message.")
