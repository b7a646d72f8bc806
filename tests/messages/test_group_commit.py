"""What the group committer does when the store fails: nothing is acknowledged unless stored,
and a lost connection costs a send with a client_id nothing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.core.errors import Unavailable
from app.messages.group_commit import MessageCommitter, Submission
from app.messages.sends import (
    NewMessage,
    Outcome,
    RepeatedClientId,
    StoreConnectionLost,
    Stored,
    StoreRefusedData,
    StoreUnavailable,
    UnstorableSend,
)


class ScriptedStore:
    """Fails as told, then stores each send it is given (seq in call order)."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[list[str], bool]] = []

    async def store(self, sends: Sequence[NewMessage], *, look_up_repeats: bool) -> list[Outcome]:
        self.calls.append(([s.body for s in sends], look_up_repeats))
        if self.failures:
            raise self.failures.pop(0)
        return [
            Stored(seq, send.room_id, seq, seq, "{}", created=True)
            for seq, send in enumerate(sends, start=1)
        ]

    async def close(self) -> None:
        return None


class Ignored:
    def acked(self, submission: Submission, outcome: Outcome) -> None:
        return None


async def commit(store: ScriptedStore, sends: list[tuple[str, str | None]]) -> list[Outcome]:
    async def discard(_events: object) -> None:
        return None

    committer = MessageCommitter(store, committed=discard)
    batch = [Submission(1, 7, "{}", body, client_id, Ignored()) for body, client_id in sends]
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


class PoisonStore:
    """Refuses any batch that holds a send with a NUL, as PostgreSQL does; otherwise stores
    the batch, numbering each room's messages in call order (like the real stores)."""

    def __init__(self, failures: dict[int, Exception] | None = None) -> None:
        self.failures = failures or {}  # call number -> what that call raises instead
        self.calls: list[list[str]] = []
        self.last_seq: dict[int, int] = {}

    async def store(self, sends: Sequence[NewMessage], *, look_up_repeats: bool) -> list[Outcome]:
        self.calls.append([s.body for s in sends])
        if len(self.calls) in self.failures:
            raise self.failures[len(self.calls)]
        if any("\x00" in send.body for send in sends):
            raise StoreRefusedData('invalid byte sequence for encoding "UTF8": 0x00')
        outcomes: list[Outcome] = []
        for send in sends:
            seq = self.last_seq[send.room_id] = self.last_seq.get(send.room_id, 0) + 1
            message_id = len(self.calls) * 1000 + seq
            outcomes.append(Stored(message_id, send.room_id, seq, seq, "{}", True))
        return outcomes

    async def close(self) -> None:
        return None


async def commit_in_rooms(store: PoisonStore, sends: list[tuple[int, str]]) -> list[Outcome]:
    async def discard(_events: object) -> None:
        return None

    committer = MessageCommitter(store, committed=discard)
    batch = [
        Submission(room, 7, "{}", body, f"c-{n}", Ignored()) for n, (room, body) in enumerate(sends)
    ]
    return await committer._commit(batch)


def seqs_by_room(sends: list[tuple[int, str]], outcomes: list[Outcome]) -> dict[int, list[str]]:
    """Each room's stored bodies, in seq order."""
    stored = sorted(
        (
            (o.room_id, o.seq, body)
            for (_, body), o in zip(sends, outcomes, strict=True)
            if isinstance(o, Stored)
        ),
    )
    rooms: dict[int, list[str]] = {}
    for room, _seq, body in stored:
        rooms.setdefault(room, []).append(body)
    return rooms


async def test_a_send_the_database_refuses_is_refused_alone() -> None:
    # Offender and innocents interleaved, in two rooms, in one batch.
    sends = [(1, "a1"), (2, "b1"), (1, "bad\x00"), (2, "b2"), (1, "a2"), (2, "b3"), (1, "a3")]
    store = PoisonStore()
    outcomes = await commit_in_rooms(store, sends)
    refused = outcomes[2]
    assert isinstance(refused, UnstorableSend)
    assert (refused.code, refused.status_code) == ("invalid_frame", 422)  # not "retry"
    assert all(isinstance(o, Stored) for i, o in enumerate(outcomes) if i != 2)
    # Each room's seqs still follow arrival order.
    assert seqs_by_room(sends, outcomes) == {1: ["a1", "a2", "a3"], 2: ["b1", "b2", "b3"]}


async def test_several_culprits_are_each_refused_and_everyone_else_stored() -> None:
    sends = [(n % 3, f"m{n}" + ("\x00" if n in (0, 5, 6, 13) else "")) for n in range(16)]
    outcomes = await commit_in_rooms(PoisonStore(), sends)
    for n, outcome in enumerate(outcomes):
        expected = UnstorableSend if n in (0, 5, 6, 13) else Stored
        assert isinstance(outcome, expected), (n, outcome)
    rooms = seqs_by_room(sends, outcomes)
    for room, bodies in rooms.items():
        assert bodies == [b for r, b in sends if r == room and "\x00" not in b]


async def test_a_clean_batch_is_stored_in_one_call() -> None:
    store = PoisonStore()
    outcomes = await commit_in_rooms(store, [(1, "a"), (2, "b"), (1, "c")])
    assert store.calls == [["a", "b", "c"]]
    assert all(isinstance(o, Stored) for o in outcomes)


async def test_an_outage_while_isolating_refuses_the_rest_as_unavailable() -> None:
    # The first call finds the poison; the half holding it then meets an outage.
    store = PoisonStore({2: StoreUnavailable("database is down")})
    sends = [(1, "x\x00"), (1, "a"), (2, "b"), (2, "c")]
    outcomes = await commit_in_rooms(store, sends)
    assert all(isinstance(o, Unavailable) for o in outcomes[:2])
    assert all(isinstance(o, Stored) for o in outcomes[2:])


async def test_a_database_that_refuses_connections_is_a_store_outage_not_a_crash() -> None:
    from app.core.database import Database
    from app.messages.session_store import SessionStore
    from tests.support.server import free_port

    database = Database.from_url(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    try:
        with pytest.raises(StoreUnavailable):
            await SessionStore(database.sessionmaker).store(
                [NewMessage(1, 7, "{}", "a", "c-a")], look_up_repeats=False
            )
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "failure",
    [
        StoreConnectionLost("terminating connection due to administrator command"),
        StoreUnavailable("cannot connect"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=["lost", "unavailable", "reset"],
)
async def test_an_outage_under_the_committer_is_one_warning_line(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    store = ScriptedStore(*(failure for _ in range(3)))
    outcomes = await commit(store, [("a", "c-a")])
    assert isinstance(outcomes[0], Unavailable)
    records = [r for r in caplog.records if r.name == "app.messages.group_commit"]
    assert records
    assert all(r.levelname == "WARNING" and r.exc_info is None for r in records), [
        (r.levelname, r.getMessage()) for r in records
    ]


@pytest.mark.parametrize(
    "error",
    ["AdminShutdownError", "CrashShutdownError", "ConnectionDoesNotExistError", "InterfaceError"],
)
async def test_every_form_of_a_lost_postgres_connection_is_store_connection_lost(
    error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncpg

    from app.messages import pg_store

    async def lost(*_args: object, **_kwargs: object) -> list[Outcome]:
        raise getattr(asyncpg, error)("connection is closed")

    class Driver:
        def is_closed(self) -> bool:
            return False

    store = pg_store.PostgresStore(engine=None)  # type: ignore[arg-type]

    async def driver() -> Driver:
        return Driver()

    monkeypatch.setattr(store, "_driver", driver)
    monkeypatch.setattr(pg_store, "_store", lost)
    with pytest.raises(StoreConnectionLost):
        await store.store([NewMessage(1, 7, "{}", "a", "c-a")], look_up_repeats=False)


class RecordingRich:
    """Stands for `RichSends`: records the sends it stores, in the shared call log."""

    def __init__(self, calls: list[tuple[list[str], bool]]) -> None:
        self.calls = calls

    async def store(self, send: NewMessage, reply_to: int | None) -> Outcome:
        self.calls.append(([f"rich:{send.body}:{reply_to}"], False))
        return Stored(99, send.room_id, 99, 99, "{}", created=True)


async def test_plain_sends_stay_batched_and_the_rest_go_alone_in_arrival_order() -> None:
    store = ScriptedStore()

    async def discard(_events: object) -> None:
        return None

    committer = MessageCommitter(store, committed=discard, rich=RecordingRich(store.calls))  # type: ignore[arg-type]
    batch = [
        Submission(1, 7, "{}", "a", None, Ignored()),
        Submission(1, 7, "{}", "b", None, Ignored()),
        Submission(1, 7, "{}", "hi @bob", None, Ignored()),
        Submission(1, 7, "{}", "c", None, Ignored()),
        Submission(1, 7, "{}", "re", None, Ignored(), reply_to=5),
        Submission(1, 7, "{}", "d", None, Ignored()),
    ]
    outcomes = await committer._commit_in_order(batch)
    assert len(outcomes) == len(batch)
    assert [call for call, _ in store.calls] == [
        ["a", "b"],
        ["rich:hi @bob:None"],
        ["c"],
        ["rich:re:5"],
        ["d"],
    ]
    # A batch of plain sends is one store call, as before.
    store.calls.clear()
    await committer._commit_in_order([Submission(1, 7, "{}", b, None, Ignored()) for b in "xyz"])
    assert store.calls == [(["x", "y", "z"], False)]
