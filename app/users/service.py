from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
