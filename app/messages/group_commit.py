"""Group commit: sends that arrive together are stored together.

One task takes everything waiting (up to `batch_size`) and hands it to the store: on
PostgreSQL one statement on a connection of its own (`pg_store`), elsewhere one SQLAlchemy
transaction (`session_store`). Only after the commit does it report, through two named sinks:
each outcome to its submitter's `acked`, in arrival order (so a sender's ack precedes the
broadcast), then the new messages, in `seq` (and `rev`) order, to `committed` (the broker's
`publish_all`, handed over by `lifespan`).

At low load a batch is one message; under load, the time one commit takes is the time the
next batch has to gather, so throughput grows with load instead of queueing behind one
fsync per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core import metrics
from app.core.database import Database, EventSink, is_unavailable
from app.core.errors import DomainError, Unavailable
from app.delivery import events, frames
from app.messages.pg_store import PostgresStore
from app.messages.sends import (
    BatchStore,
    NewMessage,
    Outcome,
    RepeatedClientId,
    StoreConnectionLost,
    Stored,
    StoreRefusedData,
    StoreUnavailable,
    UnstorableSend,
    unavailable,
)
from app.messages.session_store import SessionStore
from app.messages.threads import RichSends, is_plain

logger = logging.getLogger(__name__)

ATTEMPTS = 3


class Submitter(Protocol):
    def acked(self, submission: Submission, outcome: Outcome) -> None:
        """The `acked` sink: told once `submission` is committed or refused. Never raises."""


@dataclass(frozen=True, slots=True)
class Submission(NewMessage):
    submitter: Submitter
    ref: str | int | None = None  # the client's `ref`, handed back with the outcome
    reply_to: int | None = None  # a message of the room: this send joins its thread


class Reply:
    """A submitter that waits for its one outcome (REST sends)."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

    def acked(self, submission: Submission, outcome: Outcome) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


def store_for(database: Database) -> BatchStore:
    """The fastest store the database allows: PostgreSQL with an engine of its own gets the
    one-statement store; SQLite, or sessions bound to an outer transaction, the portable one."""
    if database.engine is not None and database.dialect == "postgresql":
        return PostgresStore(database.engine)
    return SessionStore(database.sessionmaker)


class MessageCommitter:
    def __init__(
        self,
        store: BatchStore,
        *,
        committed: EventSink,
        rich: RichSends | None = None,
        batch_size: int = 500,
        queue_size: int = 20000,
    ) -> None:
        self._store = store
        # Replies and bodies with `@` (None: only plain sends, e.g. a test of the store).
        self._rich = rich
        self._committed = committed
        self._batch_size = batch_size
        self._queue_size = queue_size
        self._pending: deque[Submission] = deque()
        self._submitted_at: deque[float] = deque()  # beside _pending: send→ack latency
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="parley-group-commit")

    @property
    def closing(self) -> bool:
        return self._closing

    async def drain(self) -> None:
        """Stop taking sends and store (and report) what is already waiting."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """`drain`, then release the store."""
        await self.drain()
        await self._store.close()

    def submit(self, submission: Submission) -> None:
        """Queue a send; its submitter's `acked` is told once it is committed or refused.
        Never blocks."""
        if self._closing:
            raise Unavailable("The server is shutting down; retry with the same client_id.")
        if len(self._pending) >= self._queue_size:
            raise Unavailable("The server is overloaded; retry with the same client_id.")
        self._pending.append(submission)
        self._submitted_at.append(time.perf_counter())
        self._wakeup.set()

    async def send(
        self,
        *,
        room_id: int,
        author_id: int,
        author_json: str,
        body: str,
        client_id: str | None,
        reply_to: int | None = None,
    ) -> Stored:
        """Submit and wait for the commit; raises the refusal if there is one."""
        reply = Reply()
        self.submit(
            Submission(room_id, author_id, author_json, body, client_id, reply, reply_to=reply_to)
        )
        outcome = await reply.outcome
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            count = min(len(self._pending), self._batch_size)
            batch = [self._pending.popleft() for _ in range(count)]
            submitted_at = [self._submitted_at.popleft() for _ in range(count)]
            metrics.COMMIT_BATCH_SIZE.observe(count)
            outcomes = await self._commit_in_order(batch)
            committed = time.perf_counter()
            for submission, outcome in zip(batch, outcomes, strict=True):
                try:
                    submission.submitter.acked(submission, outcome)
                except Exception:
                    # One caller's broken sink must not stop the committer for everyone.
                    logger.exception("group commit: acked sink failed")
            metrics.observe_many(metrics.SEND_ACK_SECONDS, [committed - t for t in submitted_at])
            created: list[events.Event] = []
            for outcome in outcomes:
                if isinstance(outcome, Stored) and outcome.created:
                    created.append(
                        events.message_created(
                            room_id=outcome.room_id,
                            seq=outcome.seq,
                            rev=outcome.rev,
                            frame=frames.message(outcome.message_json),
                        )
                    )
                    if outcome.after:  # a reply's root update, mentions: right after it
                        created.extend(outcome.after)
            if created:
                metrics.STORED.add(len(created))
                await self._committed(created)
                metrics.COMMIT_DELIVERED_SECONDS.observe(time.perf_counter() - committed)

    async def _commit_in_order(self, batch: Sequence[Submission]) -> list[Outcome]:
        """Plain sends in one store call, as always; a reply or a body with `@` on its own
        through the rich path, between the runs of plain sends around it, so that every
        room's seq and rev still follow arrival order."""
        if all(is_plain(s.body, s.reply_to) for s in batch):
            stored = await self._commit(batch)
            if any(isinstance(o, Stored) and not o.created for o in stored):
                return await self._refresh_repeats(batch, stored)
            return stored
        outcomes: list[Outcome] = []
        start = 0
        for index, submission in enumerate(batch):
            if is_plain(submission.body, submission.reply_to):
                continue
            if start < index:
                outcomes.extend(await self._commit(batch[start:index]))
            outcomes.append(await self._store_rich(submission))
            start = index + 1
        if start < len(batch):
            outcomes.extend(await self._commit(batch[start:]))
        if any(isinstance(o, Stored) and not o.created for o in outcomes):
            return await self._refresh_repeats(batch, outcomes)
        return outcomes

    async def _refresh_repeats(
        self, batch: Sequence[Submission], outcomes: list[Outcome]
    ) -> list[Outcome]:
        """Repeated client_ids answered by the store: their originals as they are now."""
        if self._rich is None:
            return outcomes
        return [
            await self._rich.current(outcome, submission)
            if isinstance(outcome, Stored) and not outcome.created
            else outcome
            for submission, outcome in zip(batch, outcomes, strict=True)
        ]

    async def _store_rich(self, submission: Submission) -> Outcome:
        if self._rich is not None:
            return await self._rich.store(submission, submission.reply_to)
        if submission.reply_to is not None:
            return Unavailable("Replies are not available here.")
        return (await self._commit([submission]))[0]

    async def _commit(self, batch: Sequence[Submission]) -> list[Outcome]:
        sends: Sequence[Submission] = batch
        todo: Sequence[int] = range(len(batch))  # which of the batch `sends` are
        look_up_repeats = False
        for _attempt in range(ATTEMPTS):
            try:
                stored = await self._store.store(sends, look_up_repeats=look_up_repeats)
            except RepeatedClientId:
                look_up_repeats = True
                continue
            except StoreConnectionLost as exc:
                # Only sends with a client_id may go again: if the lost statement did commit,
                # the retry finds them stored and answers with the originals.
                todo = [i for i in todo if batch[i].client_id is not None]
                sends = [batch[i] for i in todo]
                logger.warning(
                    "group commit: connection lost (%s); retrying %d of %d sends",
                    exc,
                    len(todo),
                    len(batch),
                )
                look_up_repeats = True
                if todo:
                    continue
                break
            except StoreRefusedData as exc:
                stored = await self._isolate([batch[i] for i in todo], exc)
            except StoreUnavailable as exc:
                # An outage, expected and handled (the senders get `unavailable` and retry).
                logger.warning("group commit: %d sends not stored: %s", len(todo), exc)
                break
            except Exception as exc:
                # The loop must outlive a bad batch, or every later send would hang: refuse
                # this batch (never ack it) and keep serving.
                if is_unavailable(exc):
                    logger.warning(
                        "group commit: database unavailable (%s: %s); %d sends refused",
                        type(exc).__name__,
                        exc,
                        len(todo),
                    )
                else:
                    logger.exception(
                        "group commit: unexpected failure, %d sends refused", len(todo)
                    )
                break
            if len(todo) == len(batch):
                return stored  # the usual case: nothing was left out
            retried = dict(zip(todo, stored, strict=True))
            return [retried[i] if i in retried else unavailable() for i in range(len(batch))]
        return [unavailable() for _ in batch]

    async def _isolate(self, sends: Sequence[Submission], exc: StoreRefusedData) -> list[Outcome]:
        """The database refused something in `sends`: store each half on its own, down to the
        sends it refuses alone, which are refused as unstorable. Only this failure path pays
        for it. The halves go in arrival order (the first half commits before the second),
        so within a room `seq` still follows arrival order."""
        if len(sends) == 1:
            logger.warning("group commit: a send the database refuses was refused: %s", exc)
            return [UnstorableSend()]
        middle = len(sends) // 2
        return [*await self._commit(sends[:middle]), *await self._commit(sends[middle:])]
