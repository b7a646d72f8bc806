"""Group commit: sends that arrive together are stored together.

One task takes everything waiting (up to `batch_size`) and hands it to the store: on
PostgreSQL one statement on a connection of its own (`pg_store`), elsewhere one SQLAlchemy
transaction (`session_store`). Only after the commit does it report each outcome, in arrival
order (so a sender's ack precedes the broadcast), and publish the new messages in `seq`
(and `rev`) order.

At low load a batch is one message; under load, the time one commit takes is the time the
next batch has to gather, so throughput grows with load instead of queueing behind one
fsync per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.database import Database, EventSink
from app.core.errors import DomainError, Unavailable
from app.messages.pg_store import PostgresStore
from app.messages.sends import (
    BatchStore,
    Outcome,
    RepeatedClientId,
    Send,
    StoreConnectionLost,
    Stored,
    StoreUnavailable,
    unavailable,
)
from app.messages.session_store import SessionStore
from app.realtime import events, frames

logger = logging.getLogger(__name__)

ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Submission(Send):
    on_done: Callable[[Outcome], None]


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
        publish: EventSink,
        *,
        batch_size: int = 500,
        queue_size: int = 20000,
    ) -> None:
        self._store = store
        self._publish = publish
        self._batch_size = batch_size
        self._queue_size = queue_size
        self._pending: deque[Submission] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="parley-group-commit")

    async def stop(self) -> None:
        """Store what is already waiting, then stop taking sends."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await self._store.close()

    def submit(self, submission: Submission) -> None:
        """Queue a send; `on_done` is called once it is committed or refused. Never blocks."""
        if self._closing:
            raise Unavailable("The server is shutting down; retry with the same client_id.")
        if len(self._pending) >= self._queue_size:
            raise Unavailable("The server is overloaded; retry with the same client_id.")
        self._pending.append(submission)
        self._wakeup.set()

    async def send(
        self, *, room_id: int, author_id: int, author_json: str, body: str, client_id: str | None
    ) -> Stored:
        """Submit and wait for the commit; raises the refusal if there is one."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def done(outcome: Outcome) -> None:
            if not future.done():
                future.set_result(outcome)

        self.submit(Submission(room_id, author_id, author_json, body, client_id, done))
        outcome = await future
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
            outcomes = await self._commit(batch)
            for submission, outcome in zip(batch, outcomes, strict=True):
                try:
                    submission.on_done(outcome)
                except Exception:
                    # One caller's broken callback must not stop the committer for everyone.
                    logger.exception("group commit: outcome callback failed")
            created = [
                events.message_created(
                    room_id=outcome.room_id,
                    seq=outcome.seq,
                    rev=outcome.rev,
                    frame=frames.message(outcome.message_json),
                )
                for outcome in outcomes
                if isinstance(outcome, Stored) and outcome.created
            ]
            if created:
                await self._publish(created)

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
            except StoreUnavailable as exc:
                logger.error("group commit: %d sends not stored: %s", len(todo), exc)
                break
            except Exception:
                # The loop must outlive a bad batch, or every later send would hang: refuse
                # this batch (never ack it) and keep serving.
                logger.exception("group commit: unexpected failure, %d sends refused", len(todo))
                break
            if len(todo) == len(batch):
                return stored  # the usual case: nothing was left out
            retried = dict(zip(todo, stored, strict=True))
            return [retried[i] if i in retried else unavailable() for i in range(len(batch))]
        return [unavailable() for _ in batch]
