"""Which webhooks a scan takes first: a webhook that keeps failing must not starve the
healthy ones, nor the failing ones that have waited longer (ordering by id alone let the
oldest webhooks, failing, fill every slot)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.database import utcnow
from app.messages.models import RoomChange
from app.webhooks import leases
from app.webhooks.models import Webhook
from tests.support.rooms import create_room
from tests.support.users import UserFactory
from tests.support.webhook_receiver import Receiver
from tests.support.webhooks import create_webhook


async def test_healthy_webhooks_first_then_the_longest_waiting_failures(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver, connection: AsyncConnection
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    first, second, third = [
        (await create_webhook(client, owner, room["id"], receiver))["id"] for _ in range(3)
    ]
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    now = utcnow()
    session.add(
        RoomChange(
            room_id=room["id"], rev=10**6, part=0, event="message.created", message_id=1, body="x"
        )
    )
    # The two oldest keep failing and may retry now; the second has waited longest.
    for webhook_id, waited in ((first, 2), (second, 5)):
        await session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(failures=3, retry_at=now - timedelta(seconds=waited))
        )
    await session.flush()

    async def due(limit: int) -> list[int]:
        return await leases.due(session, now=now, limit=limit, skip=(), postgres=False)

    assert await due(3) == [third, second, first]
    assert await due(1) == [third]  # one free slot goes to the healthy webhook
