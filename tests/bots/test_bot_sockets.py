"""A bot's key on real WebSockets: it connects like a token, and its sockets close 4401 the
moment the key is rotated or the bot deleted, in every server process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.client import ParleyClient
from app.client.models import Disconnected
from tests.support.bots import create_bot, rotate_key
from tests.support.live import api  # noqa: F401 (shared fixture)
from tests.support.rooms import add_member, create_room, send
from tests.support.server import LiveServer, ServersFactory
from tests.support.users import UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live


async def test_a_key_opens_a_socket_and_rotation_closes_it_4401(
    server: LiveServer,
    api: httpx.AsyncClient,  # noqa: F811
) -> None:
    alice = await UserFactory(api).create()
    bot = await create_bot(api, alice)
    room = await create_room(api, alice)
    await add_member(api, alice, room["id"], bot)
    by_query = await WsClient.connect(server.ws_url, bot.access_token)
    by_header = await WsClient.connect(
        server.ws_url, None, headers={"Authorization": f"Bearer {bot.access_token}"}
    )
    try:
        assert by_query.hello["user"]["bot"] is True
        assert by_query.hello["user"]["id"] == bot.id
        assert by_query.hello["expires_at"].startswith("9999-")  # a key does not expire
        # In-band `auth` takes a key too.
        await by_header.send(type="auth", token=bot.access_token, ref="a")
        assert (await by_header.next("authenticated"))["ref"] == "a"

        # Messages carry `bot` on their author, over the socket too.
        await by_query.subscribe(room["id"])
        await by_query.send(type="send", room_id=room["id"], body="beep", client_id="b1")
        ack = await by_query.next("ack", skip=("presence", "message"))
        assert ack["message"]["author"]["bot"] is True
        await send(api, alice, room["id"], "hello bot")
        heard = await by_query.next("message")
        while heard["message"]["body"] != "hello bot":  # past the bot's own `message`
            heard = await by_query.next("message")
        assert heard["message"]["author"]["bot"] is False

        new = await rotate_key(api, alice, bot)
        assert await by_query.closed() == 4401
        assert await by_header.closed() == 4401
        # The old key is refused at the handshake; the new one works at once.
        with pytest.raises(Exception, match="403"):
            await WsClient.connect(server.ws_url, bot.access_token)
        fresh = await WsClient.connect(server.ws_url, new.access_token)
        await fresh.send(type="ping")
        assert await fresh.recv() == {"type": "pong"}
        await fresh.close()
    finally:
        await by_query.close()
        await by_header.close()


async def test_rotating_one_bots_key_leaves_other_sockets_open(
    server: LiveServer,
    api: httpx.AsyncClient,  # noqa: F811
) -> None:
    alice = await UserFactory(api).create()
    bot, other_bot = await create_bot(api, alice), await create_bot(api, alice)
    mine = await WsClient.connect(server.ws_url, bot.access_token)
    theirs = await WsClient.connect(server.ws_url, other_bot.access_token)
    person = await WsClient.connect(server.ws_url, alice.access_token)
    try:
        new = await rotate_key(api, alice, bot)
        assert await mine.closed() == 4401
        again = await WsClient.connect(server.ws_url, new.access_token)
        deleted = await api.delete(f"/bots/{other_bot.id}", headers=alice.headers)
        assert deleted.status_code == 204
        assert await theirs.closed() == 4401
        for client in (again, person):  # the new key's socket, and the owner's own
            await client.send(type="ping")
            assert await client.recv() == {"type": "pong"}
        await again.close()
    finally:
        for client in (mine, theirs, person):
            await client.close()


@pytest.mark.postgres_only
async def test_rotation_closes_the_keys_sockets_in_another_process(
    make_servers: ServersFactory, redis_url: str
) -> None:
    a, b = make_servers(2, BROKER_URL=redis_url, SHUTDOWN_DRAIN_SECONDS="0")
    async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as on_a:
        alice = await UserFactory(on_a).create()
        bot = await create_bot(on_a, alice)
        on_b = await WsClient.connect(b.ws_url, bot.access_token)
        try:
            await on_b.send(type="ping")
            assert await on_b.recv() == {"type": "pong"}
            await rotate_key(on_a, alice, bot)  # on process A
            assert await on_b.closed(timeout=5) == 4401  # its socket on process B
        finally:
            await on_b.close()


async def test_the_client_runs_on_a_key_and_its_session_ends_when_the_key_is_rotated(
    server: LiveServer,
    api: httpx.AsyncClient,  # noqa: F811
) -> None:
    alice = await UserFactory(api).create()
    bot = await create_bot(api, alice)
    room = await create_room(api, alice)
    await add_member(api, alice, room["id"], bot)
    async with ParleyClient(server.base_url, api_key=bot.access_token) as client:
        assert (await client.me()).bot
        async with client.session([room["id"]]) as session:
            await session.wait_live()
            await rotate_key(api, alice, bot)
            # No reconnect loop on a dead key: the session says why, and ends.
            async with asyncio.timeout(10):
                events = [event async for event in session]
            ends = [e for e in events if isinstance(e, Disconnected)]
            assert ends[-1].retry_in == 0
            assert ends[-1].code == 4401
