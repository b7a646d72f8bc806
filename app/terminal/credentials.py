"""The saved session: for each server, who logged in and their refresh token.

Stored as JSON in `$PARLEY_CONFIG_DIR/credentials.json` (default `~/.config/parley/`),
readable by its owner only. Refresh tokens rotate on every use, so several `parley chat`
processes that share the file take turns through an advisory lock: each re-reads the token
just before spending it (`SavedLogin` is the `app.client.TokenStore` that
`ParleyClient.refresh` does this through).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.client import Tokens

logger = logging.getLogger(__name__)

FILE_NAME = "credentials.json"
LOCK_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SavedSession:
    username: str
    refresh_token: str


def config_dir() -> Path:
    """`$PARLEY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/parley`, else `~/.config/parley`."""
    explicit = os.environ.get("PARLEY_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "parley"


class CredentialStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME

    @classmethod
    def default(cls) -> CredentialStore:
        return cls(config_dir())

    def load(self, server: str) -> SavedSession | None:
        entry = self._read().get(server)
        if not isinstance(entry, dict):
            return None
        username, token = entry.get("username"), entry.get("refresh_token")
        if not isinstance(username, str) or not isinstance(token, str):
            return None
        return SavedSession(username=username, refresh_token=token)

    def save(self, server: str, saved: SavedSession) -> None:
        sessions = self._read()
        sessions[server] = {"username": saved.username, "refresh_token": saved.refresh_token}
        self._write(sessions)

    def forget(self, server: str) -> None:
        sessions = self._read()
        if sessions.pop(server, None) is not None:
            self._write(sessions)

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the store's advisory lock (other `parley chat` processes wait for it)."""
        if sys.platform == "win32":  # no flock; concurrent refreshes are merely unlikely there
            yield
            return
        import fcntl

        self._ensure_directory()
        fd = os.open(self.directory / f"{FILE_NAME}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = asyncio.get_running_loop().time() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if asyncio.get_running_loop().time() > deadline:
                        logger.warning("%s stayed locked; going ahead without it", self.path)
                        break
                    await asyncio.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable %s: %s", self.path, exc)
            return {}
        sessions = data.get("sessions") if isinstance(data, dict) else None
        return dict(sessions) if isinstance(sessions, dict) else {}

    def _write(self, sessions: dict[str, Any]) -> None:
        self._ensure_directory()
        text = json.dumps({"version": 1, "sessions": sessions}, indent=2, sort_keys=True)
        # Write a private temporary file and rename it over the old one: never a moment when
        # the token sits in a file others can read, nor a half-written file.
        # mkstemp creates the file with mode 0600.
        fd, temporary = tempfile.mkstemp(prefix=".credentials-", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)


class SavedLogin:
    """One account's saved login on one server, as `ParleyClient`'s token store."""

    def __init__(self, store: CredentialStore, server: str, username: str) -> None:
        self.store = store
        self.server = server
        self.username = username

    def locked(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.store.locked()

    def load(self) -> str | None:
        # Only this account's token: the file may hold another user's login by now.
        saved = self.store.load(self.server)
        if saved is not None and saved.username.casefold() == self.username.casefold():
            return saved.refresh_token
        return None

    def save(self, tokens: Tokens) -> None:
        self.store.save(self.server, SavedSession(self.username, tokens.refresh_token))

    def forget(self) -> None:
        self.store.forget(self.server)
