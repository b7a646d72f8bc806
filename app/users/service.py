from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

# The 409 is the signup contract's (app/auth), and bot creation answers with the same one.
from app.auth.exceptions import UsernameTaken
from app.core.errors import NotFound
from app.users.models import User


class UserNotFound(NotFound):
    default_detail = "User not found."


def username_key(username: str) -> str:
    return username.casefold()


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def get_active_user(session: AsyncSession, user_id: int) -> User:
    """A user who can still be added to rooms and DMs: not a deleted bot."""
    user = await get_user(session, user_id)
    if user.deleted_at is not None:
        raise UserNotFound()
    return user


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(User.username_key == username_key(username)))
    return result.scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    display_name: str | None,
    password_hash: str,
    is_bot: bool = False,
) -> User:
    """A new account (a person, or a bot with `is_bot`), flushed so that it has its id.

    Raises UsernameTaken if the name is anyone's in any case, a deleted bot's included (its
    row stays so that no one can pose as it). The display name defaults to the username."""
    if await get_user_by_username(session, username) is not None:
        raise UsernameTaken()
    user = User(
        username=username,
        username_key=username_key(username),
        display_name=display_name or username,
        password_hash=password_hash,
        is_bot=is_bot,
    )
    # The check above can pass for two callers at once; the unique username_key then refuses
    # the second insert. In a SAVEPOINT, so that the failure leaves the caller's transaction
    # usable (on PostgreSQL a failed statement would otherwise abort all of it).
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:  # a concurrent signup took the name between check and insert
        raise UsernameTaken() from exc
    return user


async def list_users(session: AsyncSession, *, prefix: str, limit: int) -> list[User]:
    """Users whose username starts with `prefix` (case-insensitive), for pickers and invites."""
    escaped = username_key(prefix).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = await session.execute(
        select(User)
        .where(User.username_key.like(f"{escaped}%", escape="\\"), User.deleted_at.is_(None))
        .order_by(User.username_key)
        .limit(limit)
    )
    return list(result.scalars())


async def update_display_name(session: AsyncSession, user: User, display_name: str) -> User:
    user.display_name = display_name
    await session.flush()
    return user
