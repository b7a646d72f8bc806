"""Rooms: create, list, read, change, delete. Permission rules come from `permissions`."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from app.core.database import defer_event
from app.delivery import events, frames
from app.messages.models import Mention, Message
from app.rooms import permissions
from app.rooms.exceptions import RoomNameTaken
from app.rooms.models import Membership, Role, Room, RoomKind
from app.rooms.schemas import RoomCreate, RoomForCaller, RoomRead, RoomUpdate
from app.users.models import User
from app.users.schemas import UserRead


def room_key(name: str) -> str:
    return name.casefold()


def unread_count_expression(user_id: int) -> ColumnElement[int]:
    """Messages after the member's read marker, written by others and not deleted.

    `seq` numbers a room's messages without gaps (deleted ones stay as tombstones), so the
    messages after the marker are `last_seq - last_read_seq`; less the deleted ones among
    them and the member's own live ones, two range counts on small partial indexes. Counting
    the messages themselves cost one index entry per unread message: a member who never
    read a room of a million messages cost a million. Correlated to `Membership` and `Room`.
    """
    after_marker = (
        Message.room_id == Membership.room_id,
        Message.seq > Membership.last_read_seq,
    )
    deleted = (
        select(func.count())
        .select_from(Message)
        .where(*after_marker, Message.deleted)
        .correlate(Membership)
        .scalar_subquery()
    )
    own = (
        select(func.count())
        .select_from(Message)
        .where(Message.author_id == user_id, *after_marker, ~Message.deleted)
        .correlate(Membership)
        .scalar_subquery()
    )
    return Room.last_seq - Membership.last_read_seq - deleted - own


def mention_count_expression(user_id: int) -> ScalarSelect[int]:
    """Messages after the member's read marker that mention them, written by others and not
    deleted. Correlated to `Membership`; a range scan of the (user_id, room_id, seq) index."""
    return (
        select(func.count())
        .select_from(Mention)
        .join(Message, Message.id == Mention.message_id)
        .where(
            Mention.user_id == user_id,
            Mention.room_id == Membership.room_id,
            Mention.seq > Membership.last_read_seq,
            Message.author_id != user_id,
            Message.deleted.is_(False),
        )
        .correlate(Membership)
        .scalar_subquery()
    )


def dm_partner(room: Room, user_id: int) -> int | None:
    """The other person of a direct message (its name is `dm:<low id>:<high id>`)."""
    if room.kind != RoomKind.DM:
        return None
    low, high = (int(part) for part in room.name.split(":")[1:3])
    return high if user_id == low else low


def for_caller(
    room: Room,
    membership: Membership | None,
    unread: int | None,
    *,
    mentions: int = 0,
    dm_with: User | None = None,
) -> RoomForCaller:
    return RoomForCaller(
        **RoomRead.model_validate(room).model_dump(),
        role=Role(membership.role) if membership else None,
        unread_count=unread if membership else None,
        last_read_seq=membership.last_read_seq if membership else None,
        mention_count=mentions if membership else None,
        dm_with=UserRead.model_validate(dm_with) if dm_with is not None else None,
    )


async def load_room(
    session: AsyncSession, room_id: int, user_id: int
) -> tuple[Room | None, Membership | None]:
    row = await session.execute(
        select(Room, Membership)
        .outerjoin(Membership, and_(Membership.room_id == Room.id, Membership.user_id == user_id))
        .where(Room.id == room_id)
    )
    found = row.one_or_none()
    return (None, None) if found is None else (found[0], found[1])


async def get_visible_room(
    session: AsyncSession, room_id: int, user_id: int
) -> tuple[Room, Membership | None]:
    room, membership = await load_room(session, room_id, user_id)
    return permissions.ensure_visible(room, membership), membership


async def get_membership(
    session: AsyncSession, room_id: int, user_id: int
) -> tuple[Room, Membership]:
    """The room and the caller's membership, or 404 (cannot see it) / 403 (not a member)."""
    room, membership = await get_visible_room(session, room_id, user_id)
    return room, permissions.ensure_member(room, membership)


async def unread_count(session: AsyncSession, membership: Membership) -> int:
    return (await unread_counts(session, membership))[0]


async def unread_counts(session: AsyncSession, membership: Membership) -> tuple[int, int]:
    """The member's unread count and mention count."""
    result = await session.execute(
        select(
            unread_count_expression(membership.user_id),
            mention_count_expression(membership.user_id),
        )
        .select_from(Membership)
        .join(Room, Room.id == Membership.room_id)
        .where(Membership.room_id == membership.room_id, Membership.user_id == membership.user_id)
    )
    unread, mentioned = result.one()
    return int(unread), int(mentioned)


async def room_for(
    session: AsyncSession, room: Room, membership: Membership | None, user_id: int
) -> RoomForCaller:
    """The room as `user_id` sees it, with their counts and, in a DM, the other person."""
    unread, mentioned = await unread_counts(session, membership) if membership else (0, 0)
    partner = dm_partner(room, user_id)
    other = await session.get(User, partner) if partner is not None else None
    return for_caller(room, membership, unread, mentions=mentioned, dm_with=other)


async def create_room(session: AsyncSession, user: User, data: RoomCreate) -> RoomForCaller:
    room = Room(
        name=data.name,
        name_key=room_key(data.name),
        topic=data.topic,
        visibility=data.visibility.value,
        created_by=user.id,
    )
    try:
        async with session.begin_nested():
            session.add(room)
            await session.flush()
            owner = Membership(room_id=room.id, user_id=user.id, role=Role.OWNER.value)
            session.add(owner)
    except IntegrityError as exc:
        raise RoomNameTaken() from exc
    return for_caller(room, owner, 0)


async def list_rooms(
    session: AsyncSession, user: User, *, name: str | None = None
) -> list[RoomForCaller]:
    """Public rooms and the caller's private ones, with the caller's role and unread count;
    `name` narrows it to that one room (any case), for clients that join by name."""
    query = (
        select(
            Room,
            Membership,
            unread_count_expression(user.id),
            mention_count_expression(user.id),
        )
        .outerjoin(Membership, and_(Membership.room_id == Room.id, Membership.user_id == user.id))
        .where(or_(Room.visibility == "public", Membership.user_id.is_not(None)))
        .order_by(Room.name_key)
    )
    if name is not None:
        query = query.where(Room.name_key == room_key(name.strip()))
    rows = list(await session.execute(query))
    partners = {
        room.id: partner for room, *_ in rows if (partner := dm_partner(room, user.id)) is not None
    }
    people = (
        {
            u.id: u
            for u in await session.scalars(select(User).where(User.id.in_(set(partners.values()))))
        }
        if partners
        else {}
    )
    return [
        for_caller(
            room,
            membership,
            unread,
            mentions=mentioned,
            dm_with=people.get(partners[room.id]) if room.id in partners else None,
        )
        for room, membership, unread, mentioned in rows
    ]


async def read_room(session: AsyncSession, user: User, room_id: int) -> RoomForCaller:
    room, membership = await get_visible_room(session, room_id, user.id)
    return await room_for(session, room, membership, user.id)


async def update_room(
    session: AsyncSession, user: User, room_id: int, data: RoomUpdate
) -> RoomForCaller:
    room, membership = await get_membership(session, room_id, user.id)
    permissions.ensure_can_update_room(room, membership)
    if data.name is not None:
        room.name, room.name_key = data.name, room_key(data.name)
    if data.topic is not None:
        room.topic = data.topic
    if data.visibility is not None:
        room.visibility = data.visibility.value
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise RoomNameTaken() from exc
    room_json = RoomRead.model_validate(room).model_dump_json()
    defer_event(session, events.room_frame(room_id=room.id, frame=frames.room_updated(room_json)))
    return await room_for(session, room, membership, user.id)


async def delete_room(session: AsyncSession, user: User, room_id: int) -> None:
    room, membership = await get_membership(session, room_id, user.id)
    permissions.ensure_can_delete_room(room, membership)
    members = (
        (await session.execute(select(Membership.user_id).where(Membership.room_id == room_id)))
        .scalars()
        .all()
    )
    # Messages and memberships go with the room (ON DELETE CASCADE in the database).
    await session.delete(room)
    await session.flush()
    defer_event(session, events.room_deleted(room_id=room_id, frame=frames.room_deleted(room_id)))
    by = UserRead.model_validate(user).model_dump_json()
    gone = frames.room_left(room_id=room_id, reason="deleted", by_json=by)
    for member_id in members:
        defer_event(session, events.user_frame(user_id=member_id, frame=gone))
