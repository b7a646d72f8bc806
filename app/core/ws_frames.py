"""The bytes of a server-to-client WebSocket frame (RFC 6455, section 5.2).

A frame from the server is never masked, so a message's frame is the same bytes for every
recipient: a broadcast builds it once and writes it to every socket. Only complete,
uncompressed frames are built here; compression, fragmentation and control frames stay with
the server's WebSocket implementation.
"""

from __future__ import annotations

import struct

# The ASGI extension through which a server takes ready-made frames (app.core.ws_server).
EXTENSION = "parley.frames"

TEXT = 0x1
BINARY = 0x2
_FIN = 0x80
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame carrying `payload` (the header is 2, 4 or 10 bytes)."""
    first = _FIN | opcode
    length = len(payload)
    if length < 126:
        header = _SHORT.pack(first, length)
    elif length < 1 << 16:
        header = _MEDIUM.pack(first, 126, length)
    else:
        header = _LONG.pack(first, 127, length)
    return header + payload


def text_frame(text: str) -> bytes:
    return frame(TEXT, text.encode())
