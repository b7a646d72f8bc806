"""Who is calling: the same token check for HTTP requests and WebSocket handshakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Form, Query, WebSocket, WebSocketException, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from app.auth import service as auth_service
from app.auth.exceptions import InvalidAccessToken
from app.auth.service import AuthContext
from app.core.validation import SafeText
from app.dependencies import SessionDep, StateDep
from app.users.models import User
from app.users.schemas import PASSWORD_MAX_LENGTH, USERNAME_MAX_LENGTH, UserRead

# tokenUrl makes Swagger UI's Authorize button log in with the OAuth2 password form.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


async def get_auth_context(
    token: Annotated[str | None, Depends(oauth2_scheme)], session: SessionDep, state: StateDep
) -> AuthContext:
    if not token:
        raise InvalidAccessToken("Not authenticated.")
    return await auth_service.authenticate_access_token(session, state.settings, token)


CurrentAuth = Annotated[AuthContext, Depends(get_auth_context)]


class LoginForm(OAuth2PasswordRequestForm):
    """The OAuth2 password form (what /docs' Authorize button posts), bounded at the edge.

    A username or password longer than signup allows can never match, so it is refused at
    once (422) instead of spending a hash on it: the hasher would choke on a huge password,
    and the refusal depends only on the input, never on which accounts exist."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[SafeText, Form(max_length=USERNAME_MAX_LENGTH, examples=["alice"])],
        password: Annotated[
            SafeText,
            Form(
                max_length=PASSWORD_MAX_LENGTH,
                examples=["correct horse battery"],
                json_schema_extra={"format": "password"},
            ),
        ],
        scope: Annotated[SafeText, Form(max_length=1024, examples=[""])] = "",
        # Parley has no OAuth2 clients: the examples leave these empty rather than "string".
        client_id: Annotated[SafeText | None, Form(max_length=256, examples=[""])] = None,
        client_secret: Annotated[
            SafeText | None,
            Form(max_length=256, examples=[""], json_schema_extra={"format": "password"}),
        ] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


LoginFormDep = Annotated[LoginForm, Depends()]


async def get_current_user(auth: CurrentAuth) -> User:
    return auth.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_auth_context_released(
    token: Annotated[str | None, Depends(oauth2_scheme)], state: StateDep
) -> AuthContext:
    """Authenticate in a short transaction of its own, and hold no connection afterwards.

    For routes that wait on other work that needs the database (a send waits for the group
    committer): holding the request's transaction meanwhile would pin a pooled connection,
    and on SQLite the write lock the committer needs.
    """
    if not token:
        raise InvalidAccessToken("Not authenticated.")
    async with state.transaction() as session:
        return await auth_service.authenticate_access_token(session, state.settings, token)


ReleasedAuth = Annotated[AuthContext, Depends(get_auth_context_released)]


def _bearer_from_header(websocket: WebSocket) -> str | None:
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


@dataclass(frozen=True, slots=True)
class SocketCaller:
    """Who is on a socket. Deliberately small: it lives as long as the connection, and a
    server may hold tens of thousands of them (no ORM object is kept alive here)."""

    user_id: int
    user_json: str
    session_id: int
    expires_at: datetime


async def authenticate_websocket(
    websocket: WebSocket,
    state: StateDep,
    token: Annotated[
        str | None, Query(description="Access token (or an Authorization header).")
    ] = None,
) -> SocketCaller:
    """Refuse the handshake (HTTP 403, policy violation) before accept() on any bad token."""
    raw = token or _bearer_from_header(websocket)
    if not raw:
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "missing access token")
    try:
        async with state.transaction() as session:
            auth = await auth_service.authenticate_access_token(session, state.settings, raw)
    except InvalidAccessToken as exc:
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, exc.detail) from exc
    return SocketCaller(
        user_id=auth.user.id,
        user_json=UserRead.model_validate(auth.user).model_dump_json(),
        session_id=auth.session_id,
        expires_at=auth.expires_at,
    )


WebSocketAuth = Annotated[SocketCaller, Depends(authenticate_websocket)]
