"""Events that cross the broker: what happened, and the frame clients get, serialized once.

Services create events and leave them with `defer_event`; they are published only after the
transaction commits. This module knows nothing of SQL, sockets or Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import orjson

CONTROL_CHANNEL = "control"


class Kind(StrEnum):
    # A change to a message (new, updated, deleted...): delivered per room strictly in the
    # order of the room's change number, `rev`.
    MESSAGE = "message"
    ROOM = "room"  # any other frame for the room's subscribers
    ROOM_DELETED = "room.deleted"  # deliver the frame, then end every subscription to the room
    MEMBER_LEFT = "member.left"  # `user_id` is no longer a member: end their subscriptions
    SESSION_REVOKED = "session.revoked"  # close the session's sockets with 4401
    USER = "user"  # a frame for every connection of `user_id` (their rooms changed)


@dataclass(frozen=True, slots=True)
class Event:
    kind: Kind
    room_id: int = 0
    seq: int = 0
    frame: str = ""
    # ROOM: the user whose connections skip the frame (typing); MEMBER_LEFT: the user.
    user_id: int = 0
    session_id: int = 0
    # ROOM: the one connection that skips the frame (it caused it, e.g. a read marker).
    origin: str = ""
    # MESSAGE: the room's change number this change took (the hub's ordering key).
    rev: int = 0

    @property
    def channel(self) -> str:
        """The one place channel names are made: a channel per room, one for control."""
        if self.kind in (Kind.SESSION_REVOKED, Kind.USER):
            # Rare (logouts, membership changes): every process hears them, which costs less
            # than keeping a channel per connected user.
            return CONTROL_CHANNEL
        return room_channel(self.room_id)

    def encode(self) -> bytes:
        return orjson.dumps(
            [
                self.kind.value,
                self.room_id,
                self.seq,
                self.user_id,
                self.session_id,
                self.origin,
                self.frame,
                self.rev,
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> Event:
        kind, room_id, seq, user_id, session_id, origin, frame, rev = orjson.loads(data)
        return cls(Kind(kind), room_id, seq, frame, user_id, session_id, origin, rev)


def room_channel(room_id: int) -> str:
    return f"room:{room_id}"


def message_created(*, room_id: int, seq: int, rev: int, frame: str) -> Event:
    return Event(Kind.MESSAGE, room_id=room_id, seq=seq, rev=rev, frame=frame)


def message_changed(*, room_id: int, seq: int, rev: int, frame: str) -> Event:
    """An existing message changed (edited, deleted...): ordered with new ones by `rev`."""
    return Event(Kind.MESSAGE, room_id=room_id, seq=seq, rev=rev, frame=frame)


def room_frame(
    *, room_id: int, frame: str, skip_user_id: int = 0, skip_connection: str = ""
) -> Event:
    return Event(
        Kind.ROOM, room_id=room_id, frame=frame, user_id=skip_user_id, origin=skip_connection
    )


def room_deleted(*, room_id: int, frame: str) -> Event:
    return Event(Kind.ROOM_DELETED, room_id=room_id, frame=frame)


def member_left(*, room_id: int, user_id: int, frame: str) -> Event:
    """`frame` goes to that user's connections as their subscription ends."""
    return Event(Kind.MEMBER_LEFT, room_id=room_id, user_id=user_id, frame=frame)


def user_frame(*, user_id: int, frame: str) -> Event:
    return Event(Kind.USER, user_id=user_id, frame=frame)


def session_revoked(*, session_id: int) -> Event:
    return Event(Kind.SESSION_REVOKED, session_id=session_id)
