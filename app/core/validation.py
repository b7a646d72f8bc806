"""What the database can store, checked at the edge: one set of types for REST and WebSocket.

PostgreSQL refuses U+0000 in text and every string must encode to UTF-8 (JSON's `"\\ud800"`
parses in Python but a lone surrogate cannot be encoded); its INTEGER and BIGINT columns
refuse numbers outside 32 and 64 bits. A value the database would refuse must be refused
here, with a 422 or an `invalid_frame`, before it can reach a query: otherwise one send
fails the group-commit batch it shares with everyone else's, and a lookup becomes a 500.

Each type is used by the Pydantic schemas, the path and query parameters and the WebSocket
frame models alike, so the two entry points cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, Field

# The pure types live in app/protocol (the clients use them too); re-exported here.
from app.protocol.types import (
    BIGINT_MAX,
    INT_MAX,
    MAX_EMOJI_CODE_POINTS,
    UNSTORABLE,
    Emoji,
    SafeText,
    Storable,
    check_emoji,
    refuse_unstorable,
)

__all__ = [
    "BIGINT_MAX",
    "INT_MAX",
    "MAX_EMOJI_CODE_POINTS",
    "Emoji",
    "SafeText",
    "Storable",
    "check_emoji",
    "refuse_unstorable",
]

# A `seq` in a body, as its BIGINT columns hold it.
DbSeq = Annotated[int, Field(ge=0, le=BIGINT_MAX)]

# Path parameters, named after what they identify. `ge=1`: the database never hands out 0.
RoomIdPath = Annotated[int, Path(ge=1, le=INT_MAX, description="A room's id.")]
UserIdPath = Annotated[int, Path(ge=1, le=INT_MAX, description="A user's id.")]
MessageIdPath = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="A message's id.")]


def scrub(value: Any) -> Any:
    """A JSON-ready value with lone surrogates escaped, so that an error that echoes the
    client's input can still be encoded as UTF-8 (instead of failing with a 500)."""
    if isinstance(value, str):
        if UNSTORABLE.search(value) is None:
            return value
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


EmojiPath = Annotated[
    str,
    Path(description="The emoji, percent-encoded: 1-32 code points, or a :short_name:."),
    AfterValidator(check_emoji),
]
# A user id in a body, as its INTEGER column holds it.
DbUserId = Annotated[int, Field(ge=1, le=INT_MAX)]
# A message id in a body or frame (e.g. `reply_to`), as its BIGINT column holds it.
DbMessageId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
