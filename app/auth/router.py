from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app.auth import service as auth_service
from app.auth.dependencies import CurrentAuth
from app.auth.exceptions import (
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    UsernameTaken,
)
from app.auth.schemas import LoginForm, LogoutRequest, RefreshRequest, Tokens
from app.core.errors import RateLimited, error_responses
from app.dependencies import SessionDep, StateDep
from app.users.schemas import UserCreate, UserRead
from app.users.service import username_key

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=error_responses(UsernameTaken),
)
async def signup(data: UserCreate, session: SessionDep, state: StateDep) -> object:
    """Create an account. Usernames are unique regardless of case."""
    return await auth_service.signup(session, state.hasher, data)


@router.post(
    "/login",
    response_model=Tokens,
    responses=error_responses(InvalidCredentials, RateLimited),
)
async def login(
    form: Annotated[LoginForm, Depends()],
    request: Request,
    session: SessionDep,
    state: StateDep,
) -> Tokens:
    """Log in with the OAuth2 password form (this is what /docs' Authorize button calls)."""
    client = request.client.host if request.client else "unknown"
    throttle_key = f"{client}:{username_key(form.username)}"
    wait = state.login_limiter.take(throttle_key)
    if wait:
        raise RateLimited(wait, "Too many login attempts; try again later.")
    user = await auth_service.authenticate_password(
        session, state.hasher, username=form.username, password=form.password
    )
    state.login_limiter.reset(throttle_key)
    return await auth_service.start_session(session, state.settings, user)


@router.post("/refresh", response_model=Tokens, responses=error_responses(InvalidRefreshToken))
async def refresh(data: RefreshRequest, state: StateDep) -> Tokens:
    """Trade a refresh token for a new pair; the old one stops working. Presenting a rotated
    token again revokes the whole session."""
    # Its own transaction rather than SessionDep: a detected reuse must be committed (the
    # session revoked) even though the request then fails with 401.
    async with state.transaction() as session:
        outcome = await auth_service.rotate_refresh_token(
            session, state.settings, data.refresh_token
        )
    if isinstance(outcome, auth_service.RefreshReused):
        raise InvalidRefreshToken("Refresh token was already used; the session is revoked.")
    return outcome


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(InvalidAccessToken),
)
async def logout(data: LogoutRequest, auth: CurrentAuth, session: SessionDep) -> None:
    """Revoke the session: its access and refresh tokens stop working and its sockets close."""
    await auth_service.logout(session, auth, data.refresh_token)
