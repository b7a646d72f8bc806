"""Client-to-server frames: their schemas, and parsing that names what went wrong.

Every frame is one JSON object with a `type`; a client may add `ref` to any frame and
replies and errors about it carry the same `ref` back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.protocol.types import (
    ClientId,
    Emoji,
    MessageBody,
    MessageId,
    Ref,
    Rev,
    RoomId,
    SafeText,
    Seq,
)

# A bigger frame closes the connection with 1009 (message too big).
MAX_FRAME_BYTES = 64 * 1024


class ProtocolError(Exception):
    def __init__(self, code: str, detail: str, ref: Ref = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref


class Frame(BaseModel):
    # Unknown fields are ignored (forward compatible), frames are values.
    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: Ref = Field(None, description="Echoed on the replies and errors about this frame.")


class Subscribe(Frame):
    """Start receiving the room's events (after a replay when `since_*` is given)."""

    type: Literal["subscribe"]
    room_id: RoomId
    since_seq: Seq | None = Field(
        None, description="First replay the stored messages with a higher seq, as `message`."
    )
    since_rev: Rev | None = Field(
        None, description="First replay every change after this rev (wins over since_seq)."
    )


class Unsubscribe(Frame):
    """Stop receiving the room's events."""

    type: Literal["unsubscribe"]
    room_id: RoomId


class Send(Frame):
    """Store a message, then broadcast it; `ack` once committed."""

    type: Literal["send"]
    room_id: RoomId
    body: MessageBody = Field(description="Plain text; trimmed, then 1-4000 characters.")
    client_id: ClientId = Field(
        description="Your id for this send: sending it again is acked with the original."
    )
    reply_to: MessageId | None = Field(
        None, description="A message of the room: this send joins its thread."
    )


class React(Frame):
    """Add a reaction; the sender gets `reacted`."""

    type: Literal["react"]
    room_id: RoomId
    message_id: MessageId
    emoji: Emoji = Field(description="1-32 code points, no whitespace or controls; or :name:.")


class Unreact(Frame):
    """Remove a reaction; the sender gets `reacted`."""

    type: Literal["unreact"]
    room_id: RoomId
    message_id: MessageId
    emoji: Emoji = Field(description="1-32 code points, no whitespace or controls; or :name:.")


class Typing(Frame):
    """Other subscribers get `typing` (not stored)."""

    type: Literal["typing"]
    room_id: RoomId


class Read(Frame):
    """Store the caller's read marker; other subscribers get `read`."""

    type: Literal["read"]
    room_id: RoomId
    seq: Seq = Field(description="The highest seq you have read.")


class Auth(Frame):
    """Swap in a fresh access token before the current one expires."""

    type: Literal["auth"]
    token: Annotated[SafeText, Field(min_length=1, max_length=4096)] = Field(
        description="A fresh access token (from POST /auth/refresh)."
    )


class Ping(Frame):
    """Answered with `pong`."""

    type: Literal["ping"]


ClientFrame = Subscribe | Unsubscribe | Send | React | Unreact | Typing | Read | Auth | Ping

FRAMES: dict[str, type[ClientFrame]] = {
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "send": Send,
    "react": React,
    "unreact": Unreact,
    "typing": Typing,
    "read": Read,
    "auth": Auth,
    "ping": Ping,
}


def _ref(data: dict[str, Any]) -> Ref:
    ref = data.get("ref")
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        return None
    return ref if not isinstance(ref, str) or len(ref) <= 256 else None


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "frame"
        problems.append(f"{field}: {item['msg']}")
    return "; ".join(problems)


def parse(text: str) -> ClientFrame:
    """Parse one text frame, or raise ProtocolError with the contract's error code."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("invalid_json", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_frame", f"expected a JSON object, got {type(data).__name__}")
    ref = _ref(data)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_frame", "every frame needs a string `type`", ref)
    model = FRAMES.get(kind)
    if model is None:
        known = ", ".join(FRAMES)
        raise ProtocolError(
            "unknown_type", f"unknown frame type {kind!r}; expected one of {known}", ref
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        if any(
            item["type"] == "string_too_long" and item["loc"] == ("body",) for item in exc.errors()
        ):
            raise ProtocolError(
                "too_long", "body is longer than 4000 characters (after trimming)", ref
            ) from None
        raise ProtocolError("invalid_frame", _describe(exc), ref) from None
