"""create_user, the one way accounts are made (signup and bot creation both go through it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auth.exceptions import UsernameTaken
from app.core.database import Database, utcnow
from app.users import service as user_service
from app.users.models import NO_PASSWORD, User


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    # As the app's sessions are in tests: inside the test's outer transaction, rolled back.
    async with Database.bound_to(connection).sessionmaker() as session:
        yield session


async def test_names_are_taken_in_any_case_and_deleted_bots_keep_theirs(
    session: AsyncSession,
) -> None:
    dave = await user_service.create_user(
        session, username="Dave", display_name=None, password_hash="h"
    )
    # Flushed (it has its id, so a caller can point rows at it); the display name defaults.
    assert dave.id is not None
    assert (dave.username_key, dave.display_name, dave.is_bot) == ("dave", "Dave", False)
    with pytest.raises(UsernameTaken):
        await user_service.create_user(
            session, username="dAVE", display_name="x", password_hash="h"
        )
    bot = await user_service.create_user(
        session, username="old-bot", display_name="Old", password_hash=NO_PASSWORD, is_bot=True
    )
    assert (bot.is_bot, bot.display_name, bot.password_hash) == (True, "Old", NO_PASSWORD)
    bot.deleted_at = utcnow()
    await session.flush()
    with pytest.raises(UsernameTaken):
        await user_service.create_user(
            session, username="OLD-BOT", display_name=None, password_hash="h"
        )


@pytest.mark.parametrize("is_bot", [False, True], ids=["person", "bot"])
async def test_a_name_taken_between_the_check_and_the_insert_is_username_taken(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch, is_bot: bool
) -> None:
    """Two signups of one name at once: both checks find it free, and the unique key refuses
    the second insert. That must answer 409 (not 500) and leave the caller's transaction
    usable, on SQLite and on PostgreSQL (where a failed statement aborts the transaction
    unless it ran in a savepoint)."""
    real_lookup = user_service.get_user_by_username

    async def lookup_then_rival_signs_up(session: AsyncSession, username: str) -> User | None:
        found = await real_lookup(session, username)
        # The rival's row lands after our check saw the name free, in another case.
        await session.execute(
            insert(User).values(
                username="RACER",
                username_key="racer",
                display_name="Rival",
                password_hash="h",
                created_at=utcnow(),
            )
        )
        return found

    monkeypatch.setattr(user_service, "get_user_by_username", lookup_then_rival_signs_up)
    with pytest.raises(UsernameTaken):
        await user_service.create_user(
            session, username="racer", display_name=None, password_hash="h", is_bot=is_bot
        )
    monkeypatch.undo()

    # The rival keeps the name; ours left nothing; the transaction goes on.
    rows = await session.execute(
        select(User.username, User.display_name).where(User.username_key == "racer")
    )
    assert rows.all() == [("RACER", "Rival")]
    after = await user_service.create_user(
        session, username="racer2", display_name=None, password_hash="h"
    )
    assert (
        await session.scalar(select(func.count()).select_from(User).where(User.id == after.id)) == 1
    )
