from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import CurrentUser
from app.auth.exceptions import InvalidAccessToken
from app.core.errors import error_responses
from app.core.validation import SafeText, UserIdPath
from app.dependencies import SessionDep
from app.users import service as user_service
from app.users.schemas import UserRead, UsersPage, UserUpdate

router = APIRouter(prefix="/users", tags=["users"], responses=error_responses(InvalidAccessToken))


@router.get("/me", response_model=UserRead)
async def read_me(user: CurrentUser) -> object:
    """The account behind the access token."""
    return user


@router.patch("/me", response_model=UserRead)
async def update_me(data: UserUpdate, user: CurrentUser, session: SessionDep) -> object:
    """Change your display name."""
    return await user_service.update_display_name(session, user, data.display_name)


@router.get("", response_model=UsersPage)
async def find_users(
    _user: CurrentUser,
    session: SessionDep,
    prefix: Annotated[SafeText, Query(min_length=1, max_length=32)],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> UsersPage:
    """Users whose username starts with `prefix`, for inviting people to private rooms."""
    users = await user_service.list_users(session, prefix=prefix, limit=limit)
    return UsersPage(users=[UserRead.model_validate(u) for u in users])


@router.get(
    "/{user_id}", response_model=UserRead, responses=error_responses(user_service.UserNotFound)
)
async def read_user(user_id: UserIdPath, _user: CurrentUser, session: SessionDep) -> object:
    return await user_service.get_user(session, user_id)
