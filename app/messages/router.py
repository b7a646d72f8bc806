from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import CurrentUser, ReleasedAuth
from app.auth.exceptions import InvalidAccessToken
from app.core.errors import Forbidden, RateLimited, Unavailable, error_responses
from app.core.validation import BIGINT_MAX, MessageIdPath, RoomIdPath, SafeText
from app.dependencies import SessionDep, StateDep
from app.messages import search as search_service
from app.messages import service as message_service
from app.messages.schemas import (
    ChangesPage,
    MessageCreate,
    MessageRead,
    MessagesPage,
    MessageUpdate,
    SearchResults,
)
from app.messages.sends import ClientIdReused
from app.messages.service import MessageDeleted, MessageNotFound
from app.rooms.exceptions import MEMBERS_ONLY, NotRoomMember, RoomNotFound
from app.users.schemas import UserRead

router = APIRouter(
    prefix="/rooms/{room_id}/messages",
    tags=["messages"],
    responses=error_responses(InvalidAccessToken),
)
changes_router = APIRouter(
    prefix="/rooms/{room_id}/changes",
    tags=["messages"],
    responses=error_responses(InvalidAccessToken),
)


@router.get("", response_model=MessagesPage, responses=MEMBERS_ONLY)
async def list_messages(
    room_id: RoomIdPath,
    user: CurrentUser,
    session: SessionDep,
    before_seq: Annotated[
        int | None, Query(ge=0, le=BIGINT_MAX, description="Older than this seq.")
    ] = None,
    after_seq: Annotated[
        int | None, Query(ge=0, le=BIGINT_MAX, description="Newer than this seq.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=message_service.MAX_PAGE)] = message_service.DEFAULT_PAGE,
) -> MessagesPage:
    """History in ascending `seq`. By default the newest `limit`; `before_seq` pages back,
    `after_seq` pages forward (catching up after a resume). Deleted messages stay as
    tombstones (`deleted: true`, empty body) so that seq has no holes."""
    messages, has_more = await message_service.list_history(
        session, user, room_id, before_seq=before_seq, after_seq=after_seq, limit=limit
    )
    return MessagesPage(messages=messages, has_more=has_more)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageRead,
    responses={
        200: {"model": MessageRead, "description": "A repeated client_id: the original message."},
        **error_responses(
            RoomNotFound,
            NotRoomMember,
            ClientIdReused,
            MessageDeleted,
            RateLimited,
            Unavailable,
        ),
    },
)
async def send_message(
    room_id: RoomIdPath, data: MessageCreate, auth: ReleasedAuth, state: StateDep
) -> Response:
    """Store a message and broadcast it to the room's subscribers, exactly like a WebSocket
    `send`. The same `client_id` again returns the original (200) and broadcasts nothing.
    `reply_to` puts it in that message's thread (404 if not in the room, 409 if deleted);
    `@username` mentions of members are recorded and notified."""
    wait = await state.send_limiter.take(f"user:{auth.user.id}")
    if wait:
        raise RateLimited(wait, "You are sending too fast.")
    stored = await state.committer.send(
        room_id=room_id,
        author_id=auth.user.id,
        author_json=UserRead.model_validate(auth.user).model_dump_json(),
        body=data.body,
        client_id=data.client_id,
        reply_to=data.reply_to,
    )
    return Response(
        content=stored.message_json,
        media_type="application/json",
        status_code=status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK,
    )


@router.get("/search", response_model=SearchResults, responses=MEMBERS_ONLY)
async def search_messages(
    room_id: RoomIdPath,
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[
        SafeText, Query(min_length=1, max_length=200, description='Words, "phrases", OR, -word')
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchResults:
    """Full-text search in the room, best match first (deleted messages are not found)."""
    return SearchResults(
        messages=await search_service.search_messages(session, user, room_id, q, limit=limit)
    )


@router.patch(
    "/{message_id}",
    response_model=MessageRead,
    responses=error_responses(
        RoomNotFound, MessageNotFound, NotRoomMember, Forbidden, MessageDeleted
    ),
)
async def edit_message(
    room_id: RoomIdPath,
    message_id: MessageIdPath,
    data: MessageUpdate,
    user: CurrentUser,
    session: SessionDep,
) -> MessageRead:
    """Change your own message's body; subscribers get `message.updated`."""
    return await message_service.edit_message(session, user, room_id, message_id, data.body)


@router.delete(
    "/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(RoomNotFound, MessageNotFound, NotRoomMember, Forbidden),
)
async def delete_message(
    room_id: RoomIdPath, message_id: MessageIdPath, user: CurrentUser, session: SessionDep
) -> None:
    """Delete a message (its author, an admin or the owner): the body is emptied, `deleted`
    is set and the seq stays; subscribers get `message.deleted`."""
    await message_service.delete_message(session, user, room_id, message_id)


@changes_router.get("", response_model=ChangesPage, responses=MEMBERS_ONLY)
async def list_changes(
    room_id: RoomIdPath,
    user: CurrentUser,
    session: SessionDep,
    after_rev: Annotated[
        int, Query(ge=0, le=BIGINT_MAX, description="The highest rev you have seen.")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=message_service.MAX_CHANGES_PAGE)
    ] = message_service.DEFAULT_CHANGES_PAGE,
) -> ChangesPage:
    """The changes after `after_rev`, in `rev` order: every message whose latest change
    (new, edited, deleted) is newer than that, once, in its current state (tombstones
    included). `last_rev` is the next `after_rev`; page until `has_more` is false."""
    messages, last_rev, has_more = await message_service.list_changes(
        session, user, room_id, after_rev=after_rev, limit=limit
    )
    return ChangesPage(messages=messages, last_rev=last_rev, has_more=has_more)
