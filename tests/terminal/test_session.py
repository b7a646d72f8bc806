"""Accounts and sessions as a person meets them: signing up, a session revoked from
elsewhere, logging out. The saved login is private to its owner."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from app.terminal.credentials import FILE_NAME, CredentialStore, SavedSession
from tests.support.rooms import add_member, create_room
from tests.support.server import LiveServer
from tests.support.users import PASSWORD, UserFactory
from tests.terminal.conftest import StartChat
from tests.terminal.test_conversation import said

pytestmark = [pytest.mark.live, pytest.mark.one_backend]


async def test_sign_up_create_a_room_and_log_out(
    server: LiveServer, start_chat: StartChat, tmp_path: Path, unique: str
) -> None:
    chat = await start_chat(server.base_url, "carol", "--signup")
    await chat.expect("Create an account")
    await chat.expect("Choose a username:")
    chat.type("no")
    await chat.expect("A username is 3 to 32 letters")
    chat.type(f"carol-{unique}")
    await chat.expect("Choose a password:")
    chat.type("short")
    await chat.expect("A password needs 8 to 128 characters.")
    await chat.expect("Choose a username:")
    chat.type(f"carol-{unique}")
    await chat.expect("Choose a password:")
    chat.type(PASSWORD)
    await chat.expect("Repeat the password:")
    chat.type(PASSWORD)
    await chat.expect("Display name")
    chat.type("")
    await chat.expect(f"Signed in as carol-{unique}")

    saved = tmp_path / "carol" / FILE_NAME
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert CredentialStore(saved.parent).load(server.base_url) is not None

    chat.type(f"/create den-{unique} private")
    await chat.expect(f"Created the private room #den-{unique}.")
    chat.type("first!")
    await chat.expect(said(f"carol-{unique}", "first!"))
    chat.type("/rooms")
    await chat.expect(f"* #den-{unique}")
    await chat.expect("owner, private")
    chat.type("/leave")
    await chat.expect("! The owner cannot leave")
    chat.type("/frobnicate")
    await chat.expect("! Unknown command /frobnicate. Type /help for the list.")
    chat.type("/help")
    await chat.expect("/history [N]")

    chat.type("/logout")
    await chat.expect("Logged out; the saved login is forgotten.")
    assert await chat.exit_code() == 0
    assert CredentialStore(saved.parent).load(server.base_url) is None


async def test_a_revoked_session_asks_for_the_password_again(
    server: LiveServer, start_chat: StartChat, tmp_path: Path, unique: str
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        dave = await UserFactory(api).create(f"dave-{unique}")
        await create_room(api, dave, f"attic-{unique}")
        store = CredentialStore(tmp_path / "dave")
        store.save(server.base_url, SavedSession(dave.username, dave.refresh_token))
        chat = await start_chat(server.base_url, "dave", "--room", f"attic-{unique}")
        await chat.expect(f"--- #attic-{unique} ---")
        await chat.expect(f"#attic-{unique}>")

        # Log this session out from elsewhere: its socket closes with 4401 and the saved
        # refresh token stops working, so only the password helps.
        saved = store.load(server.base_url)
        assert saved is not None
        assert saved.refresh_token != dave.refresh_token  # rotated at start
        tokens = (
            await api.post("/auth/refresh", json={"refresh_token": saved.refresh_token})
        ).json()
        logout = await api.post(
            "/auth/logout",
            json={"refresh_token": tokens["refresh_token"]},
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert logout.status_code == 204

        await chat.expect("Your session has ended")
        await chat.expect(f"Password for {dave.username}:")
        chat.type("not the password")
        await chat.expect("Wrong username or password.")
        await chat.expect(f"Password for {dave.username}:")
        chat.type(PASSWORD)
        await chat.expect("Signed in again.")
        chat.type("back again")
        await chat.expect(said(dave.username, "back again"))
        chat.type("/quit")
        assert await chat.exit_code() == 0


async def test_being_added_removed_and_losing_a_room_is_announced(
    server: LiveServer, start_chat: StartChat, tmp_path: Path, unique: str
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        factory = UserFactory(api)
        erin, frank = (
            await factory.create(f"erin-{unique}"),
            await factory.create(f"frank-{unique}"),
        )
        CredentialStore(tmp_path / "erin").save(
            server.base_url, SavedSession(erin.username, erin.refresh_token)
        )
        chat = await start_chat(server.base_url, "erin")
        await chat.expect(f"Signed in as {erin.username}")
        await chat.expect("no room")  # the status line once the socket is connected

        vault = await create_room(api, frank, f"vault-{unique}", visibility="private")
        await add_member(api, frank, vault["id"], erin)
        await chat.expect(f"{frank.username} added you to #vault-{unique}")
        chat.type(f"/join vault-{unique}")
        await chat.expect(f"--- #vault-{unique} ---")
        await api.delete(f"/rooms/{vault['id']}/members/{erin.id}", headers=frank.headers)
        await chat.expect(f"You were removed from #vault-{unique}.")

        await add_member(api, frank, vault["id"], erin)
        await chat.expect(f"{frank.username} added you to #vault-{unique}")
        await api.delete(f"/rooms/{vault['id']}", headers=frank.headers)
        await chat.expect(f"{frank.username} deleted #vault-{unique}.")
        chat.type("/quit")
        assert await chat.exit_code() == 0
