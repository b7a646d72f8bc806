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

import re
import unicodedata
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, Field

INT_MAX = 2**31 - 1  # INTEGER (int4): users.id, rooms.id, room_members.*, messages.room_id
BIGINT_MAX = 2**63 - 1  # BIGINT: messages.id (on PostgreSQL), seq, last_seq, last_read_seq

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def refuse_unstorable(value: str) -> str:
    """Refuse U+0000 and lone surrogates: no database column can hold them."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return value
    if found.group() == "\x00":
        raise ValueError("must not contain U+0000 (NUL)")
    raise ValueError("must not contain unpaired surrogates (not valid Unicode text)")


# Every client-supplied string. With other constraints, put `Storable` after them
# (`Annotated[str, StringConstraints(...), Storable]`): before them, Pydantic would check
# lengths before trimming.
Storable = AfterValidator(refuse_unstorable)
SafeText = Annotated[str, Storable]

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
        if _UNSTORABLE.search(value) is None:
            return value
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


MAX_EMOJI_CODE_POINTS = 32


def check_emoji(value: str) -> str:
    """An emoji as the contract defines it: 1-32 code points, no whitespace and no control
    characters (Cc). Joiners and variation selectors (Cf, Mn) pass, so 👩‍💻 and 👍🏽 are one
    emoji; a short name such as `:shipit:` is one too."""
    refuse_unstorable(value)
    if not 1 <= len(value) <= MAX_EMOJI_CODE_POINTS:
        raise ValueError(f"an emoji is 1-{MAX_EMOJI_CODE_POINTS} code points")
    for char in value:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Zs", "Zl", "Zp"):
            raise ValueError("an emoji holds no whitespace or control characters")
    return value


Emoji = Annotated[str, AfterValidator(check_emoji)]
EmojiPath = Annotated[
    str,
    Path(description="The emoji, percent-encoded: 1-32 code points, or a :short_name:."),
    AfterValidator(check_emoji),
]
# A user id in a body, as its INTEGER column holds it.
DbUserId = Annotated[int, Field(ge=1, le=INT_MAX)]
# A message id in a body or frame (e.g. `reply_to`), as its BIGINT column holds it.
DbMessageId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
