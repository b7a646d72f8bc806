"""Direct messages: the one private room of exactly two people.

Its name, `dm:<low id>:<high id>`, is one no client can choose (room names allow no `:`),
and the unique `name_key` keeps it one room even when both people open it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import defer_event
from app.core.errors import DomainError
from app.delivery import events, frames
from app.rooms.models import Membership, Role, Room, RoomKind, Visibility
from app.rooms.schemas import RoomForCaller
from app.rooms.service import room_for
from app.users.models import User
from app.users.schemas import UserRead
from app.users.service import get_active_user


class DirectMessageWithYourself(DomainError):
    status_code = 422
    code = "invalid_frame"
    default_detail = "A direct message needs another person: that user id is yours."


@dataclass(frozen=True, slots=True)
class Opened:
    room: RoomForCaller
    created: bool


def dm_name(first: int, second: int) -> str:
    low, high = sorted((first, second))
    return f"dm:{low}:{high}"


async def open_dm(session: AsyncSession, actor: User, user_id: int) -> Opened:
    """The caller's conversation with `user_id`, created on first use; a person who left
    it is added back. Whoever is (re)added hears `room.joined` on all their connections."""
    if user_id == actor.id:
        raise DirectMessageWithYourself()
    other = await get_active_user(session, user_id)
    name = dm_name(actor.id, other.id)
    room = await session.scalar(select(Room).where(Room.name_key == name))
    created = False
    if room is None:
        try:
            async with session.begin_nested():
                room = Room(
                    name=name,
                    name_key=name,
                    topic="",
                    visibility=Visibility.PRIVATE.value,
                    created_by=actor.id,
                    kind=RoomKind.DM.value,
                )
                session.add(room)
                await session.flush()
            created = True
        except IntegrityError:
            # The other person opened it at the same moment: theirs is the one.
            room = await session.scalar(select(Room).where(Room.name_key == name))
            assert room is not None
    joined: list[User] = []
    for person in (actor, other):
        if await session.get(Membership, (room.id, person.id)) is None:
            try:
                async with session.begin_nested():
                    session.add(
                        Membership(room_id=room.id, user_id=person.id, role=Role.MEMBER.value)
                    )
                joined.append(person)
            except IntegrityError:
                pass  # added at the same moment by the other side's request
    by_json = UserRead.model_validate(actor).model_dump_json()
    for person in joined:
        membership = await session.get(Membership, (room.id, person.id))
        seen = await room_for(session, room, membership, person.id)
        frame = frames.room_joined(room_json=seen.model_dump_json(), by_json=by_json)
        defer_event(session, events.user_frame(user_id=person.id, frame=frame))
    membership = await session.get(Membership, (room.id, actor.id))
    return Opened(await room_for(session, room, membership, actor.id), created)
