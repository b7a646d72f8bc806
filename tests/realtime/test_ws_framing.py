"""Framing as RFC 6455 asks, Autobahn-style: hand-made frames on a bare socket against a
real server (`parley serve`, its own WebSocket protocol), one case per rule.

A case sends frames after the `hello` and expects either replies (frames, in order) or a
close with a code followed by the server hanging up. The app's `ping` frame, answered with
a `pong` text frame, shows that a message got through whole.
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from app.protocol.client import MAX_FRAME_BYTES
from tests.support.rawws import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Out,
    RawWs,
    close_payload,
)
from tests.support.rooms import add_member, create_room
from tests.support.server import LiveServer, ServerFactory
from tests.support.users import TestUser, UserFactory
from tests.support.ws import EPHEMERAL, WsClient

pytestmark = [pytest.mark.live, pytest.mark.one_backend]


def app_ping(ref: object) -> bytes:
    return orjson.dumps({"type": "ping", "ref": ref})


def app_pong(ref: object) -> tuple[int, bytes]:
    return TEXT, orjson.dumps({"type": "pong", "ref": ref})


PING_JSON = app_ping("r")
# (id, frames sent, frames expected back in order)
REPLIES: list[tuple[str, list[Out], list[tuple[int, bytes]]]] = [
    ("text", [Out(TEXT, PING_JSON)], [app_pong("r")]),
    ("binary-json", [Out(BINARY, PING_JSON)], [app_pong("r")]),
    (
        "fragmented-3",
        [
            Out(TEXT, PING_JSON[:5], fin=False),
            Out(CONT, PING_JSON[5:9], fin=False),
            Out(CONT, PING_JSON[9:]),
        ],
        [app_pong("r")],
    ),
    (
        "fragmented-empty-parts",
        [Out(TEXT, b"", fin=False), Out(CONT, PING_JSON, fin=False), Out(CONT, b"")],
        [app_pong("r")],
    ),
    (
        "fragmented-binary",
        [Out(BINARY, PING_JSON[:3], fin=False), Out(CONT, PING_JSON[3:])],
        [app_pong("r")],
    ),
    (
        "ping-inside-fragmented",
        [Out(TEXT, PING_JSON[:5], fin=False), Out(PING, b"mid"), Out(CONT, PING_JSON[5:])],
        [(PONG, b"mid"), app_pong("r")],
    ),
    (
        "pong-inside-fragmented",
        [Out(TEXT, PING_JSON[:5], fin=False), Out(PONG, b"x"), Out(CONT, PING_JSON[5:])],
        [app_pong("r")],
    ),
    (
        "utf8-split-across-fragments",
        [Out(TEXT, app_ping("κ")[:-3], fin=False), Out(CONT, app_ping("κ")[-3:])],
        [app_pong("κ")],
    ),
    ("ping-empty", [Out(PING)], [(PONG, b"")]),
    ("ping-payload", [Out(PING, b"hello")], [(PONG, b"hello")]),
    ("ping-125", [Out(PING, bytes(range(125)))], [(PONG, bytes(range(125)))]),
    ("ping-binary-payload", [Out(PING, b"\x00\xff\xfe")], [(PONG, b"\x00\xff\xfe")]),
    ("unsolicited-pong-ignored", [Out(PONG, b"?"), Out(TEXT, PING_JSON)], [app_pong("r")]),
    (
        "payload-16-bit-length",
        [Out(TEXT, app_ping("x" * 300))],
        [app_pong("x" * 300)],
    ),
    (
        "payload-64-bit-length",  # 65,536 bytes needs the 8-byte length (the limit allows it)
        [Out(TEXT, app_ping("x" * (MAX_FRAME_BYTES - 27)))],
        [app_pong("x" * (MAX_FRAME_BYTES - 27))],
    ),
]

# (id, frames sent, close code expected)
CLOSES: list[tuple[str, list[Out], int | None]] = [
    ("close-1000", [Out(CLOSE, close_payload(1000, b"bye"))], 1000),
    ("close-4000-private-code", [Out(CLOSE, close_payload(4000))], 4000),
    ("close-3000-registered-code", [Out(CLOSE, close_payload(3000))], 3000),
    ("close-empty", [Out(CLOSE)], None),
    ("close-1-byte", [Out(CLOSE, b"\x03")], 1002),
    ("close-code-0", [Out(CLOSE, close_payload(0))], 1002),
    ("close-code-999", [Out(CLOSE, close_payload(999))], 1002),
    ("close-code-1004", [Out(CLOSE, close_payload(1004))], 1002),
    ("close-code-1005", [Out(CLOSE, close_payload(1005))], 1002),
    ("close-code-1006", [Out(CLOSE, close_payload(1006))], 1002),
    ("close-code-1015", [Out(CLOSE, close_payload(1015))], 1002),
    ("close-code-5000", [Out(CLOSE, close_payload(5000))], 1002),
    ("close-reason-invalid-utf8", [Out(CLOSE, close_payload(1000, b"\xff"))], 1007),
    ("close-too-long", [Out(CLOSE, close_payload(1000, b"x" * 124))], 1002),
    ("text-invalid-utf8", [Out(TEXT, b'{"type": "ping", "ref": "\xff"}')], 1007),
    ("text-invalid-utf8-truncated", [Out(TEXT, b"\xce")], 1007),
    (
        "text-invalid-utf8-in-second-fragment",
        [Out(TEXT, b'{"type": "ping", "ref": "\xce', fin=False), Out(CONT, b'A"}')],
        1007,
    ),
    ("unmasked", [Out(TEXT, PING_JSON, masked=False)], 1002),
    ("rsv1", [Out(TEXT, PING_JSON, rsv=4)], 1002),
    ("rsv2", [Out(TEXT, PING_JSON, rsv=2)], 1002),
    ("rsv3", [Out(TEXT, PING_JSON, rsv=1)], 1002),
    ("rsv-on-ping", [Out(PING, b"p", rsv=7)], 1002),
    *[(f"opcode-{op:#x}", [Out(op, b"x")], 1002) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xF)],
    ("ping-126", [Out(PING, b"x" * 126)], 1002),
    ("pong-126", [Out(PONG, b"x" * 126)], 1002),
    ("ping-fragmented", [Out(PING, b"p", fin=False)], 1002),
    ("continuation-first", [Out(CONT, PING_JSON)], 1002),
    (
        "text-inside-fragmented",
        [Out(TEXT, PING_JSON[:5], fin=False), Out(TEXT, PING_JSON)],
        1002,
    ),
    ("oversize-frame", [Out(TEXT, b"x" * (MAX_FRAME_BYTES + 1))], 1009),
    (
        "oversize-across-fragments",
        [Out(TEXT, b"x" * 40_000, fin=False), Out(CONT, b"x" * 40_000)],
        1009,
    ),
    ("oversize-binary", [Out(BINARY, b"x" * (MAX_FRAME_BYTES + 1))], 1009),
]


async def open_raw(server: LiveServer, users: UserFactory, user: TestUser | None = None) -> RawWs:
    user = user or await users.create()
    client = await RawWs.connect(server.base_url, user.access_token)
    opcode, hello = await client.recv()
    assert opcode == TEXT
    assert orjson.loads(hello)["type"] == "hello"
    return client


@pytest.mark.parametrize(
    ("sent", "expected"), [c[1:] for c in REPLIES], ids=[c[0] for c in REPLIES]
)
async def test_replies(
    server: LiveServer, users: UserFactory, sent: list[Out], expected: list[tuple[int, bytes]]
) -> None:
    client = await open_raw(server, users)
    try:
        await client.send(*sent)
        assert [await client.recv() for _ in expected] == expected
        # Still open and in step: one more round trip.
        await client.send(Out(TEXT, app_ping("again")))
        assert await client.recv() == app_pong("again")
        await client.send(Out(CLOSE, close_payload(1000)))
        assert await client.close_code() == 1000
    finally:
        client.abort()


@pytest.mark.parametrize(("sent", "code"), [c[1:] for c in CLOSES], ids=[c[0] for c in CLOSES])
async def test_closes(
    server: LiveServer, users: UserFactory, sent: list[Out], code: int | None
) -> None:
    client = await open_raw(server, users)
    try:
        await client.send(*sent)
        assert await client.close_code() == code
    finally:
        client.abort()


async def test_compressed_and_plain_clients_hear_the_same_broadcast(
    make_server: ServerFactory,
) -> None:
    """WS_COMPRESSION=true: a client that negotiates permessage-deflate gets compressed frames
    (uvicorn frames them per connection), one that does not gets the shared frame."""
    server = make_server(WS_COMPRESSION="true")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        people = UserFactory(api)
        alice, bob = await people.create(), await people.create()
        room = await create_room(api, alice)
        await add_member(api, alice, room["id"], bob)
        compressed = await WsClient.connect(server.ws_url, alice.access_token)
        assert compressed.ws.protocol.extensions  # websockets offers deflate by default
        plain = await open_raw(server, people, bob)
        await compressed.subscribe(room["id"])
        await plain.send(Out(TEXT, orjson.dumps({"type": "subscribe", "room_id": room["id"]})))
        while orjson.loads((await plain.recv())[1])["type"] != "subscribed":
            pass
        await compressed.send(type="send", room_id=room["id"], body="x" * 500, client_id="c1")
        heard = await compressed.next("message", skip=(*EPHEMERAL, "ack"))
        while True:
            _opcode, data = await plain.recv()
            if orjson.loads(data)["type"] == "message":
                break
        assert orjson.loads(data) == heard
        await compressed.close()
        plain.abort()
