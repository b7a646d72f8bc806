"""Joining, adding, roles, leaving, removal, and read markers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import defer_event
from app.core.errors import Conflict
from app.delivery import events, frames
from app.rooms import permissions
from app.rooms.exceptions import MemberNotFound, OwnerCannotLeave
from app.rooms.models import Membership, Role
from app.rooms.schemas import MemberRead
from app.rooms.service import (
    for_caller,
    get_membership,
    get_visible_room,
    unread_count,
    unread_counts,
)
from app.users.models import User
from app.users.schemas import UserRead
from app.users.service import get_active_user


@dataclass(frozen=True, slots=True)
class MembershipChange:
    member: MemberRead
    created: bool


def user_json(user: User) -> str:
    return UserRead.model_validate(user).model_dump_json()


def member_read(membership: Membership, user: User) -> MemberRead:
    return MemberRead(
        user=UserRead.model_validate(user),
        role=Role(membership.role),
        joined_at=membership.joined_at,
    )


async def list_members(session: AsyncSession, actor: User, room_id: int) -> list[MemberRead]:
    await get_membership(session, room_id, actor.id)
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.room_id == room_id)
        .order_by(case({"owner": 0, "admin": 1}, value=Membership.role, else_=2), User.username_key)
    )
    return [member_read(membership, user) for membership, user in rows]


async def put_member(
    session: AsyncSession, actor: User, room_id: int, user_id: int, role: Role | None
) -> MembershipChange:
    """Join a public room yourself, add someone (owner/admin), or change a role (owner)."""
    room, actor_membership = await get_visible_room(session, room_id, actor.id)
    target_user = actor if user_id == actor.id else await get_active_user(session, user_id)
    target = await session.get(Membership, (room_id, user_id))

    if target is None:
        if user_id == actor.id:
            permissions.ensure_can_join(room, role)
        else:
            adder = permissions.ensure_member(room, actor_membership)
            permissions.ensure_not_dm(room, "people")
            permissions.ensure_can_add(adder, role or Role.MEMBER)
        target = Membership(room_id=room_id, user_id=user_id, role=(role or Role.MEMBER).value)
        try:
            async with session.begin_nested():
                session.add(target)
        except IntegrityError as exc:  # joined concurrently: report the membership as it is
            raise Conflict("That user joined the room at the same moment; retry.") from exc
        # Their clients (every device) learn of the room without polling for it.
        room_json = for_caller(room, target, await unread_count(session, target)).model_dump_json()
        frame = frames.room_joined(room_json=room_json, by_json=user_json(actor))
        defer_event(session, events.user_frame(user_id=user_id, frame=frame))
        return MembershipChange(member_read(target, target_user), created=True)

    if role is not None and role != target.role:
        actor_membership = permissions.ensure_member(room, actor_membership)
        permissions.ensure_not_dm(room, "roles")
        permissions.ensure_can_set_role(actor_membership, target, role)
        if role == Role.OWNER:
            # One owner per room: handing it over makes the previous owner an admin.
            actor_membership.role = Role.ADMIN.value
        target.role = role.value
        await session.flush()
    elif user_id != actor.id:
        permissions.ensure_can_manage_members(permissions.ensure_member(room, actor_membership))
    return MembershipChange(member_read(target, target_user), created=False)


async def remove_member(session: AsyncSession, actor: User, room_id: int, user_id: int) -> None:
    """Leave (yourself) or remove someone below your role. Their sockets stop getting the room."""
    room, actor_membership = await get_visible_room(session, room_id, actor.id)
    target = await session.get(Membership, (room_id, user_id))
    if user_id == actor.id:
        if target is None:
            raise MemberNotFound("You are not a member of this room.")
        if target.role == Role.OWNER:
            raise OwnerCannotLeave()
    else:
        actor_membership = permissions.ensure_member(room, actor_membership)
        permissions.ensure_not_dm(room, "people")
        if target is None:
            raise MemberNotFound()
        permissions.ensure_can_remove(actor_membership, target)
    await session.delete(target)
    await session.flush()
    reason = "left" if user_id == actor.id else "removed"
    defer_event(
        session,
        events.member_left(
            room_id=room_id,
            user_id=user_id,
            frame=frames.unsubscribed(room_id=room_id, reason=reason),
        ),
    )
    frame = frames.room_left(room_id=room_id, reason=reason, by_json=user_json(actor))
    defer_event(session, events.user_frame(user_id=user_id, frame=frame))


async def mark_read(
    session: AsyncSession, user_id: int, room_id: int, seq: int, *, origin: str = ""
) -> tuple[int, int, int]:
    """Move the caller's read marker forward (never back, never past the last message).

    Returns the stored marker, and the unread and mention counts after it.
    """
    room, membership = await get_membership(session, room_id, user_id)
    target = min(seq, room.last_seq)
    if target > membership.last_read_seq:
        await session.execute(
            update(Membership)
            .where(
                Membership.room_id == room_id,
                Membership.user_id == user_id,
                Membership.last_read_seq < target,
            )
            .values(last_read_seq=target)
            .execution_options(synchronize_session=False)
        )
        membership.last_read_seq = max(membership.last_read_seq, target)
        defer_event(
            session,
            events.room_frame(
                room_id=room_id,
                frame=frames.read(room_id=room_id, user_id=user_id, seq=membership.last_read_seq),
                skip_connection=origin,
            ),
        )
    unread, mentioned = await unread_counts(session, membership)
    return membership.last_read_seq, unread, mentioned
