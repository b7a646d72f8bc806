"""A WebSocket client as tests use it: JSON frames in and out, with timeouts.

A thin layer over the protocol as `app.client` speaks it: every frame received is checked
against its `app.protocol` model (a frame the server sends that its own document does not
describe fails the test that got it), `frame()` returns the typed model, and
`send_frame()` / `subscribe()` send the client's own models. What a test means to check is
left raw: `send(**fields)` sends exactly those fields (malformed frames included),
`send_raw` sends bytes, `closed()` reads the close code, `connect` takes the token in the
query or in headers. (`app.client.Session` itself is not used here: it reconnects and
resubscribes on its own, which would hide what these tests look at.)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from app.protocol import client as client_frames
from app.protocol.server import AnyServerFrame, ServerFrame, parse_server_frame

# Frames that come and go as other people act; most tests look past them.
EPHEMERAL = ("presence", "typing", "read")

F = TypeVar("F", bound=ServerFrame)


def checked(raw: str | bytes) -> tuple[dict[str, Any], AnyServerFrame]:
    """A server frame as JSON and as its protocol model (it must be one)."""
    frame = orjson.loads(raw)
    assert isinstance(frame, dict), frame
    try:
        model = parse_server_frame(raw)
    except (ValueError, ValidationError) as exc:
        raise AssertionError(f"not a frame of the protocol: {frame} ({exc})") from None
    return frame, model


class WsClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}
        self.last: AnyServerFrame | None = None  # the model of the frame `recv` returned

    @classmethod
    async def connect(
        cls,
        base: str,
        token: str | None,
        *,
        path: str = "/ws",
        headers: dict[str, str] | None = None,
        expect_hello: bool = True,
        **params: object,
    ) -> WsClient:
        query = {k: v for k, v in {"token": token, **params}.items() if v is not None}
        url = f"{base}{path}" + (f"?{urlencode(query)}" if query else "")
        ws = await connect(url, additional_headers=headers, max_size=None, open_timeout=10)
        client = cls(ws)
        if expect_hello:
            client.hello = await client.recv()
            assert client.hello["type"] == "hello", client.hello
        return client

    async def send(self, **frame: Any) -> None:
        """Exactly these fields, valid or not (see `send_frame` for the client's models)."""
        await self.ws.send(orjson.dumps(frame).decode())

    async def send_frame(self, frame: client_frames.Frame) -> None:
        """A client frame as `app.client` sends it."""
        await self.ws.send(frame.model_dump_json(exclude_none=True))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame, self.last = checked(raw)
        return frame

    async def frame(
        self, kind: type[F], *, timeout: float = 5.0, skip: tuple[str, ...] = EPHEMERAL
    ) -> F:
        """The next frame that is not `skip`-ed, as its model; it must be a `kind`."""
        await self.next(kind.model_fields["type"].default, timeout=timeout, skip=skip)
        assert isinstance(self.last, kind), self.last
        return self.last

    async def next(
        self, type_: str, *, timeout: float = 5.0, skip: tuple[str, ...] = EPHEMERAL
    ) -> dict[str, Any]:
        """The next frame that is not `skip`-ed; it must be of `type_`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            frame = await self.recv(max(remaining, 0.01))
            if frame["type"] in skip and frame["type"] != type_:
                continue
            assert frame["type"] == type_, frame
            return frame

    async def quiet(self, within: float = 0.3, *, skip: tuple[str, ...] = EPHEMERAL) -> None:
        """Assert that nothing but `skip`-ed frames arrives for `within` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                frame = await self.recv(remaining)
            except TimeoutError:
                return
            assert frame["type"] in skip, f"unexpected frame: {frame}"

    async def subscribe(
        self,
        room_id: int,
        since_seq: int | None = None,
        *,
        since_rev: int | None = None,
        ref: str | None = None,
    ) -> dict[str, Any]:
        frame = client_frames.Subscribe(
            type="subscribe", room_id=room_id, since_seq=since_seq, since_rev=since_rev, ref=ref
        )
        await self.send_frame(frame)
        return await self.next("subscribed", timeout=10, skip=(*EPHEMERAL, "message"))

    async def closed(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; returns the close code."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except ConnectionClosed:
            pass
        return self.ws.close_code

    async def close(self) -> None:
        """The closing handshake, reading (and dropping) what is still queued meanwhile.

        The library stops reading the socket once 16 frames wait unread (a sender that never
        reads its acks gets there), and the server's close frame is behind them: without the
        reading, `close` would wait out its 10 s close_timeout every time."""
        discard = asyncio.create_task(self._discard())
        try:
            await self.ws.close()
        finally:
            discard.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await discard

    async def _discard(self) -> None:
        # RuntimeError: a recv of the test's own still runs (websockets' ConcurrencyError);
        # that one is reading already.
        with contextlib.suppress(ConnectionClosed, RuntimeError):
            while True:
                await self.ws.recv()


class StalledClient:
    """A client that completes the handshake, subscribes, and then stops reading its socket.

    Built on a raw socket with a tiny receive buffer (client libraries keep reading into
    memory, which is not stalling at all), so the server's writes really back up.
    """

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol

    @classmethod
    async def connect(cls, base: str, token: str, room_id: int) -> StalledClient:
        return await asyncio.to_thread(cls._connect, base, token, room_id)

    @classmethod
    def _connect(cls, base: str, token: str, room_id: int) -> StalledClient:
        protocol = ClientProtocol(
            parse_uri(f"{base}/ws?{urlencode({'token': token})}"), max_size=None
        )
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect((protocol.uri.host, protocol.uri.port))
        protocol.send_request(protocol.connect())
        client = cls(sock, protocol)
        client._flush()
        subscribe = orjson.dumps({"type": "subscribe", "room_id": room_id}).decode()
        seen_subscribed = False
        while not seen_subscribed:
            data = sock.recv(65536)
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Response):
                    protocol.send_text(subscribe.encode())
                    client._flush()
                elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    seen_subscribed |= orjson.loads(event.data)["type"] == "subscribed"
        return client

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    async def read_to_the_end(self, timeout: float = 30) -> tuple[list[dict[str, Any]], int | None]:
        """Start reading again: every frame the server had queued, then its close code."""
        return await asyncio.to_thread(self._read_to_the_end, timeout)

    def _read_to_the_end(self, timeout: float) -> tuple[list[dict[str, Any]], int | None]:
        frames: list[dict[str, Any]] = []
        self.sock.settimeout(timeout)
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                self.protocol.receive_eof()
            else:
                self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    frames.append(orjson.loads(event.data))
                elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                    return frames, Close.parse(event.data).code
            if not data:
                return frames, None

    def close(self) -> None:
        self.sock.close()
