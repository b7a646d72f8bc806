"""The direct path: a broadcast's frame is built once, a connection's queue goes out in one
write, an idle connection holds no writer task, and a writer still waits for a paused
transport (so a stalled peer gets 1013)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app.core.ws_frames import BINARY, EXTENSION, frame, text_frame
from app.delivery.connection import TOO_SLOW, WIRE, Connection

pytestmark = pytest.mark.one_backend


def parse(data: bytes) -> Frame:
    """One frame as websockets' own parser reads it (as a client: unmasked is required);
    it must take every byte."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(parser)
    assert not reader.buffer
    parsed: Frame = done.value.value
    return parsed


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 100_000])
def test_frames_parse_as_websockets_reads_them(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    parsed = parse(frame(BINARY, payload))
    assert (parsed.opcode, parsed.fin, parsed.data) == (Opcode.BINARY, True, payload)
    parsed = parse(text_frame("é" * size))
    assert (parsed.opcode, parsed.data.decode()) == (Opcode.TEXT, "é" * size)


class DirectSocket:
    """A server socket offering the extension; `paused` holds writes like a full buffer.
    With `sync=False` it offers only the awaitable `send` (as servers before `write` did)."""

    def __init__(self, *, sync: bool = True) -> None:
        self.writes: list[list[bytes]] = []
        self.paused = asyncio.Event()
        self.paused.set()
        self.closed_with: tuple[int, str] | None = None
        extension: dict[str, Any] = {"send": self.send_frames}
        if sync:
            extension["write"] = self.write_frames
        self.scope: dict[str, Any] = {"extensions": {EXTENSION: extension}}

    async def send_frames(self, frames: list[bytes]) -> None:
        await self.paused.wait()
        self.writes.append(frames)

    def write_frames(self, frames: list[bytes]) -> bool:
        if not self.paused.is_set():
            return False
        self.writes.append(frames)
        return True

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = (code, reason)


def connection(socket: DirectSocket, limit: int = 8) -> Connection:
    return Connection(socket, user_id=1, user_json="{}", session_id=1, limit=limit)  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_broadcast_frame_is_built_once_and_a_queue_is_one_write() -> None:
    sockets = [DirectSocket() for _ in range(3)]
    connections = [connection(s) for s in sockets]
    reader_done = asyncio.Event()
    serving = [asyncio.create_task(c.serve(reader_done.wait())) for c in connections]
    await settle()
    shared = [{"type": "websocket.send", "text": f'{{"n":{n}}}'} for n in range(3)]
    for message in shared:
        for c in connections:
            c.push_message(message)
    await settle()
    for s in sockets:
        assert s.writes == [[text_frame(m["text"]) for m in shared]]  # one write of three
    for message in shared:
        # Built by the first writer, the very same bytes object for the others.
        assert all(s.writes[0][shared.index(message)] is message[WIRE] for s in sockets)
    reader_done.set()
    await asyncio.gather(*serving)


async def test_a_paused_transport_holds_the_writer_and_a_full_queue_closes_1013() -> None:
    socket = DirectSocket()
    socket.paused.clear()
    conn = connection(socket, limit=8)
    reader_done = asyncio.Event()
    serving = asyncio.create_task(conn.serve(reader_done.wait()))
    await settle()
    conn.push("first")  # taken by the writer, which then waits for the transport
    await settle()
    for n in range(8):
        conn.push(f"queued {n}")
    assert socket.writes == []
    assert not conn.closing
    conn.push("one too many")
    await settle()
    assert socket.closed_with is not None
    assert socket.closed_with[0] == TOO_SLOW
    reader_done.set()
    await serving


def writer_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ws-writer-")]


@pytest.mark.parametrize("sync", [True, False])
async def test_an_idle_connection_holds_no_writer_task(sync: bool) -> None:
    socket = DirectSocket(sync=sync)
    conn = connection(socket)
    conn.push("hello")  # queued before serving: goes out first once it starts
    reader_done = asyncio.Event()
    serving = asyncio.create_task(conn.serve(reader_done.wait()))
    await settle()
    assert socket.writes == [[text_frame("hello")]]
    assert writer_tasks() == []
    assert conn.flushed
    conn.push("one")
    conn.push("two")
    await settle()
    assert socket.writes[1:] == [[text_frame("one"), text_frame("two")]]
    assert writer_tasks() == []
    reader_done.set()
    await serving


async def test_a_writer_task_waits_for_a_paused_transport_and_ends_with_the_queue() -> None:
    socket = DirectSocket()
    socket.paused.clear()
    conn = connection(socket)
    reader_done = asyncio.Event()
    serving = asyncio.create_task(conn.serve(reader_done.wait()))
    conn.push("first")
    await settle()
    assert len(writer_tasks()) == 1  # the flush could not write: a task waits instead
    conn.push("second")
    assert not conn.flushed
    socket.paused.set()
    await settle()
    assert socket.writes == [[text_frame("first")], [text_frame("second")]]
    assert writer_tasks() == []
    assert conn.flushed
    conn.push("third")  # back to a plain flush
    await settle()
    assert socket.writes[-1] == [text_frame("third")]
    assert writer_tasks() == []
    reader_done.set()
    await serving
