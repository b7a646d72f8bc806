"""The delivery worker: finds webhooks with undelivered changes, takes their lease, and
delivers each one's changes one at a time in (rev, part) order.

It runs on its own tasks and its own database sessions; chat traffic never waits for it (it
takes no room lock, and a slow receiver only occupies one of WEBHOOK_CONCURRENCY slots).
A commit in this process wakes it at once (`committed`); polling every
WEBHOOK_POLL_INTERVAL_SECONDS finds the rest (other processes' commits, due retries, leases
that expired), so nothing depends on the wake-up.

The cursor moves only after a 2xx, in the same statement that renews the lease, so a crash
repeats at most the attempt that was in flight, with the same delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import metrics
from app.core.config import Settings
from app.core.database import EventSink, is_unavailable, utcnow
from app.webhooks import leases, payloads, signing
from app.webhooks.models import Delivery, State, Webhook
from app.webhooks.sender import Attempt, Sender

logger = logging.getLogger(__name__)

CHANGES_PER_READ = 50
# Wake-ups closer together than this share one scan (a busy room commits many times a second).
MIN_SCAN_INTERVAL_SECONDS = 0.05


@dataclass(slots=True)
class Hook:
    """What delivering needs of a webhook row, read before the session closes."""

    id: int
    room_id: int
    url: str
    secret: str  # sealed; read again before every attempt (a rotation takes effect at once)
    failures: int


@dataclass(frozen=True, slots=True)
class Batch:
    hook: Hook
    # In (rev, part) order: a change to deliver, or the position of one not subscribed to.
    items: list[payloads.Outgoing | tuple[int, int]]


def backoff(failures: int, *, base: float, cap: float) -> float:
    """Seconds before attempt `failures + 1`: half to all of min(cap, base * 2**(failures-1))."""
    delay = min(cap, base * 2 ** min(failures - 1, 60))
    return delay / 2 + random.uniform(0, delay / 2)


class WebhookWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        settings: Settings,
        sender: Sender,
        secrets: signing.SecretBox,
        postgres: bool,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._sender = sender
        self._secrets = secrets
        self._postgres = postgres
        self.owner = f"{uuid.uuid4()}"
        self._wakeup = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._rooms: set[int] = set()  # rooms with an active webhook, as of the last scan
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._outage = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="parley-webhooks")

    def wake(self, room_id: int | None = None) -> None:
        if room_id is not None:
            self._rooms.add(room_id)
        self._wakeup.set()

    def committed(self, sink: EventSink) -> EventSink:
        """`sink`, then a wake-up if a committed event is in a room with a webhook."""

        async def publish_then_wake(events: Sequence[object]) -> None:
            await sink(events)
            if self._rooms and any(getattr(e, "room_id", 0) in self._rooms for e in events):
                self._wakeup.set()

        return publish_then_wake

    async def stop(self, grace: float = 5.0) -> None:
        """Let attempts in flight finish for up to `grace` seconds, then abandon them (their
        change is attempted again later, with the same delivery id); release the leases."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        running = list(self._running.values())
        if running:
            _done, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._scan()
                if self._outage:
                    self._outage = False
                    logger.warning("webhooks: the database can be reached again")
            except Exception as exc:
                # An outage or a bug must not end delivery for good: the next scan retries.
                if not is_unavailable(exc):
                    logger.exception("webhooks: scan failed")
                elif not self._outage:  # once per outage, not at every poll
                    self._outage = True
                    logger.warning("webhooks: cannot reach the database (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.webhook_poll_interval_seconds):
                    await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(MIN_SCAN_INTERVAL_SECONDS)

    async def _scan(self) -> None:
        free = self._settings.webhook_concurrency - len(self._running)
        now = utcnow()
        async with self._sessionmaker() as session, session.begin():
            self._rooms = await leases.rooms_with_webhooks(session)
            if free <= 0:
                return
            candidates = await leases.due(
                session, now=now, limit=free, skip=self._running.keys(), postgres=self._postgres
            )
            claimed = [
                webhook_id
                for webhook_id in candidates
                if await leases.claim(
                    session,
                    webhook_id,
                    owner=self.owner,
                    now=now,
                    seconds=self._settings.webhook_lease_seconds,
                )
            ]
        for webhook_id in claimed:
            task = asyncio.create_task(self._serve(webhook_id), name=f"parley-webhook-{webhook_id}")
            self._running[webhook_id] = task
            task.add_done_callback(partial(self._finished, webhook_id))

    def _finished(self, webhook_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(webhook_id, None)
        self._wakeup.set()  # more may have arrived while it ran; a slot is free again

    async def _serve(self, webhook_id: int) -> None:
        room_id: int | None = None
        try:
            while not self._stopping:
                batch = await self._next(webhook_id)
                if batch is None:
                    return
                room_id = batch.hook.room_id
                if not await self._deliver(batch):
                    return
        except Exception as exc:
            if is_unavailable(exc):  # the lease expires; a later scan takes the webhook again
                logger.warning(
                    "webhooks: webhook %s paused: the database cannot be reached", webhook_id
                )
            else:
                logger.exception("webhooks: delivering webhook %s failed", webhook_id)
        finally:
            await asyncio.shield(self._release(webhook_id, room_id))

    async def _next(self, webhook_id: int) -> Batch | None:
        """The next changes to deliver (or skip), read in one short session that is closed
        before any request is sent; None when there is nothing to do now."""
        async with self._sessionmaker() as session:
            webhook = await leases.held(session, webhook_id, owner=self.owner)
            if webhook is None or webhook.state != State.ACTIVE.value:
                return None
            if webhook.retry_at is not None and webhook.retry_at > utcnow():
                return None
            changes = await leases.pending(session, webhook, limit=CHANGES_PER_READ)
            if not changes:
                return None
            subscribed = set(webhook.events.split(","))
            items: list[payloads.Outgoing | tuple[int, int]] = [
                await payloads.build(session, webhook.id, change)
                if change.event in subscribed
                else (change.rev, change.part)
                for change in changes
            ]
            hook = Hook(webhook.id, webhook.room_id, webhook.url, webhook.secret, webhook.failures)
            return Batch(hook, items)

    async def _deliver(self, batch: Batch) -> bool:
        """Deliver in order; whether to go on (every change was delivered or skipped)."""
        hook = batch.hook
        skipped: tuple[int, int] | None = None
        for item in batch.items:
            if isinstance(item, tuple):
                skipped = item
                continue
            # Renewed right before the attempt, which ends (WEBHOOK_TIMEOUT_SECONDS) well
            # before the lease could expire: a process that takes an expired lease over
            # never overlaps this one.
            if not await self._renew(hook.id, skipped, hook=hook):
                return False
            skipped = None
            attempt = await self._attempt(hook, item)
            if not await self._record(hook, item, attempt) or not attempt.ok:
                return False
            hook.failures = 0
        if skipped is not None:
            return await self._renew(hook.id, skipped)
        return True

    async def _renew(
        self, webhook_id: int, cursor: tuple[int, int] | None, *, hook: Hook | None = None
    ) -> bool:
        """Renew the lease (moving the cursor past `cursor`); whether it was still held.
        Before an attempt (`hook`), its sealed secret is read again in the same transaction:
        a batch outlives a secret rotation, and once a rotation has answered no attempt may
        begin with the old secret (on PostgreSQL the renewal waits for a rotation holding
        the row, and the read then sees the new secret)."""
        async with self._sessionmaker() as session, session.begin():
            held = await leases.renew(
                session,
                webhook_id,
                owner=self.owner,
                now=utcnow(),
                seconds=self._settings.webhook_lease_seconds,
                cursor=cursor,
            )
            if not held or hook is None:
                return held
            secret = await session.scalar(select(Webhook.secret).where(Webhook.id == webhook_id))
            if secret is None:  # the row is gone: nothing more to deliver
                return False
            hook.secret = secret
            return True

    async def _attempt(self, webhook: Hook, outgoing: payloads.Outgoing) -> Attempt:
        try:
            secret = self._secrets.open(webhook.secret)
        except signing.SecretUnreadable:
            return Attempt(None, "the secret cannot be read: SECRET_KEY changed", 0.0)
        timestamp = int(time.time())
        headers = signing.headers(
            secret=secret, delivery_id=outgoing.delivery_id, timestamp=timestamp, body=outgoing.body
        )
        return await self._sender.post(webhook.url, body=outgoing.body, headers=headers)

    async def _record(self, webhook: Hook, outgoing: payloads.Outgoing, attempt: Attempt) -> bool:
        """Log the attempt and move the cursor (2xx) or count the failure, if the lease is
        still held; whether it was."""
        settings = self._settings
        now = utcnow()
        failures = 0 if attempt.ok else webhook.failures + 1
        disabled = not attempt.ok and failures >= settings.webhook_max_failures
        retry_at: datetime | None = None
        if not attempt.ok and not disabled:
            delay = backoff(
                failures,
                base=settings.webhook_backoff_base_seconds,
                cap=settings.webhook_backoff_max_seconds,
            )
            retry_at = now + timedelta(seconds=delay)
        result = leases.Result(
            (outgoing.rev, outgoing.part) if attempt.ok else None, failures, retry_at, disabled
        )
        metrics.WEBHOOK_DELIVERIES.labels(attempt.outcome).inc()
        metrics.WEBHOOK_ATTEMPT_SECONDS.observe(attempt.seconds)
        if attempt.ok:
            metrics.WEBHOOK_LAG_SECONDS.observe(
                max(0.0, (now - outgoing.changed_at).total_seconds())
            )
        if disabled:
            logger.warning(
                "webhooks: webhook %s disabled after %d consecutive failures (last: %s)",
                webhook.id,
                failures,
                attempt.error or attempt.status_code,
            )
        entry = Delivery(
            webhook_id=webhook.id,
            delivery_id=outgoing.delivery_id,
            event=outgoing.event,
            rev=outgoing.rev,
            attempt=webhook.failures + 1,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=round(attempt.seconds * 1000),
            created_at=now,
        )
        async with self._sessionmaker() as session, session.begin():
            kept = await leases.settle(
                session,
                webhook.id,
                owner=self.owner,
                result=result,
                now=now,
                lease_seconds=settings.webhook_lease_seconds,
            )
            if kept:
                await leases.log_attempt(session, entry, keep=settings.webhook_delivery_log_size)
        return kept

    async def _release(self, webhook_id: int, room_id: int | None) -> None:
        try:
            async with self._sessionmaker() as session, session.begin():
                await leases.release(session, webhook_id, owner=self.owner)
                if room_id is not None:
                    await leases.prune_changes(session, room_id)
        except Exception as exc:
            # The lease then simply expires; another scan takes the webhook over.
            logger.warning("webhooks: releasing webhook %s failed: %s", webhook_id, exc)
