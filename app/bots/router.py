from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from limits import RateLimitItemPerHour

from app.auth.dependencies import CurrentUser
from app.auth.exceptions import BotForbidden, InvalidAccessToken, UsernameTaken
from app.bots import service as bot_service
from app.bots.exceptions import BotNotFound, TooManyBots
from app.bots.schemas import BotCreate, BotsPage, BotWithKey
from app.core.errors import RateLimited, error_responses
from app.core.ratelimit import KeyedLimit
from app.core.validation import UserIdPath
from app.dependencies import SessionDep, StateDep
from app.users.models import User
from app.users.schemas import UserRead

router = APIRouter(
    prefix="/bots",
    tags=["bots"],
    responses=error_responses(InvalidAccessToken, BotForbidden),
)


async def get_bot_owner(user: CurrentUser) -> User:
    """Only people manage bots (403 for a bot's key)."""
    return bot_service.ensure_person(user)


BotOwner = Annotated[User, Depends(get_bot_owner)]


async def spend_key_issue(owner: BotOwner, state: StateDep) -> User:
    """Every new key (a new bot, a rotation) leaves rows behind: BOT_KEYS_PER_USER_PER_HOUR."""
    per_hour = state.settings.bot_keys_per_user_per_hour
    limit = KeyedLimit(
        state.limiter, RateLimitItemPerHour(per_hour) if per_hour else None, "bot-keys"
    )
    wait = await limit.take(str(owner.id))
    if wait:
        raise RateLimited(wait, "Too many API keys issued to you this hour; try again later.")
    return owner


KeyIssuer = Annotated[User, Depends(spend_key_issue)]


def shown_once(response: Response) -> None:
    # The key is in this body and nowhere else: no cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BotWithKey,
    responses=error_responses(UsernameTaken, TooManyBots, RateLimited),
)
async def create_bot(
    data: BotCreate, owner: KeyIssuer, session: SessionDep, state: StateDep, response: Response
) -> BotWithKey:
    """Create a bot you own, and its API key. The key is shown in this answer only; the bot
    uses it as `Authorization: Bearer <api_key>` (REST and `/ws`)."""
    bot, api_key = await bot_service.create_bot(session, state.settings, owner, data)
    shown_once(response)
    return BotWithKey(bot=UserRead.model_validate(bot), api_key=api_key)


@router.get("", response_model=BotsPage)
async def list_bots(owner: BotOwner, session: SessionDep) -> BotsPage:
    """Your bots, with the public part of each one's current key."""
    return BotsPage(bots=await bot_service.list_bots(session, owner))


@router.post(
    "/{user_id}/key",
    response_model=BotWithKey,
    responses=error_responses(BotNotFound, RateLimited),
)
async def rotate_key(
    user_id: UserIdPath, owner: KeyIssuer, session: SessionDep, response: Response
) -> BotWithKey:
    """Replace the bot's API key. The old key stops at once: it answers 401 and the
    WebSockets it opened close with 4401. The new key is shown in this answer only."""
    bot, api_key = await bot_service.rotate_key(session, owner, user_id)
    shown_once(response)
    return BotWithKey(bot=UserRead.model_validate(bot), api_key=api_key)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(BotNotFound),
)
async def delete_bot(user_id: UserIdPath, owner: BotOwner, session: SessionDep) -> None:
    """Delete the bot: its key stops (sockets close 4401), it leaves its rooms, and rooms it
    owned pass to you. Its messages stay, still showing it as their author."""
    await bot_service.delete_bot(session, owner, user_id)
