from __future__ import annotations

from fastapi import APIRouter, Request, status

from app.auth import service as auth_service
from app.auth.dependencies import CurrentAuth, LoginFormDep
from app.auth.exceptions import (
    BotForbidden,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    UsernameTaken,
)
from app.auth.schemas import LogoutRequest, RefreshRequest, Tokens
from app.core.errors import RateLimited, error_responses
from app.dependencies import SessionDep, StateDep
from app.users.schemas import UserCreate, UserRead
from app.users.service import username_key

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=error_responses(UsernameTaken, RateLimited),
)
async def signup(
    data: UserCreate, request: Request, session: SessionDep, state: StateDep
) -> object:
    """Create an account. Usernames are unique regardless of case. Signups are limited per
    client address (429 with Retry-After)."""
    await state.auth_throttle.check_signup(client_address(request))
    return await auth_service.signup(session, state.hasher, data)


@router.post(
    "/login",
    response_model=Tokens,
    responses=error_responses(InvalidCredentials, BotForbidden, RateLimited),
)
async def login(
    form: LoginFormDep,
    request: Request,
    session: SessionDep,
    state: StateDep,
) -> Tokens:
    """Log in with the OAuth2 password form (this is what /docs' Authorize button calls).
    Failed logins are limited per client address and per username (429 with Retry-After)."""
    address = client_address(request)
    username = username_key(form.username)
    await state.auth_throttle.check_login(address, username)
    try:
        user = await auth_service.authenticate_password(
            state.transaction, state.hasher, username=form.username, password=form.password
        )
    except InvalidCredentials:
        await state.auth_throttle.login_failed(address, username)
        raise
    await state.auth_throttle.login_succeeded(address, username)
    return await auth_service.start_session(session, state.settings, user)


def client_address(request: Request) -> str:
    """The peer's address, or the client's as told by a trusted proxy (FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


@router.post(
    "/refresh",
    response_model=Tokens,
    responses=error_responses(InvalidRefreshToken, BotForbidden),
)
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
    responses=error_responses(InvalidAccessToken, BotForbidden),
)
async def logout(data: LogoutRequest, auth: CurrentAuth, session: SessionDep) -> None:
    """Revoke the session: its access and refresh tokens stop working and its sockets close."""
    await auth_service.logout(session, auth, data.refresh_token)
