"""The saved session file: private, per server, robust to damage."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.terminal.credentials import FILE_NAME, CredentialStore, SavedSession, config_dir

SERVER = "http://chat.example:8000"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_sessions_are_private_to_their_owner(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "parley")
    store.save(SERVER, SavedSession("alice", "secret-refresh-token"))
    assert mode(tmp_path / "parley") == 0o700
    assert mode(tmp_path / "parley" / FILE_NAME) == 0o600
    assert store.load(SERVER) == SavedSession("alice", "secret-refresh-token")


def test_a_file_made_readable_by_others_is_private_again_after_a_save(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(SERVER, SavedSession("alice", "one"))
    (tmp_path / FILE_NAME).chmod(0o644)
    store.save(SERVER, SavedSession("alice", "two"))
    assert mode(tmp_path / FILE_NAME) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".credentials-")] == []


def test_one_session_per_server(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(SERVER, SavedSession("alice", "a"))
    store.save("http://other:8000", SavedSession("bob", "b"))
    store.save(SERVER, SavedSession("carol", "c"))
    assert store.load(SERVER) == SavedSession("carol", "c")
    assert store.load("http://other:8000") == SavedSession("bob", "b")
    store.forget(SERVER)
    assert store.load(SERVER) is None
    assert store.load("http://other:8000") == SavedSession("bob", "b")


@pytest.mark.parametrize("content", ["", "not json", "[]", '{"sessions": {"x": 1}}'])
def test_a_damaged_file_is_no_session_rather_than_a_crash(tmp_path: Path, content: str) -> None:
    (tmp_path / FILE_NAME).write_text(content)
    store = CredentialStore(tmp_path)
    assert store.load(SERVER) is None
    store.save(SERVER, SavedSession("alice", "fresh"))
    assert store.load(SERVER) == SavedSession("alice", "fresh")


def test_where_the_file_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_CONFIG_DIR", str(tmp_path / "explicit"))
    assert config_dir() == tmp_path / "explicit"
    monkeypatch.delenv("PARLEY_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "parley"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "home" / ".config" / "parley"


async def test_the_lock_is_exclusive_between_holders(tmp_path: Path) -> None:
    import asyncio

    store = CredentialStore(tmp_path)
    order: list[str] = []

    async def hold(name: str) -> None:
        async with store.locked():
            order.append(f"{name} in")
            await asyncio.sleep(0.1)
            order.append(f"{name} out")

    await asyncio.gather(hold("first"), hold("second"))
    assert order in (
        ["first in", "first out", "second in", "second out"],
        ["second in", "second out", "first in", "first out"],
    )
