"""A WebSocket client on a bare socket, for sending frames no client library would send.

Frames are built by hand (any opcode, RSV bits, FIN, masked or not) and the server's frames
are parsed by hand too, checking what RFC 6455 asks of a server: never masked, RSV clear.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass(frozen=True)
class Out:
    """A client frame."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    masked: bool = True
    rsv: int = 0  # the three RSV bits, as 0-7


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def encode(frame: Out) -> bytes:
    first = (0x80 if frame.fin else 0) | (frame.rsv << 4) | frame.opcode
    length = len(frame.payload)
    mask_bit = 0x80 if frame.masked else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not frame.masked:
        return header + frame.payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(frame.payload))
    return header + key + body


class RawWs:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, base_url: str, token: str, path: str = "/ws") -> RawWs:
        url = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port, limit=1 << 20)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path}?{urlencode({'token': token})} HTTP/1.1\r\n"
                f"Host: {url.hostname}:{url.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send(self, *frames: Out) -> None:
        self.writer.write(b"".join(encode(f) for f in frames))
        await self.writer.drain()

    async def recv(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """The server's next frame: (opcode, payload). Server frames must be final here
        (Parley never fragments), unmasked, with RSV bits clear."""
        async with asyncio.timeout(timeout):
            first, second = await self.reader.readexactly(2)
            assert first & 0x70 == 0, "RSV bits set by the server"
            assert first & 0x80, "the server fragmented a frame"
            assert not second & 0x80, "the server masked a frame"
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(length)

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Skip data frames to the server's close frame; its code (None if it had none).
        The server must then close the TCP connection."""
        while True:
            opcode, payload = await self.recv(timeout)
            if opcode == CLOSE:
                break
        async with asyncio.timeout(timeout):
            # Answer the close as a client must; then the server hangs up (after a protocol
            # error it may have hung up already).
            try:
                await self.send(Out(CLOSE, payload[:2]))
                assert await self.reader.read() == b""
            except ConnectionError:
                pass
        return struct.unpack("!H", payload[:2])[0] if payload else None

    def abort(self) -> None:
        self.writer.transport.abort()
