"""What the group committer stores and answers, shared by its storage back-ends.

A send carries its author as the JSON clients receive (`UserRead`), already serialized by the
caller: a connection holds its user's JSON for its whole life, so a stored message's JSON is
assembled around it without validating or serializing the author again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import orjson

from app.core.errors import Conflict, DomainError, Unavailable
from app.messages.schemas import MessageRead
from app.rooms.exceptions import NotRoomMember, RoomNotFound


class ClientIdReused(Conflict):
    code = "invalid_frame"
    default_detail = "That client_id was already used for a message in another room."


class RepeatedClientId(Exception):
    """A client_id was stored before (a retry, or another process was first): the batch is
    stored again with `look_up_repeats=True`, which answers repeats with their originals."""


class StoreUnavailable(Exception):
    """The database could not take the batch; every send in it is refused, never acked."""


class StoreConnectionLost(StoreUnavailable):
    """The connection died under the batch: whether it was committed is unknown, but a fresh
    connection may take it. Sends with a client_id can be stored again safely (a repeat is
    answered with its original); sends without one cannot, so they are refused."""


@dataclass(frozen=True, slots=True)
class Send:
    room_id: int
    author_id: int
    author_json: str
    body: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class Stored:
    message_id: int
    room_id: int
    seq: int
    rev: int
    message_json: str
    created: bool  # False: a repeated client_id, answered with the original

    @property
    def message(self) -> MessageRead:
        return MessageRead.model_validate_json(self.message_json)


Outcome = Stored | DomainError


def unavailable() -> Unavailable:
    return Unavailable("The message could not be stored; retry with the same client_id.")


class BatchStore(Protocol):
    async def store(self, sends: Sequence[Send], *, look_up_repeats: bool) -> list[Outcome]:
        """One outcome per send, in order; raises RepeatedClientId or StoreUnavailable."""

    async def close(self) -> None: ...


def message_json(
    *,
    message_id: int,
    room_id: int,
    seq: int,
    rev: int,
    author_json: str,
    body: str,
    created_at: datetime,
    edited_at: datetime | None,
    deleted: bool,
    client_id: str | None,
) -> str:
    """A message as `MessageRead` serializes it (same fields, order and formats)."""
    return orjson.dumps(
        {
            "id": message_id,
            "room_id": room_id,
            "seq": seq,
            "rev": rev,
            "author": orjson.Fragment(author_json),
            "body": body,
            "created_at": created_at,
            "edited_at": edited_at,
            "deleted": deleted,
            "client_id": client_id,
        },
        option=orjson.OPT_UTC_Z,
    ).decode()


def refusal_for(*, room_exists: bool, private: bool) -> DomainError:
    """Why a non-member may not send: a room they cannot see (404) or are not in (403)."""
    return RoomNotFound() if not room_exists or private else NotRoomMember()


def repeat_outcome(original: Stored, send: Send) -> Outcome:
    """A send whose client_id was used before: the original, if it is in the same room."""
    if original.room_id != send.room_id:
        return ClientIdReused()
    return Stored(
        original.message_id,
        original.room_id,
        original.seq,
        original.rev,
        original.message_json,
        created=False,
    )


@dataclass(slots=True)
class Batch:
    """A batch sorted out before storing, the same way by every store: a send whose
    client_id is already stored is answered with the original, a send whose client_id
    repeats an earlier one in the batch waits for that one, the rest are stored."""

    sends: Sequence[Send]
    outcomes: list[Outcome | None]
    to_store: list[int] = field(default_factory=list)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (index, its first)

    @classmethod
    def sort_out(
        cls,
        sends: Sequence[Send],
        existing: Mapping[tuple[int, str], Stored],
        refuse: Callable[[Send], DomainError | None] | None = None,
    ) -> Batch:
        batch = cls(sends, [None] * len(sends))
        first_of_key: dict[tuple[int, str], int] = {}
        for index, send in enumerate(sends):
            key = (send.author_id, send.client_id) if send.client_id else None
            if key is not None and key in existing:
                batch.outcomes[index] = repeat_outcome(existing[key], send)
            elif key is not None and key in first_of_key:
                batch.repeats.append((index, first_of_key[key]))
            elif refuse is not None and (refusal := refuse(send)) is not None:
                batch.outcomes[index] = refusal
            else:
                batch.to_store.append(index)
                if key is not None:
                    first_of_key[key] = index
        return batch

    def stored(
        self, index: int, *, message_id: int, seq: int, rev: int, created_at: datetime
    ) -> None:
        """Send `index` was inserted as a new message."""
        send = self.sends[index]
        self.outcomes[index] = Stored(
            message_id,
            send.room_id,
            seq,
            rev,
            message_json(
                message_id=message_id,
                room_id=send.room_id,
                seq=seq,
                rev=rev,
                author_json=send.author_json,
                body=send.body,
                created_at=created_at,
                edited_at=None,
                deleted=False,
                client_id=send.client_id,
            ),
            created=True,
        )

    def finish(self) -> list[Outcome]:
        """Every outcome, once each stored send has one: repeats answer as their first."""
        for index, first in self.repeats:
            first_outcome = self.outcomes[first]
            self.outcomes[index] = (
                repeat_outcome(first_outcome, self.sends[index])
                if isinstance(first_outcome, Stored)
                else first_outcome
            )
        assert all(outcome is not None for outcome in self.outcomes)
        return self.outcomes  # type: ignore[return-value]
