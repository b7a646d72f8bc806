"""The database side of delivering: leases, the cursor, and what each attempt leaves behind.

A lease is two columns of the webhook row (`lease_owner`, `lease_expires_at`), taken and
renewed by conditional UPDATEs that only succeed for a free, expired or own lease: on
PostgreSQL two processes racing for one row serialize on its row lock and the loser's WHERE
no longer matches; SQLite has one writer at a time. Every write a delivery makes (the cursor,
the failure count) is conditional on still holding the lease.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.messages.models import RoomChange
from app.webhooks.models import Delivery, State, Webhook


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(Webhook.lease_expires_at.is_(None), Webhook.lease_expires_at < now)


def _after_cursor() -> ColumnElement[bool]:
    return or_(
        RoomChange.rev > Webhook.cursor_rev,
        and_(RoomChange.rev == Webhook.cursor_rev, RoomChange.part > Webhook.cursor_part),
    )


async def due(
    session: AsyncSession, *, now: datetime, limit: int, skip: Collection[int], postgres: bool
) -> list[int]:
    """Active webhooks with changes after their cursor, not leased, not waiting to retry:
    healthy ones first, then those failing, the longest due first."""
    query = (
        select(Webhook.id)
        .where(
            Webhook.state == State.ACTIVE.value,
            _lease_free(now),
            or_(Webhook.retry_at.is_(None), Webhook.retry_at <= now),
            exists().where(RoomChange.room_id == Webhook.room_id, _after_cursor()),
        )
        # Healthy webhooks first, then failing ones by how long they have been due: ordering
        # by id alone let the oldest webhooks, failing at every attempt, take every slot.
        .order_by(Webhook.retry_at.is_not(None), Webhook.retry_at, Webhook.id)
        .limit(limit)
    )
    if skip:
        query = query.where(Webhook.id.not_in(sorted(skip)))
    if postgres:
        # Rows another process is claiming right now are skipped instead of waited for.
        query = query.with_for_update(skip_locked=True, of=Webhook)
    return list((await session.scalars(query)).all())


async def claim(
    session: AsyncSession, webhook_id: int, *, owner: str, now: datetime, seconds: float
) -> bool:
    result = await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, or_(_lease_free(now), Webhook.lease_owner == owner))
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def renew(
    session: AsyncSession,
    webhook_id: int,
    *,
    owner: str,
    now: datetime,
    seconds: float,
    cursor: tuple[int, int] | None = None,
) -> bool:
    """Extend this process's lease (and move the cursor past skipped changes); whether it
    was still held."""
    values: dict[str, object] = {"lease_expires_at": now + timedelta(seconds=seconds)}
    if cursor is not None:
        values["cursor_rev"], values["cursor_part"] = cursor
    result = await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, webhook_id: int, *, owner: str) -> None:
    await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


async def held(session: AsyncSession, webhook_id: int, *, owner: str) -> Webhook | None:
    """The webhook, if this process still holds its lease."""
    webhook = await session.get(Webhook, webhook_id, populate_existing=True)
    if webhook is None or webhook.lease_owner != owner:
        return None
    return webhook


async def pending(session: AsyncSession, webhook: Webhook, *, limit: int) -> Sequence[RoomChange]:
    """The next changes after the webhook's cursor, in (rev, part) order."""
    query = (
        select(RoomChange)
        .where(
            RoomChange.room_id == webhook.room_id,
            or_(
                RoomChange.rev > webhook.cursor_rev,
                and_(RoomChange.rev == webhook.cursor_rev, RoomChange.part > webhook.cursor_part),
            ),
        )
        .order_by(RoomChange.rev, RoomChange.part)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


@dataclass(frozen=True, slots=True)
class Result:
    """What an attempt (or a run of skipped changes) does to the webhook row."""

    cursor: tuple[int, int] | None  # advanced to it
    failures: int
    retry_at: datetime | None
    disabled: bool


async def settle(
    session: AsyncSession,
    webhook_id: int,
    *,
    owner: str,
    result: Result,
    now: datetime,
    lease_seconds: float,
) -> bool:
    """Write the outcome and renew the lease, if still held; whether it was."""
    values: dict[str, object] = {
        "failures": result.failures,
        "retry_at": result.retry_at,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
    }
    if result.cursor is not None:
        values["cursor_rev"], values["cursor_part"] = result.cursor
    if result.disabled:
        values["state"] = State.DISABLED.value
    updated = await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.lease_owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(updated.rowcount)  # type: ignore[attr-defined]


async def log_attempt(session: AsyncSession, entry: Delivery, *, keep: int) -> None:
    """Add an attempt to the webhook's delivery log and drop all but the newest `keep`."""
    session.add(entry)
    await session.flush()
    cutoff = await session.scalar(
        select(Delivery.id)
        .where(Delivery.webhook_id == entry.webhook_id)
        .order_by(Delivery.id.desc())
        .offset(keep)
        .limit(1)
    )
    if cutoff is not None:
        await session.execute(
            delete(Delivery).where(Delivery.webhook_id == entry.webhook_id, Delivery.id <= cutoff)
        )


async def prune_changes(session: AsyncSession, room_id: int) -> None:
    """Drop the room's log entries every webhook of the room is past (disabled ones too: they
    resume where they stopped when re-enabled)."""
    oldest = await session.scalar(
        select(func.min(Webhook.cursor_rev)).where(Webhook.room_id == room_id)
    )
    if oldest is not None:
        await session.execute(
            delete(RoomChange).where(RoomChange.room_id == room_id, RoomChange.rev < oldest)
        )


async def rooms_with_webhooks(session: AsyncSession) -> set[int]:
    rows = await session.scalars(
        select(Webhook.room_id).where(Webhook.state == State.ACTIVE.value).distinct()
    )
    return set(rows.all())
