from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import CurrentUser
from app.auth.exceptions import InvalidAccessToken
from app.core.errors import Conflict, Forbidden, error_responses
from app.core.validation import RoomIdPath, SafeText, UserIdPath
from app.dependencies import SessionDep
from app.rooms import dms as dm_service
from app.rooms import membership as membership_service
from app.rooms import service as room_service
from app.rooms.dms import DirectMessageWithYourself
from app.rooms.exceptions import (
    MEMBERS_ONLY,
    NOT_VISIBLE,
    MemberNotFound,
    NotRoomMember,
    OwnerCannotLeave,
    RoomNameTaken,
    RoomNotFound,
)
from app.rooms.schemas import (
    DirectMessageCreate,
    MemberRead,
    MembershipUpdate,
    MembersPage,
    ReadMarkerRead,
    ReadMarkerUpdate,
    RoomCreate,
    RoomForCaller,
    RoomsPage,
    RoomUpdate,
)
from app.users.service import UserNotFound

router = APIRouter(prefix="/rooms", tags=["rooms"], responses=error_responses(InvalidAccessToken))
dms_router = APIRouter(prefix="/dms", tags=["rooms"], responses=error_responses(InvalidAccessToken))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RoomForCaller,
    responses=error_responses(RoomNameTaken),
)
async def create_room(data: RoomCreate, user: CurrentUser, session: SessionDep) -> RoomForCaller:
    """Create a room; you become its owner. Names are unique regardless of case."""
    return await room_service.create_room(session, user, data)


@router.get("", response_model=RoomsPage)
async def list_rooms(
    user: CurrentUser,
    session: SessionDep,
    name: Annotated[
        SafeText | None, Query(max_length=64, description="Only this room (any case).")
    ] = None,
) -> RoomsPage:
    """Public rooms and your private ones, with your role and unread count in each."""
    return RoomsPage(rooms=await room_service.list_rooms(session, user, name=name))


@router.get("/{room_id}", response_model=RoomForCaller, responses=NOT_VISIBLE)
async def read_room(room_id: RoomIdPath, user: CurrentUser, session: SessionDep) -> RoomForCaller:
    return await room_service.read_room(session, user, room_id)


@router.patch(
    "/{room_id}",
    response_model=RoomForCaller,
    responses=error_responses(RoomNotFound, NotRoomMember, Forbidden, RoomNameTaken),
)
async def update_room(
    room_id: RoomIdPath, data: RoomUpdate, user: CurrentUser, session: SessionDep
) -> RoomForCaller:
    """Rename, change the topic or the visibility (owner and admins)."""
    return await room_service.update_room(session, user, room_id, data)


@router.delete(
    "/{room_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(RoomNotFound, NotRoomMember, Forbidden),
)
async def delete_room(room_id: RoomIdPath, user: CurrentUser, session: SessionDep) -> None:
    """Delete the room and its history (owner). Subscribers get `room.deleted`."""
    await room_service.delete_room(session, user, room_id)


@router.get("/{room_id}/members", response_model=MembersPage, responses=MEMBERS_ONLY)
async def list_members(room_id: RoomIdPath, user: CurrentUser, session: SessionDep) -> MembersPage:
    """The room's members, owner first (members only)."""
    return MembersPage(members=await membership_service.list_members(session, user, room_id))


@router.put(
    "/{room_id}/members/{user_id}",
    response_model=MemberRead,
    responses={
        201: {"model": MemberRead, "description": "Joined or added."},
        **error_responses(RoomNotFound, UserNotFound, NotRoomMember, Forbidden, Conflict),
    },
)
async def put_member(
    room_id: RoomIdPath,
    user_id: UserIdPath,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    data: MembershipUpdate | None = None,
) -> MemberRead:
    """Join a public room (your own id), add someone (owner, admin), or set a role (owner).
    Setting someone's role to `owner` hands ownership over; you become an admin."""
    change = await membership_service.put_member(
        session, user, room_id, user_id, data.role if data else None
    )
    response.status_code = status.HTTP_201_CREATED if change.created else status.HTTP_200_OK
    return change.member


@router.delete(
    "/{room_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(
        RoomNotFound, MemberNotFound, NotRoomMember, Forbidden, OwnerCannotLeave
    ),
)
async def remove_member(
    room_id: RoomIdPath, user_id: UserIdPath, user: CurrentUser, session: SessionDep
) -> None:
    """Leave (your own id) or remove someone below your role. The owner cannot leave."""
    await membership_service.remove_member(session, user, room_id, user_id)


@router.put("/{room_id}/read", response_model=ReadMarkerRead, responses=MEMBERS_ONLY)
async def mark_read(
    room_id: RoomIdPath, data: ReadMarkerUpdate, user: CurrentUser, session: SessionDep
) -> ReadMarkerRead:
    """Move your read marker forward (it never moves back); the source of `unread_count`
    and `mention_count`, both returned as they are after it."""
    seq, unread, mentioned = await membership_service.mark_read(session, user.id, room_id, data.seq)
    return ReadMarkerRead(room_id=room_id, seq=seq, unread_count=unread, mention_count=mentioned)


@dms_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RoomForCaller,
    responses={
        200: {"model": RoomForCaller, "description": "The conversation already existed."},
        **error_responses(UserNotFound, DirectMessageWithYourself),
    },
)
async def open_dm(
    data: DirectMessageCreate, user: CurrentUser, session: SessionDep, response: Response
) -> RoomForCaller:
    """Your direct message with that user (`kind: "dm"`): created on first use (201), the
    same room afterwards from either side (200); whoever had left it is added back."""
    opened = await dm_service.open_dm(session, user, data.user_id)
    response.status_code = status.HTTP_201_CREATED if opened.created else status.HTTP_200_OK
    return opened.room
