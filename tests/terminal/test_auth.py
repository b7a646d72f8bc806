"""Token renewal: rotation shared by several `parley chat` processes (through the saved
login, `SavedLogin`, the client's token store), and its end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from app.client import ParleyClient, SessionRevoked
from app.terminal.credentials import CredentialStore, SavedLogin, SavedSession

SERVER = "http://chat.example"

Start = Callable[[], Awaitable[ParleyClient]]


class RotatingServer:
    """Refresh tokens work once, as on the real server (a reused one would be theft)."""

    def __init__(self) -> None:
        self.valid = {"r1"}
        self.spent: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/login":
            self.valid.add("r-new")
            return self._tokens("a-new", "r-new")
        refresh_token = json.loads(request.content)["refresh_token"]
        self.spent.append(refresh_token)
        if refresh_token not in self.valid:
            return httpx.Response(401, json={"detail": "Invalid refresh token."})
        self.valid.remove(refresh_token)
        fresh = f"r{len(self.spent) + 1}"
        self.valid.add(fresh)
        return self._tokens(f"a{len(self.spent)}", fresh)

    def _tokens(self, access: str, refresh: str) -> httpx.Response:
        body = {"access_token": access, "refresh_token": refresh, "expires_in": 900}
        return httpx.Response(200, json=body)


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    store = CredentialStore(tmp_path)
    store.save(SERVER, SavedSession("alice", "r1"))
    return store


@pytest.fixture
async def server() -> RotatingServer:
    return RotatingServer()


@pytest.fixture
async def process(server: RotatingServer, store: CredentialStore) -> AsyncIterator[Start]:
    """`await process()`: one `parley chat` resumed from the saved login."""
    made: list[ParleyClient] = []

    async def start() -> ParleyClient:
        client = ParleyClient(
            SERVER,
            transport=httpx.MockTransport(server.handle),
            store=SavedLogin(store, SERVER, "alice"),
        )
        made.append(client)
        saved = store.load(SERVER)
        assert saved is not None
        await client.resume(saved.refresh_token)
        return client

    yield start
    for client in made:
        await client.aclose()


async def test_two_processes_sharing_the_saved_session_take_turns(
    server: RotatingServer, store: CredentialStore, process: Start
) -> None:
    first = await process()  # spends r1, saves r2
    second = await process()  # reads r2 from the file, saves r3
    await first.refresh()  # must not spend its own stale r2: reads r3 instead
    await second.refresh()
    assert server.spent == ["r1", "r2", "r3", "r4"]
    assert store.load(SERVER) == SavedSession("alice", "r5")


async def test_a_refused_refresh_ends_the_session_until_a_new_login(
    server: RotatingServer, store: CredentialStore, process: Start
) -> None:
    client = await process()
    server.valid.clear()  # logged out elsewhere
    with pytest.raises(SessionRevoked) as refused:
        await client.refresh()
    assert refused.value.detail == "Invalid refresh token."
    assert not client.logged_in
    await client.login("alice", "password")
    assert client.logged_in
    await client.wait_logged_in()
    assert store.load(SERVER) == SavedSession("alice", "r-new")


async def test_a_renewal_already_done_by_someone_else_is_not_repeated(
    server: RotatingServer, process: Start
) -> None:
    client = await process()
    await client.refresh(stale="some older access token")
    assert server.spent == ["r1"]
    await client.refresh(stale=client.access_token)
    assert server.spent == ["r1", "r2"]


async def test_another_accounts_saved_login_is_not_spent(
    server: RotatingServer, store: CredentialStore, process: Start
) -> None:
    client = await process()  # alice: r2 saved
    store.save(SERVER, SavedSession("bob", "bobs-token"))  # bob logged in here since
    await client.refresh()
    assert server.spent == ["r1", "r2"]  # alice's own, not bob's
    assert store.load(SERVER) == SavedSession("alice", "r3")
