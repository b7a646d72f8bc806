"""examples/echo_bot.py as a subprocess against a real server, running as a bot account on
its API key (PARLEY_API_KEY), as a real bot would: `!echo X` answered with X, a mention
answered with 👀."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from app.client import ParleyClient
from tests.client.conftest import unique
from tests.support.server import ServerFactory

pytestmark = pytest.mark.one_backend

BOT = Path(__file__).resolve().parents[2] / "examples" / "echo_bot.py"


async def test_the_echo_bot_echoes_and_reacts_to_mentions(
    make_server: ServerFactory, new_client: Callable[..., Awaitable[ParleyClient]]
) -> None:
    server = make_server()
    alice = await new_client(server.base_url)
    room = await alice.create_room(unique("bots"))
    name = unique("echo")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        made = await http.post(
            "/bots",
            json={"username": name},
            headers={"Authorization": f"Bearer {alice.access_token}"},
        )
        assert made.status_code == 201, made.text
    api_key = made.json()["api_key"]
    async with ParleyClient(server.base_url, api_key=api_key) as bot:
        assert (await bot.me()).bot
        await bot.join(room.id)
    await alice.send(room.id, "!echo from before the bot started")

    env = {
        **os.environ,
        "PARLEY_URL": server.base_url,
        "PARLEY_API_KEY": api_key,
        "PYTHONPATH": str(BOT.parents[1]),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(BOT), env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            assert (await process.stdout.readline()).strip() == b"ready"
        await alice.send(room.id, "!echo hello there")
        mention = await alice.send(room.id, f"are you awake, @{name}?")
        async with asyncio.timeout(20):
            while True:
                messages = await alice.all_messages(room.id)
                echoed = [m for m in messages if m.author.username == name and m.author.bot]
                eyes = [r for m in messages if m.id == mention.id for r in m.reactions]
                if echoed and eyes:
                    break
                await asyncio.sleep(0.2)
        assert [m.body for m in echoed] == ["hello there"]  # the old command is not answered
        assert [(r.emoji, r.count) for r in eyes] == [("👀", 1)]
    finally:
        process.terminate()
        await process.wait()
