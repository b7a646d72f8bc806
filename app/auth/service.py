"""Accounts, sessions and tokens. Services flush; the caller's transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.exceptions import (
    BotForbidden,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
)
from app.auth.models import AuthSession, RefreshToken
from app.auth.schemas import Tokens
from app.bots import keys as api_keys
from app.core.config import Settings
from app.core.database import defer_event, utcnow
from app.core.security import (
    InvalidToken,
    PasswordHasher,
    create_access_token,
    decode_access_token,
    hash_refresh_token,
    new_refresh_token,
)
from app.delivery import events
from app.users import service as user_service
from app.users.models import User
from app.users.schemas import UserCreate

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who is calling, through which session, and until when their access token is good."""

    user: User
    session_id: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshReused:
    """A rotated refresh token came back: the session was revoked and the caller gets 401."""

    session_id: int


async def signup(session: AsyncSession, hasher: PasswordHasher, data: UserCreate) -> User:
    # Hashed before the first query, so that no connection (on SQLite: the write lock) is held
    # while the hash waits for a slot and runs. A taken name then costs a hash, which the
    # per-address signup limit bounds.
    password_hash = await hasher.hash(data.password)
    return await user_service.create_user(
        session,
        username=data.username,
        display_name=data.display_name,
        password_hash=password_hash,
    )


async def authenticate_password(
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    hasher: PasswordHasher,
    *,
    username: str,
    password: str,
) -> User:
    """Check a username and password. The user is read in a short transaction of its own and
    the password verified after it ended: no connection (on SQLite: the write lock) is held
    while the hash waits for a slot and runs."""
    async with transaction() as session:
        user = await user_service.get_user_by_username(session, username)
    if user is not None and user.is_bot:
        # Bots are public (`bot: true` on User), so saying so reveals nothing; no hash spent.
        raise BotForbidden("Bots cannot log in with a password; use the bot's API key.")
    ok, new_hash = await hasher.verify(password, user.password_hash if user else None)
    if user is None or not ok:
        raise InvalidCredentials()
    if new_hash is not None:
        async with transaction() as session:
            await session.execute(
                update(User).where(User.id == user.id).values(password_hash=new_hash)
            )
        user.password_hash = new_hash
    return user


async def start_session(session: AsyncSession, settings: Settings, user: User) -> Tokens:
    now = utcnow()
    auth_session = AuthSession(
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    session.add(auth_session)
    await session.flush()
    return await _issue_tokens(session, settings, auth_session, now=now)


async def rotate_refresh_token(
    session: AsyncSession, settings: Settings, token: str
) -> Tokens | RefreshReused:
    """Trade a refresh token for a new pair. A token that was already used is a sign of theft:
    the whole session is revoked (and that must be committed even though the caller fails)."""
    if api_keys.looks_like_api_key(token):
        raise BotForbidden(
            "An API key is not refreshed: it does not expire. Its owner rotates it with "
            "POST /bots/{user_id}/key."
        )
    now = utcnow()
    row = await session.execute(
        select(RefreshToken, AuthSession)
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    found = row.one_or_none()
    if found is None:
        raise InvalidRefreshToken()
    refresh, auth_session = found
    if auth_session.revoked_at is not None or auth_session.expires_at <= now:
        raise InvalidRefreshToken()
    if refresh.expires_at <= now:
        raise InvalidRefreshToken()
    # Conditional update: of two concurrent refreshes with one token, exactly one wins.
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == refresh.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        logger.warning(
            "refresh token reuse on session %s of user %s: session revoked",
            auth_session.id,
            auth_session.user_id,
        )
        await revoke_session(session, auth_session.id)
        return RefreshReused(auth_session.id)
    auth_session.expires_at = now + timedelta(seconds=settings.refresh_token_ttl_seconds)
    return await _issue_tokens(session, settings, auth_session, now=now)


async def revoke_session(session: AsyncSession, session_id: int) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    defer_event(session, events.session_revoked(session_id=session_id))


async def logout(session: AsyncSession, auth: AuthContext, refresh_token: str | None) -> None:
    """Revoke the caller's session, and the refresh token's session if it is also theirs."""
    if auth.user.is_bot:
        # Logging out would revoke the key itself; only its owner does that, on purpose.
        raise BotForbidden(
            "A bot does not log out; its owner rotates or deletes its key (see /bots)."
        )
    session_ids = {auth.session_id}
    if refresh_token:
        other = await session.execute(
            select(AuthSession.id)
            .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
            .where(
                RefreshToken.token_hash == hash_refresh_token(refresh_token),
                AuthSession.user_id == auth.user.id,
            )
        )
        session_ids.update(other.scalars())
    for session_id in sorted(session_ids):
        await revoke_session(session, session_id)


async def authenticate_access_token(
    session: AsyncSession, settings: Settings, token: str
) -> AuthContext:
    """Decode and check an access token, including that its session is still live.

    A bot's API key is accepted here too (the one place every caller, REST and WebSocket,
    is authenticated): its key's session plays the part of the token's."""
    if api_keys.looks_like_api_key(token):
        holder = await api_keys.find_holder(session, token)
        if holder is None:
            raise InvalidAccessToken("Invalid, revoked or rotated API key.")
        bot, key_session_id = holder
        return AuthContext(user=bot, session_id=key_session_id, expires_at=api_keys.NEVER)
    try:
        claims = decode_access_token(token, key=settings.signing_key)
    except InvalidToken as exc:
        raise InvalidAccessToken() from exc
    row = await session.execute(
        select(User, AuthSession.revoked_at, AuthSession.expires_at)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(AuthSession.id == claims.session_id, User.id == claims.user_id)
    )
    found = row.one_or_none()
    if found is None:
        raise InvalidAccessToken()
    user, revoked_at, session_expires_at = found
    if revoked_at is not None or session_expires_at <= utcnow():
        raise InvalidAccessToken()
    return AuthContext(user=user, session_id=claims.session_id, expires_at=claims.expires_at)


async def _issue_tokens(
    session: AsyncSession, settings: Settings, auth_session: AuthSession, *, now: datetime
) -> Tokens:
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=hash_refresh_token(refresh),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    access, _expires = create_access_token(
        user_id=auth_session.user_id,
        session_id=auth_session.id,
        ttl_seconds=settings.access_token_ttl_seconds,
        key=settings.signing_key,
        now=now,
    )
    return Tokens(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_seconds,
    )
