"""Creating bots, listing them, rotating their keys, deleting them. Services flush; the
caller's transaction commits (and then publishes the revocations, which close sockets)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth_service
from app.auth.exceptions import BotForbidden
from app.auth.models import AuthSession
from app.bots import keys
from app.bots.exceptions import BotNotFound, TooManyBots
from app.bots.models import ApiKey, Bot
from app.bots.schemas import BotCreate, BotRead
from app.core.config import Settings
from app.core.database import utcnow
from app.rooms import membership as membership_service
from app.rooms.models import Membership, Role
from app.users import service as user_service
from app.users.models import NO_PASSWORD, User
from app.users.schemas import UserRead

logger = logging.getLogger(__name__)


def ensure_person(user: User) -> User:
    if user.is_bot:
        raise BotForbidden("Bots cannot create or manage bots.")
    return user


async def create_bot(
    session: AsyncSession, settings: Settings, owner: User, data: BotCreate
) -> tuple[User, str]:
    """A new bot owned by `owner`, and its first API key (plaintext, to be shown once)."""
    ensure_person(owner)
    # The owner's row, locked: concurrent creations by one owner count each other.
    await session.execute(select(User.id).where(User.id == owner.id).with_for_update())
    live = await session.scalar(
        select(func.count())
        .select_from(Bot)
        .join(User, User.id == Bot.user_id)
        .where(Bot.owner_id == owner.id, User.deleted_at.is_(None))
    )
    if (live or 0) >= settings.bots_per_user:
        raise TooManyBots(
            f"You have {live} bots, the most allowed ({settings.bots_per_user}); delete one first."
        )
    bot = await user_service.create_user(
        session,
        username=data.username,
        display_name=data.display_name,
        password_hash=NO_PASSWORD,
        is_bot=True,
    )
    session.add(Bot(user_id=bot.id, owner_id=owner.id))
    api_key = await _issue_key(session, bot)
    logger.info("user %s created bot %s", owner.id, bot.id)
    return bot, api_key


async def list_bots(session: AsyncSession, owner: User) -> list[BotRead]:
    rows = await session.execute(
        select(User, ApiKey.key_id, ApiKey.created_at)
        .join(Bot, Bot.user_id == User.id)
        .join(ApiKey, ApiKey.user_id == User.id)
        .join(AuthSession, AuthSession.id == ApiKey.session_id)
        .where(
            Bot.owner_id == owner.id,
            User.deleted_at.is_(None),
            AuthSession.revoked_at.is_(None),
        )
        .order_by(User.username_key)
    )
    return [
        BotRead(bot=UserRead.model_validate(bot), key_hint=keys.hint(key_id), key_created_at=at)
        for bot, key_id, at in rows
    ]


async def rotate_key(session: AsyncSession, owner: User, bot_id: int) -> tuple[User, str]:
    """A new key for the bot; the old one stops at once (its sockets close with 4401)."""
    bot = await _own_bot(session, owner, bot_id)
    await _revoke_keys(session, bot.id)
    api_key = await _issue_key(session, bot)
    logger.info("user %s rotated the key of bot %s", owner.id, bot.id)
    return bot, api_key


async def delete_bot(session: AsyncSession, owner: User, bot_id: int) -> None:
    """End the bot: its key stops (sockets close 4401), it leaves every room, and rooms it
    owned pass to its owner. The account row stays, marked deleted, so that its messages keep
    their author (history stays readable) and its username cannot be taken to impersonate it.
    """
    bot = await _own_bot(session, owner, bot_id)
    await _revoke_keys(session, bot.id)
    memberships = await session.scalars(select(Membership).where(Membership.user_id == bot.id))
    for membership in list(memberships):
        room_id = membership.room_id
        if membership.role == Role.OWNER:
            # Through the ordinary membership rules (and their events): the bot adds its
            # owner if needed, hands over ownership, and is then an admin who can leave.
            await membership_service.put_member(session, bot, room_id, owner.id, None)
            await membership_service.put_member(session, bot, room_id, owner.id, Role.OWNER)
        await membership_service.remove_member(session, bot, room_id, bot.id)
    bot.deleted_at = utcnow()
    await session.flush()
    logger.info("user %s deleted bot %s", owner.id, bot.id)


async def _own_bot(session: AsyncSession, owner: User, bot_id: int) -> User:
    """The caller's live bot, locked (concurrent rotations take turns); anyone else's bot,
    or a person, answers 404 so that ids reveal nothing."""
    ensure_person(owner)
    bot = await session.scalar(
        select(User)
        .join(Bot, Bot.user_id == User.id)
        .where(User.id == bot_id, Bot.owner_id == owner.id, User.deleted_at.is_(None))
        .with_for_update(of=User)
    )
    if bot is None:
        raise BotNotFound()
    return bot


async def _issue_key(session: AsyncSession, bot: User) -> str:
    now = utcnow()
    key_session = AuthSession(user_id=bot.id, created_at=now, expires_at=keys.NEVER)
    session.add(key_session)
    await session.flush()
    key = keys.new_key()
    session.add(
        ApiKey(
            key_id=key.key_id,
            key_hash=key.key_hash,
            user_id=bot.id,
            session_id=key_session.id,
            created_at=now,
        )
    )
    await session.flush()
    return key.plaintext


async def _revoke_keys(session: AsyncSession, bot_id: int) -> None:
    live = await session.scalars(
        select(ApiKey.session_id)
        .join(AuthSession, AuthSession.id == ApiKey.session_id)
        .where(ApiKey.user_id == bot_id, AuthSession.revoked_at.is_(None))
    )
    for session_id in list(live):
        await auth_service.revoke_session(session, session_id)
