"""Client-to-server frames: defined once in `app/protocol/client.py` (the clients use the
same models); re-exported here for the WebSocket handler."""

from __future__ import annotations

from app.protocol.client import (
    FRAMES,
    MAX_FRAME_BYTES,
    Auth,
    ClientFrame,
    Frame,
    Ping,
    ProtocolError,
    React,
    Read,
    Send,
    Subscribe,
    Typing,
    Unreact,
    Unsubscribe,
    parse,
)
from app.protocol.types import MessageId, Ref, Rev, RoomId, Seq

__all__ = [
    "FRAMES",
    "MAX_FRAME_BYTES",
    "Auth",
    "ClientFrame",
    "Frame",
    "MessageId",
    "Ping",
    "ProtocolError",
    "React",
    "Read",
    "Ref",
    "Rev",
    "RoomId",
    "Send",
    "Seq",
    "Subscribe",
    "Typing",
    "Unreact",
    "Unsubscribe",
    "parse",
]
