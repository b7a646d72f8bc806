"""The session's plumbing against a scripted WebSocket server on loopback (no Parley
server, so each test takes milliseconds): URLs, backoff, the outbox kept across a lost
socket with the same `client_id`, `wait_sent`, token renewal margins, and a revoked
login that pauses the session until the next `login`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from app.client import Backoff, ParleyClient, Tokens
from app.client.models import (
    Ack,
    Connected,
    Disconnected,
    ErrorFrame,
    Event,
    Hello,
    LoggedOut,
    Message,
    Subscribed,
    User,
)

ME = User(id=1, username="alice", display_name="Alice", created_at=datetime(2026, 1, 1, tzinfo=UTC))
TOKENS = Tokens(access_token="a1", refresh_token="r1", expires_in=3600)

Script = Callable[[ServerConnection, int], Awaitable[None]]


def stored(frame: dict[str, Any], seq: int) -> Message:
    return Message(
        id=100 + seq,
        room_id=frame["room_id"],
        seq=seq,
        rev=seq,
        author=ME,
        body=frame["body"],
        created_at=datetime.now(UTC),
        edited_at=None,
        deleted=False,
        client_id=frame["client_id"],
    )


class FakeServer:
    """Greets each socket with `hello`, records every frame, and runs `script` for the
    socket's number (1, 2, ...)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sockets = 0
        self.frames: list[list[dict[str, Any]]] = []
        self.port = 0

    async def handle(self, ws: ServerConnection) -> None:
        self.sockets += 1
        self.frames.append([])
        hello = Hello(user=ME, heartbeat_interval=30, expires_at=datetime.now(UTC))
        await ws.send(hello.model_dump_json())
        await self.script(ws, self.sockets)

    async def read(self, ws: ServerConnection) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await ws.recv())
        self.frames[-1].append(frame)
        return frame

    def sent(self, socket: int, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames[socket - 1] if f["type"] == kind]


@contextlib.asynccontextmanager
async def running(script: Script) -> AsyncIterator[FakeServer]:
    fake = FakeServer(script)
    async with serve(fake.handle, "127.0.0.1", 0) as server:
        fake.port = next(iter(server.sockets)).getsockname()[1]
        yield fake


async def until(session_events: AsyncIterable[Event], kind: type[Any]) -> Any:
    async with asyncio.timeout(5):
        async for event in session_events:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"the session ended before a {kind.__name__}")


@pytest.mark.parametrize(
    ("server", "ws"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
        ("https://chat.example/parley/", "wss://chat.example/parley/ws"),
    ],
)
def test_the_websocket_url_follows_the_server_url(server: str, ws: str) -> None:
    assert ParleyClient(server).ws_url == ws


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_tokens_are_renewed_a_margin_early_or_at_half_life() -> None:
    long = ParleyClient("http://x", tokens=TOKENS.model_copy(update={"expires_in": 900}))
    assert 839 < long.renew_in <= 840  # 60 s early
    short = ParleyClient("http://x", tokens=TOKENS.model_copy(update={"expires_in": 4}))
    assert 1.9 < short.renew_in <= 2  # at half-life: a 60 s margin would renew at once
    assert long.refresh_margin == 60


async def test_unacked_sends_keep_their_client_id_across_a_lost_socket() -> None:
    async def script(ws: ServerConnection, socket: int) -> None:
        if socket == 1:  # takes two sends, acks neither, and goes away
            for _ in range(2):
                await fake.read(ws)
            await ws.close(1012)
            return
        seq = 0
        while True:
            frame = await fake.read(ws)
            if frame["type"] == "send":
                seq += 1
                ack = Ack(client_id=frame["client_id"], message=stored(frame, seq))
                await ws.send(ack.model_dump_json())

    async with running(script) as fake:
        client = ParleyClient(f"http://127.0.0.1:{fake.port}", tokens=TOKENS)
        async with client.session(backoff=Backoff(base=0.01)) as session:
            await until(session, Connected)
            first = await session.send(5, "one")
            second = await session.send(5, "two")
            assert len(set(session.pending)) == 2
            await until(session, Disconnected)
            async with asyncio.timeout(5):
                await session.wait_sent()
            assert session.pending == []
            assert [(await first).body, (await second).body] == ["one", "two"]
        resent = [f["client_id"] for f in fake.sent(2, "send")]
        assert resent == [f["client_id"] for f in fake.sent(1, "send")]
        assert resent == [(await first).client_id, (await second).client_id]
        await client.aclose()


async def test_a_revoked_login_pauses_the_session_until_the_next_login() -> None:
    refreshes: list[str] = []

    def rest(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/refresh":
            refreshes.append(json.loads(request.content)["refresh_token"])
            return httpx.Response(401, json={"detail": "Invalid refresh token."})
        body = {"access_token": "a2", "refresh_token": "r2", "expires_in": 3600}
        return httpx.Response(200, json=body)

    async def script(ws: ServerConnection, socket: int) -> None:
        subscribe = await fake.read(ws)
        subscribed = Subscribed(
            room_id=subscribe["room_id"],
            last_seq=0,
            last_rev=0,
            replayed=0,
            complete=True,
            online=[ME],
            ref=subscribe.get("ref"),
        )
        await ws.send(subscribed.model_dump_json())
        if socket == 1:
            await ws.close(4401)  # logged out elsewhere: the refresh token is dead too
            return
        frame = await fake.read(ws)
        await ws.send(Ack(client_id=frame["client_id"], message=stored(frame, 1)).model_dump_json())
        await ws.wait_closed()  # stay open

    async with running(script) as fake:
        client = ParleyClient(
            f"http://127.0.0.1:{fake.port}", tokens=TOKENS, transport=httpx.MockTransport(rest)
        )
        async with client.session([5], relogin=True, backoff=Backoff(base=0.01)) as session:
            await until(session, Subscribed)
            logged_out = await until(session, LoggedOut)
            assert logged_out.reason == "Invalid refresh token."
            assert not client.logged_in
            done = await session.send(5, "typed while logged out")
            await asyncio.sleep(0.1)
            assert fake.sockets == 1  # it waits for a login, it does not hammer the server
            await client.login("alice", "password")
            async with asyncio.timeout(5):
                assert (await done).body == "typed while logged out"
            assert fake.sent(2, "subscribe")[0]["room_id"] == 5  # resumed, room and all
        assert refreshes == ["r1"]
        await client.aclose()


async def test_without_relogin_a_revoked_login_ends_the_session() -> None:
    def rest(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "Invalid refresh token."})

    async def script(ws: ServerConnection, socket: int) -> None:
        await ws.close(4401)

    async with running(script) as fake:
        client = ParleyClient(
            f"http://127.0.0.1:{fake.port}", tokens=TOKENS, transport=httpx.MockTransport(rest)
        )
        async with client.session(backoff=Backoff(base=0.01)) as session:
            async with asyncio.timeout(5):
                events = [event async for event in session]
        assert any(isinstance(e, LoggedOut) for e in events)
        assert isinstance(events[-1], Disconnected)
        await client.aclose()


async def test_a_send_the_server_could_not_take_just_now_is_sent_again() -> None:
    async def script(ws: ServerConnection, socket: int) -> None:
        frame = await fake.read(ws)  # refused for now: a dependency is down, or shutting down
        unavailable = ErrorFrame(
            code="unavailable",
            detail="The server is shutting down; retry with the same client_id.",
            retry_after=0.05,
            ref=frame["ref"],
        )
        await ws.send(unavailable.model_dump_json())
        frame = await fake.read(ws)
        await ws.send(Ack(client_id=frame["client_id"], message=stored(frame, 1)).model_dump_json())
        await ws.wait_closed()

    async with running(script) as fake:
        client = ParleyClient(f"http://127.0.0.1:{fake.port}", tokens=TOKENS)
        async with client.session(backoff=Backoff(base=0.01)) as session:
            await until(session, Connected)
            done = await session.send(5, "again")
            async with asyncio.timeout(5):
                assert (await done).body == "again"
        sent = fake.sent(1, "send")
        assert [f["client_id"] for f in sent] == [sent[0]["client_id"]] * 2
        await client.aclose()
