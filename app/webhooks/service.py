"""Managing a room's webhooks (owner and admins, private rooms too) and the `ping` test.

Creating the room's first webhook turns its change log on (`rooms.log_changes`), under the
room's row lock that every change takes: a change committed before it has a rev at or below
the new webhook's cursor, and every later one is logged. Deleting the last turns it off and
drops the log.
"""

from __future__ import annotations

import logging
import time
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import utcnow
from app.core.errors import Conflict, Forbidden, NotFound
from app.messages.models import RoomChange
from app.messages.service import lock_room
from app.rooms import permissions
from app.rooms.models import Room
from app.rooms.service import get_membership
from app.users.models import User
from app.webhooks import leases, payloads, signing
from app.webhooks.models import Delivery, State, Webhook
from app.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)
from app.webhooks.sender import Attempt, Sender

logger = logging.getLogger(__name__)

DELIVERIES_PAGE = 100


class WebhookNotFound(NotFound):
    default_detail = "Webhook not found."


class TooManyWebhooks(Conflict):
    default_detail = "This room has as many webhooks as it may have."


async def ensure_manager(session: AsyncSession, actor: User, room_id: int) -> None:
    """Only the room's owner and admins see and manage its webhooks."""
    _room, membership = await get_membership(session, room_id, actor.id)
    if permissions.rank(membership.role) < permissions.RANK[permissions.Role.ADMIN]:
        raise Forbidden("Only the owner or an admin can manage the room's webhooks.")


def webhook_read(webhook: Webhook) -> WebhookRead:
    return WebhookRead(
        id=webhook.id,
        room_id=webhook.room_id,
        url=webhook.url,
        events=webhook.events.split(","),
        state=State(webhook.state).value,
        created_at=webhook.created_at,
        delivered_rev=webhook.cursor_rev,
        failures=webhook.failures,
    )


async def create_webhook(
    session: AsyncSession,
    actor: User,
    room_id: int,
    data: WebhookCreate,
    *,
    box: signing.SecretBox,
    max_per_room: int,
) -> WebhookCreated:
    """A new webhook, delivering the room's changes from now on. The URL was checked."""
    await ensure_manager(session, actor, room_id)
    await lock_room(session, room_id)
    count = await session.scalar(select(func.count()).where(Webhook.room_id == room_id))
    if (count or 0) >= max_per_room:
        raise TooManyWebhooks(f"A room has at most {max_per_room} webhooks.")
    last_rev = await session.scalar(select(Room.last_rev).where(Room.id == room_id))
    await session.execute(
        update(Room)
        .where(Room.id == room_id)
        .values(log_changes=True)
        .execution_options(synchronize_session=False)
    )
    secret = signing.new_secret()
    webhook = Webhook(
        room_id=room_id,
        created_by=actor.id,
        url=data.url,
        events=",".join(data.events),
        secret=box.seal(secret),
        state=State.ACTIVE.value,
        created_at=utcnow(),
        # Past everything at the room's current rev (part 1 is the last part of a rev).
        cursor_rev=last_rev or 0,
        cursor_part=1,
        failures=0,
    )
    session.add(webhook)
    await session.flush()
    return WebhookCreated(**webhook_read(webhook).model_dump(), secret=secret)


async def list_webhooks(session: AsyncSession, actor: User, room_id: int) -> list[WebhookRead]:
    await ensure_manager(session, actor, room_id)
    rows = await session.scalars(
        select(Webhook).where(Webhook.room_id == room_id).order_by(Webhook.id)
    )
    return [webhook_read(webhook) for webhook in rows]


async def get_webhook(session: AsyncSession, actor: User, room_id: int, webhook_id: int) -> Webhook:
    await ensure_manager(session, actor, room_id)
    webhook = await session.scalar(
        select(Webhook).where(Webhook.id == webhook_id, Webhook.room_id == room_id)
    )
    if webhook is None:
        raise WebhookNotFound()
    return webhook


async def update_webhook(
    session: AsyncSession, actor: User, room_id: int, webhook_id: int, data: WebhookUpdate
) -> WebhookRead:
    """Change the URL (checked already) or events, disable, or re-enable: a re-enabled
    webhook starts again at the change it stopped at, with a fresh count of failures."""
    webhook = await get_webhook(session, actor, room_id, webhook_id)
    if data.url is not None:
        webhook.url = data.url
    if data.events is not None:
        webhook.events = ",".join(data.events)
    if data.state is not None and data.state != webhook.state:
        webhook.state = data.state
        webhook.failures = 0
        webhook.retry_at = None
    await session.flush()
    return webhook_read(webhook)


async def rotate_secret(
    session: AsyncSession,
    actor: User,
    room_id: int,
    webhook_id: int,
    *,
    box: signing.SecretBox,
) -> WebhookCreated:
    """Replace the webhook's signing secret; the answer shows the new one, this once.

    The old secret stops at once: the worker reads the secret again in the transaction that
    renews its lease right before each attempt, so once this commits, every attempt that
    begins signs with the new one (the retry of a delivery in flight or backing off too).
    Only an attempt already under way may still carry the old one; a receiver that refuses
    it makes it fail, and it is retried with backoff as usual, so nothing is lost. Only the
    secret column is written, so a delivery settling meanwhile keeps its cursor and count.
    """
    webhook = await get_webhook(session, actor, room_id, webhook_id)
    secret = signing.new_secret()
    webhook.secret = box.seal(secret)
    await session.flush()
    logger.info(
        "user %s rotated the secret of webhook %s in room %s", actor.id, webhook.id, room_id
    )
    return WebhookCreated(**webhook_read(webhook).model_dump(), secret=secret)


async def delete_webhook(session: AsyncSession, actor: User, room_id: int, webhook_id: int) -> None:
    await get_webhook(session, actor, room_id, webhook_id)
    await lock_room(session, room_id)
    await session.execute(delete(Webhook).where(Webhook.id == webhook_id))
    remaining = await session.scalar(select(func.count()).where(Webhook.room_id == room_id))
    if remaining:
        await leases.prune_changes(session, room_id)
        return
    await session.execute(
        update(Room)
        .where(Room.id == room_id)
        .values(log_changes=False)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(RoomChange).where(RoomChange.room_id == room_id))


async def list_deliveries(
    session: AsyncSession, actor: User, room_id: int, webhook_id: int
) -> list[DeliveryRead]:
    """The newest attempts first (at most WEBHOOK_DELIVERY_LOG_SIZE are kept)."""
    await get_webhook(session, actor, room_id, webhook_id)
    rows = await session.scalars(
        select(Delivery)
        .where(Delivery.webhook_id == webhook_id)
        .order_by(Delivery.id.desc())
        .limit(DELIVERIES_PAGE)
    )
    return [delivery_read(row) for row in rows]


def delivery_read(row: Delivery) -> DeliveryRead:
    return DeliveryRead(
        id=row.delivery_id,
        event=row.event,
        rev=row.rev,
        attempt=row.attempt,
        status_code=row.status_code,
        error=row.error,
        duration_ms=row.duration_ms,
        created_at=row.created_at,
    )


async def ping(
    sender: Sender, box: signing.SecretBox, *, webhook: Webhook, last_rev: int
) -> Delivery:
    """Send a `ping` now, outside the ordered stream (a disabled webhook too: it is how one
    checks the receiver before re-enabling); the attempt, to be logged. It counts toward
    nothing."""
    delivery = str(uuid.uuid4())
    now = utcnow()
    body = payloads.encode(
        delivery=delivery,
        event=payloads.PING,
        room_id=webhook.room_id,
        rev=last_rev,
        message=None,
        created_at=now,
    )
    try:
        secret = box.open(webhook.secret)
    except signing.SecretUnreadable:
        attempt = Attempt(None, "the secret cannot be read: SECRET_KEY changed", 0.0)
    else:
        headers = signing.headers(
            secret=secret, delivery_id=delivery, timestamp=int(time.time()), body=body
        )
        attempt = await sender.post(webhook.url, body=body, headers=headers)
    return Delivery(
        webhook_id=webhook.id,
        delivery_id=delivery,
        event=payloads.PING,
        rev=last_rev,
        attempt=1,
        status_code=attempt.status_code,
        error=attempt.error,
        duration_ms=round(attempt.seconds * 1000),
        created_at=now,
    )


async def last_rev(session: AsyncSession, room_id: int) -> int:
    return int(await session.scalar(select(Room.last_rev).where(Room.id == room_id)) or 0)


async def log_ping(session: AsyncSession, entry: Delivery, *, keep: int) -> None:
    """Log a ping's attempt, unless its webhook was deleted meanwhile."""
    if await session.get(Webhook, entry.webhook_id) is not None:
        await leases.log_attempt(session, entry, keep=keep)
