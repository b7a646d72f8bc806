"""What the group committer does when the store fails: nothing is acknowledged unless stored,
and a lost connection costs a send with a client_id nothing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.core.errors import Unavailable
from app.messages.group_commit import MessageCommitter, Submission
from app.messages.sends import (
    Outcome,
    RepeatedClientId,
    Send,
    StoreConnectionLost,
    Stored,
    StoreUnavailable,
)


class ScriptedStore:
    """Fails as told, then stores each send it is given (seq in call order)."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[list[str], bool]] = []

    async def store(self, sends: Sequence[Send], *, look_up_repeats: bool) -> list[Outcome]:
        self.calls.append(([s.body for s in sends], look_up_repeats))
        if self.failures:
            raise self.failures.pop(0)
        return [
            Stored(seq, send.room_id, seq, seq, "{}", created=True)
            for seq, send in enumerate(sends, start=1)
        ]

    async def close(self) -> None:
        return None


async def commit(store: ScriptedStore, sends: list[tuple[str, str | None]]) -> list[Outcome]:
    async def discard(_events: object) -> None:
        return None

    committer = MessageCommitter(store, discard)
    batch = [Submission(1, 7, "{}", body, client_id, lambda _o: None) for body, client_id in sends]
    return await committer._commit(batch)


async def test_a_lost_connection_retries_only_the_sends_that_carry_a_client_id() -> None:
    store = ScriptedStore(StoreConnectionLost("server closed the connection"))
    outcomes = await commit(store, [("a", "c-a"), ("b", None), ("c", "c-c")])
    # The retry asks the store to look for the originals: the lost statement may have committed.
    assert store.calls == [(["a", "b", "c"], False), (["a", "c"], True)]
    assert isinstance(outcomes[0], Stored)
    assert isinstance(outcomes[2], Stored)
    assert isinstance(outcomes[1], Unavailable)


async def test_a_batch_without_client_ids_is_refused_after_a_lost_connection() -> None:
    store = ScriptedStore(StoreConnectionLost("gone"))
    outcomes = await commit(store, [("a", None), ("b", None)])
    assert store.calls == [(["a", "b"], False)]
    assert all(isinstance(o, Unavailable) for o in outcomes)


@pytest.mark.parametrize(
    "failure", [StoreUnavailable("disk full"), RuntimeError("bug")], ids=["unavailable", "bug"]
)
async def test_other_failures_refuse_the_whole_batch_once(failure: Exception) -> None:
    store = ScriptedStore(failure)
    outcomes = await commit(store, [("a", "c-a"), ("b", None)])
    assert len(store.calls) == 1
    assert all(isinstance(o, Unavailable) for o in outcomes)


async def test_a_connection_lost_on_every_attempt_is_refused_not_retried_forever() -> None:
    store = ScriptedStore(*(StoreConnectionLost("down") for _ in range(10)))
    outcomes = await commit(store, [("a", "c-a")])
    assert len(store.calls) == 3
    assert isinstance(outcomes[0], Unavailable)


async def test_a_repeated_client_id_is_stored_again_with_the_originals_looked_up() -> None:
    store = ScriptedStore(RepeatedClientId())
    outcomes = await commit(store, [("a", "c-a"), ("b", None)])
    assert store.calls == [(["a", "b"], False), (["a", "b"], True)]
    assert all(isinstance(o, Stored) for o in outcomes)
