"""Reactions and threads: the Version 2 routes on a room's messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import CurrentUser
from app.auth.exceptions import InvalidAccessToken
from app.core.errors import error_responses
from app.core.validation import BIGINT_MAX, EmojiPath, MessageIdPath, RoomIdPath
from app.dependencies import SessionDep
from app.messages import reactions as reaction_service
from app.messages import threads as thread_service
from app.messages.reactions import TooManyEmoji
from app.messages.schemas import MessageRead, RepliesPage
from app.messages.service import MessageDeleted, MessageNotFound
from app.rooms.exceptions import NotRoomMember, RoomNotFound

router = APIRouter(
    prefix="/rooms/{room_id}/messages/{message_id}",
    tags=["messages"],
    responses=error_responses(InvalidAccessToken),
)


@router.put(
    "/reactions/{emoji}",
    response_model=MessageRead,
    responses=error_responses(
        RoomNotFound, MessageNotFound, NotRoomMember, MessageDeleted, TooManyEmoji
    ),
)
async def add_reaction(
    room_id: RoomIdPath,
    message_id: MessageIdPath,
    emoji: EmojiPath,
    user: CurrentUser,
    session: SessionDep,
) -> MessageRead:
    """React with `emoji` (percent-encoded). Reacting again changes nothing; a message takes
    at most 20 different emoji (409); a deleted one takes none (409). Subscribers get
    `message.updated` when something changed."""
    return await reaction_service.react(session, user, room_id, message_id, emoji)


@router.delete(
    "/reactions/{emoji}",
    response_model=MessageRead,
    responses=error_responses(RoomNotFound, MessageNotFound, NotRoomMember, MessageDeleted),
)
async def remove_reaction(
    room_id: RoomIdPath,
    message_id: MessageIdPath,
    emoji: EmojiPath,
    user: CurrentUser,
    session: SessionDep,
) -> MessageRead:
    """Remove your reaction with `emoji`; removing one you don't have changes nothing."""
    return await reaction_service.unreact(session, user, room_id, message_id, emoji)


@router.get(
    "/replies",
    response_model=RepliesPage,
    responses=error_responses(RoomNotFound, MessageNotFound, NotRoomMember),
)
async def list_replies(
    room_id: RoomIdPath,
    message_id: MessageIdPath,
    user: CurrentUser,
    session: SessionDep,
    after_seq: Annotated[
        int, Query(ge=0, le=BIGINT_MAX, description="Replies with a seq above this.")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=thread_service.MAX_REPLIES_PAGE)
    ] = thread_service.DEFAULT_REPLIES_PAGE,
) -> RepliesPage:
    """The thread: the message's replies, oldest first, tombstones included. A message that
    is itself a reply has none."""
    messages, has_more = await thread_service.list_replies(
        session, user, room_id, message_id, after_seq=after_seq, limit=limit
    )
    return RepliesPage(messages=messages, has_more=has_more)
