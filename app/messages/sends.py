"""What the group committer stores and answers, shared by its storage back-ends.

A send carries its author as the JSON clients receive (`UserRead`), already serialized by the
caller: a connection holds its user's JSON for its whole life, so a stored message's JSON is
assembled around it without validating or serializing the author again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from app.core.errors import Conflict, DomainError, Unavailable
from app.delivery.events import Event
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


class StoreRefusedData(Exception):
    """The database refused a value in the batch (a NUL, a number out of its range): the
    fault of one send, not the database's. The committer finds that send and refuses it
    alone, so that nobody else's send fails with it."""


def refused_data_reason(exc: BaseException) -> str:
    """Why the database refused a value, for the log, without the values themselves: asyncpg
    quotes the whole argument list (everyone's message bodies) in its error."""
    reason = re.sub(r": \[.*\] \(", " (", str(exc), flags=re.DOTALL)
    return f"{type(exc).__name__}: {reason[:200]}"


class UnstorableSend(DomainError):
    """A send the database refuses whatever we do: retrying it would never help, so it is
    refused as invalid (never `unavailable`, which tells the client to retry)."""

    status_code = 422
    code = "invalid_frame"
    default_detail = "The message holds something that cannot be stored; it was not sent."


class StoreConnectionLost(StoreUnavailable):
    """The connection died under the batch: whether it was committed is unknown, but a fresh
    connection may take it. Sends with a client_id can be stored again safely (a repeat is
    answered with its original); sends without one cannot, so they are refused."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One send as the stores take it (the `send` frame's schema is `protocol.Send`)."""

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
    # Events the send caused besides its own `message`, published right after it: a reply's
    # root `message.updated`, the `mention` frames.
    after: tuple[Event, ...] = ()

    @property
    def message(self) -> MessageRead:
        return MessageRead.model_validate_json(self.message_json)


Outcome = Stored | DomainError


def unavailable() -> Unavailable:
    return Unavailable("The message could not be stored; retry with the same client_id.")


class BatchStore(Protocol):
    async def store(self, sends: Sequence[NewMessage], *, look_up_repeats: bool) -> list[Outcome]:
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
    reply_to: int | None = None,
    reply_count: int = 0,
    last_reply_at: datetime | None = None,
) -> str:
    """A message as `MessageRead` serializes it (same fields, order and formats). Only the
    hot path uses it: a plain new message (or a repeat of one), so no reactions and no
    mentions (a body with `@` takes the full path, `threads.store_rich_send`)."""
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
            "reactions": [],
            "reply_to": reply_to,
            "reply_count": reply_count,
            "last_reply_at": last_reply_at,
            "mentions": [],
        },
        option=orjson.OPT_UTC_Z,
    ).decode()


def repeat_keys(sends: Sequence[NewMessage]) -> list[tuple[int, str]]:
    """The (author_id, client_id) pairs a batch may repeat, in a stable order."""
    return sorted({(s.author_id, s.client_id) for s in sends if s.client_id is not None})


def originals(
    rows: Iterable[Mapping[Any, Any]], sends: Sequence[NewMessage]
) -> dict[tuple[int, str], Stored]:
    """Messages stored before under the batch's client_ids, by (author_id, client_id), as
    their repeats are answered. `rows` are `messages` rows by column name, from either store."""
    authors = {send.author_id: send.author_json for send in sends}
    return {
        (row["author_id"], row["client_id"]): Stored(
            row["id"],
            row["room_id"],
            row["seq"],
            row["rev"],
            message_json(
                message_id=row["id"],
                room_id=row["room_id"],
                seq=row["seq"],
                rev=row["rev"],
                author_json=authors[row["author_id"]],
                body=row["body"],
                created_at=row["created_at"],
                edited_at=row["edited_at"],
                deleted=row["deleted"],
                client_id=row["client_id"],
                reply_to=row["reply_to_id"],
                reply_count=row["reply_count"],
                last_reply_at=row["last_reply_at"],
            ),
            created=False,
        )
        for row in rows
    }


def refusal_for(*, room_exists: bool, private: bool) -> DomainError:
    """Why a non-member may not send: a room they cannot see (404) or are not in (403)."""
    return RoomNotFound() if not room_exists or private else NotRoomMember()


def repeat_outcome(original: Stored, send: NewMessage) -> Outcome:
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

    sends: Sequence[NewMessage]
    outcomes: list[Outcome | None]
    to_store: list[int] = field(default_factory=list)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (index, its first)

    @classmethod
    def sort_out(
        cls,
        sends: Sequence[NewMessage],
        existing: Mapping[tuple[int, str], Stored],
        refuse: Callable[[NewMessage], DomainError | None] | None = None,
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
