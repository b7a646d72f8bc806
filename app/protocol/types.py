"""The value types every frame and REST body is checked with, free of any server import.

PostgreSQL refuses U+0000 in text and every string must encode to UTF-8; its INTEGER and
BIGINT columns refuse numbers outside 32 and 64 bits. These types refuse such values at
the edge (`app/core/validation.py` re-exports them for the REST side), and live here so
that the clients can validate with the very same definitions as the server.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, StringConstraints

INT_MAX = 2**31 - 1  # INTEGER (int4): users.id, rooms.id, room_members.*, messages.room_id
BIGINT_MAX = 2**63 - 1  # BIGINT: messages.id (on PostgreSQL), seq, last_seq, last_read_seq

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def refuse_unstorable(value: str) -> str:
    """Refuse U+0000 and lone surrogates: no database column can hold them."""
    found = UNSTORABLE.search(value)
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

MAX_BODY_LENGTH = 4000

# Trimmed, then 1-4000 characters. Stored and returned as plain text, never as HTML.
MessageBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_LENGTH),
    Storable,
]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=128), Storable]

# Bounded like the columns they are looked up in. Strict: `"1"` or `1.0` is not an id.
RoomId = Annotated[StrictInt, Field(ge=1, le=INT_MAX)]
Seq = Annotated[StrictInt, Field(ge=0, le=BIGINT_MAX)]
Rev = Annotated[StrictInt, Field(ge=0, le=BIGINT_MAX)]
MessageId = Annotated[StrictInt, Field(ge=1, le=BIGINT_MAX)]
# A client's label for a frame, echoed on the replies and errors about it.
Ref = str | int | None

# Webhooks (REST only). What a webhook may subscribe to; the URL's other rules (scheme, the
# address it resolves to) are the server's SSRF guard's.
WebhookEvent = Literal[
    "message.created", "message.updated", "message.deleted", "reaction", "mention"
]
MAX_WEBHOOK_URL_LENGTH = 2048
WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_WEBHOOK_URL_LENGTH),
    Storable,
]


def _distinct(events: list[str]) -> list[str]:
    """Each event once, in the order first given."""
    return list(dict.fromkeys(events))


WebhookEvents = Annotated[
    list[WebhookEvent], Field(min_length=1, max_length=5), AfterValidator(_distinct)
]
