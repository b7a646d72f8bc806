"""The client comes back by itself: after a network loss, a server restart, an expired
token; nothing is lost or shown twice, and what was typed while offline is sent once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.terminal.credentials import CredentialStore, SavedSession
from tests.support.proxy import CuttableProxy
from tests.support.rooms import create_room, history, send
from tests.support.server import LiveServer, ServerFactory
from tests.support.users import TestUser, UserFactory
from tests.terminal.conftest import StartChat
from tests.terminal.test_conversation import TIME, said

pytestmark = [pytest.mark.live, pytest.mark.one_backend]

TOKEN_TTL = 4  # seconds: the client must renew its token on the open socket, often
BACKOFF_SLACK = 20  # seconds: the client's next attempt may be ~8 s after the server is back


@pytest.fixture
async def dedicated(make_server: ServerFactory) -> LiveServer:
    return make_server(REPLAY_LIMIT="2", ACCESS_TOKEN_TTL_SECONDS=str(TOKEN_TTL))


@pytest.fixture
async def proxy(dedicated: LiveServer) -> AsyncIterator[CuttableProxy]:
    proxy = await CuttableProxy(dedicated.port).start()
    yield proxy
    await proxy.close()


def save_session(config_dir: Path, server_url: str, user: TestUser) -> None:
    """As if `user` had logged in with `parley chat` before."""
    CredentialStore(config_dir).save(server_url, SavedSession(user.username, user.refresh_token))


async def say(api: httpx.AsyncClient, user: TestUser, room_id: int, body: str) -> None:
    """`user` sends over REST with a fresh login (access tokens here live seconds)."""
    tokens = await UserFactory(api).login(user.username)
    user.access_token = str(tokens["access_token"])
    await send(api, user, room_id, body)


async def test_network_loss_server_restart_and_token_expiry(
    dedicated: LiveServer, proxy: CuttableProxy, start_chat: StartChat, tmp_path: Path, unique: str
) -> None:
    garden = f"garden-{unique}"
    async with httpx.AsyncClient(base_url=dedicated.base_url, timeout=10) as api:
        users = UserFactory(api)
        alice, bob = await users.create(), await users.create()
        room = await create_room(api, bob, garden)
        await say(api, bob, room["id"], "before anything")
        save_session(tmp_path / "alice", proxy.base_url, alice)
        a = await start_chat(proxy.base_url, "alice", "--room", garden)
        await a.expect(f"You joined #{garden}.")
        await a.expect(said(bob.username, "before anything"))
        await a.expect(f"#{garden}>")
        # The status line names the room's online count only once the socket is open: the
        # room is shown (over REST) before that, and a cut then would be a failed connect.
        await a.shows(re.compile(rf"#{garden}: \d+ online"))

        # The cable is pulled: the socket dies, the server keeps going for everyone else.
        proxy.cut()
        await a.expect("Disconnected (connection lost); reconnecting...")
        a.type("typed while offline")
        await a.expect("the message will be sent when the connection is back")
        for number in range(1, 6):  # more than REPLAY_LIMIT: the rest comes over REST
            await say(api, bob, room["id"], f"missed {number}")
        proxy.restore()
        await a.expect("Reconnected.", timeout=BACKOFF_SLACK)
        await a.expect("Fetching 3 more missed messages...")
        for number in range(1, 6):
            await a.shows(said(bob.username, f"missed {number}"))
        await a.shows(said(alice.username, "typed while offline"))

        # The server restarts (1012): same again.
        await asyncio.to_thread(dedicated.stop)
        await a.expect("Disconnected (server restarting); reconnecting...")
        await asyncio.to_thread(dedicated.start)
        await say(api, bob, room["id"], "after the restart")
        await a.expect("Reconnected.", timeout=BACKOFF_SLACK)
        await a.shows(said(bob.username, "after the restart"))

        # Outlive the access token the socket was opened with.
        await asyncio.sleep(TOKEN_TTL + 0.5)
        a.type("still here")
        await a.shows(said(alice.username, "still here"))
        await say(api, bob, room["id"], "the end")
        await a.shows(said(bob.username, "the end"))

        screen = a.text
        assert "session expired" not in screen
        assert screen.count("Disconnected (") == 2
        # One socket before the cut, one after it, one after the restart: the token was
        # renewed on the open socket, never by reconnecting after a 4401.
        assert dedicated.logs().count('"WebSocket /ws" [accepted]') == 3
        for body in ("before anything", "typed while offline", "after the restart", "the end"):
            assert len(re.findall(re.escape(f": {body}"), screen)) == 1, body
        for number in range(1, 6):
            assert len(re.findall(f": missed {number}\n", screen)) == 1, number
        missed = [m.start() for n in range(1, 6) for m in re.finditer(f"missed {n}\n", screen)]
        assert missed == sorted(missed), "shown in order"
        stored = [m["body"] for m in (await history(api, bob, room["id"]))["messages"]]
        assert stored.count("typed while offline") == 1
        a.type("/quit")
        assert await a.exit_code() == 0


async def test_edits_and_deletes_made_while_offline_show_after_reconnecting(
    dedicated: LiveServer, proxy: CuttableProxy, start_chat: StartChat, tmp_path: Path, unique: str
) -> None:
    pond = f"pond-{unique}"
    async with httpx.AsyncClient(base_url=dedicated.base_url, timeout=10) as api:
        users = UserFactory(api)
        alice, bob = await users.create(), await users.create()
        room = await create_room(api, bob, pond)
        for body in ("first draft", "to be regretted", "plain"):
            await say(api, bob, room["id"], body)
        ids = [m["id"] for m in (await history(api, bob, room["id"]))["messages"]]
        save_session(tmp_path / "alice", proxy.base_url, alice)
        a = await start_chat(proxy.base_url, "alice", "--room", pond)
        await a.expect(said(bob.username, "plain"))
        # Cut only once her subscription is live, so that the client knows the room's change
        # number to resume from: a message sent now reaches her only through it.
        await say(api, bob, room["id"], "are you there")
        await a.expect(said(bob.username, "are you there"))

        proxy.cut()
        await a.expect("Disconnected (connection lost); reconnecting...")
        tokens = await UserFactory(api).login(bob.username)
        bob.access_token = str(tokens["access_token"])
        edited = await api.patch(
            f"/rooms/{room['id']}/messages/{ids[0]}",
            json={"body": "final wording"},
            headers=bob.headers,
        )
        assert edited.status_code == 200
        deleted = await api.delete(f"/rooms/{room['id']}/messages/{ids[1]}", headers=bob.headers)
        assert deleted.status_code == 204
        await say(api, bob, room["id"], "new while away")  # three changes: past REPLAY_LIMIT
        proxy.restore()
        await a.expect("Reconnected.", timeout=BACKOFF_SLACK)

        # The resume by rev shows the edit and the delete, and the new message once.
        await a.shows(re.compile(TIME + re.escape(f"{bob.username} (edited): final wording")))
        await a.shows(f"A message from {bob.username} was deleted.")
        await a.shows(said(bob.username, "new while away"))
        screen = a.text
        assert screen.count("final wording") == 1
        assert screen.count(": new while away") == 1
        a.type("/quit")
        assert await a.exit_code() == 0
