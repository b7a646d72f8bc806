"""Token renewal: rotation shared by several `parley chat` processes, and its end."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.terminal.api import ApiError, Tokens
from app.terminal.auth import Session, SessionEnded, renew_margin
from app.terminal.credentials import CredentialStore, SavedSession

SERVER = "http://chat.example"


class RotatingServer:
    """Refresh tokens work once, as on the real server (a reused one would be theft)."""

    def __init__(self) -> None:
        self.tokens: object = None
        self.valid = {"r1"}
        self.spent: list[str] = []

    async def refresh(self, refresh_token: str) -> Tokens:
        self.spent.append(refresh_token)
        if refresh_token not in self.valid:
            raise ApiError(401, "Invalid refresh token.")
        self.valid.remove(refresh_token)
        fresh = f"r{len(self.spent) + 1}"
        self.valid.add(fresh)
        return Tokens(access_token=f"a{len(self.spent)}", refresh_token=fresh, expires_in=900)

    async def me(self) -> dict[str, object]:
        return {"id": 1, "username": "alice", "display_name": "Alice"}


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    store = CredentialStore(tmp_path)
    store.save(SERVER, SavedSession("alice", "r1"))
    return store


async def resume(server: RotatingServer, store: CredentialStore) -> Session:
    saved = store.load(SERVER)
    assert saved is not None
    return await Session.resume(api=server, store=store, server=SERVER, saved=saved)  # type: ignore[arg-type]


async def test_two_processes_sharing_the_saved_session_take_turns(
    store: CredentialStore,
) -> None:
    server = RotatingServer()
    first = await resume(server, store)  # spends r1, saves r2
    second = await resume(server, store)  # reads r2 from the file, saves r3
    await first.renew()  # must not spend its own stale r2: reads r3 instead
    await second.renew()
    assert server.spent == ["r1", "r2", "r3", "r4"]
    assert store.load(SERVER) == SavedSession("alice", "r5")
    assert first.user["username"] == "alice"


async def test_a_refused_refresh_ends_the_session_until_a_new_login(
    store: CredentialStore,
) -> None:
    server = RotatingServer()
    session = await resume(server, store)
    ended: list[str] = []
    session.on_ended.append(ended.append)
    server.valid.clear()  # logged out elsewhere
    with pytest.raises(SessionEnded):
        await session.renew()
    assert session.ended
    assert ended == ["Invalid refresh token."]
    session.adopt(Tokens(access_token="a-new", refresh_token="r-new", expires_in=900))
    assert not session.ended
    assert store.load(SERVER) == SavedSession("alice", "r-new")


async def test_a_renewal_already_done_by_someone_else_is_not_repeated(
    store: CredentialStore,
) -> None:
    server = RotatingServer()
    session = await resume(server, store)
    renewed: list[str] = []

    async def listener(token: str) -> None:
        renewed.append(token)

    session.on_renewed.append(listener)
    await session.renew(stale="some older access token")
    assert server.spent == ["r1"]
    await session.renew(stale=session.access_token)
    assert server.spent == ["r1", "r2"]
    assert renewed == [session.access_token]


def test_tokens_are_renewed_a_minute_early_or_at_half_life() -> None:
    assert renew_margin(900) == 60
    assert renew_margin(4) == 2
