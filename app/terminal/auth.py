"""The logged-in session: the current tokens, renewed before they expire.

Access tokens are short-lived; `keep_fresh` renews ~60 s before expiry and tells listeners
(the WebSocket sends the new token with an `auth` frame). When the server no longer accepts
the refresh token (logged out elsewhere, revoked, expired) the session has *ended*: users of
it wait in `wait_valid()` until someone logs in again and calls `adopt()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from app.terminal.api import Api, ApiError, ServerUnreachable, Tokens, User
from app.terminal.credentials import CredentialStore, SavedSession

logger = logging.getLogger(__name__)

RENEW_MARGIN_SECONDS = 60.0
RETRY_SECONDS = 5.0
MIN_RETRY_SECONDS = 0.5

Listener = Callable[[str], Awaitable[None]]


class SessionEnded(Exception):
    """The server no longer accepts this session; log in again."""


class Session:
    def __init__(
        self,
        *,
        api: Api,
        store: CredentialStore,
        server: str,
        username: str,
        tokens: Tokens,
    ) -> None:
        self._api = api
        self._store = store
        self.server = server
        self.username = username
        self.user: User = {}
        self._tokens = tokens
        self._expires = 0.0
        self._lifetime = 0.0
        self._lock = asyncio.Lock()
        self._valid = asyncio.Event()
        self._changed = asyncio.Event()
        self.on_renewed: list[Listener] = []
        self.on_ended: list[Callable[[str], None]] = []
        self._accept(tokens)
        api.tokens = self  # the API's authorized calls use (and renew) these tokens

    @classmethod
    async def resume(
        cls, *, api: Api, store: CredentialStore, server: str, saved: SavedSession
    ) -> Session:
        """Start from a saved refresh token (raises SessionEnded if it no longer works)."""
        session = cls(
            api=api,
            store=store,
            server=server,
            username=saved.username,
            tokens=Tokens(access_token="", refresh_token=saved.refresh_token, expires_in=0),
        )
        await session.renew()
        session.user = await api.me()
        return session

    @classmethod
    async def start(
        cls, *, api: Api, store: CredentialStore, server: str, username: str, tokens: Tokens
    ) -> Session:
        """A session fresh from a password login: saved for the next start."""
        session = cls(api=api, store=store, server=server, username=username, tokens=tokens)
        session.user = await api.me()
        session.username = str(session.user.get("username", username))
        session._save()
        return session

    @property
    def access_token(self) -> str:
        return self._tokens.access_token

    @property
    def refresh_token(self) -> str:
        return self._tokens.refresh_token

    @property
    def ended(self) -> bool:
        return not self._valid.is_set()

    async def wait_valid(self) -> None:
        await self._valid.wait()

    def adopt(self, tokens: Tokens) -> None:
        """Tokens from logging in again (as the same user) after the session ended."""
        self._accept(tokens)
        self._save()

    async def fresh_token(self) -> str:
        """The access token, renewed first if it is (nearly) expired, as after an outage."""
        if time.monotonic() >= self._renew_at():
            await self.renew(stale=self.access_token)
        return self.access_token

    def expire(self, token: str) -> None:
        """The server refused `token`: have the next `fresh_token()` renew it."""
        if token == self._tokens.access_token:
            self._expires = min(self._expires, time.monotonic())

    async def renew(self, stale: str | None = None) -> None:
        """Trade the refresh token for new tokens. With `stale`, do nothing if that access
        token was already replaced (several callers noticed the same expiry)."""
        async with self._lock:
            if stale is not None and stale != self._tokens.access_token:
                return
            async with self._store.locked():
                refresh_token = self._latest_refresh_token()
                try:
                    tokens = await self._api.refresh(refresh_token)
                except ApiError as exc:
                    if exc.status in (400, 401, 403, 422):
                        self._end(exc.detail)
                        raise SessionEnded(exc.detail) from exc
                    raise
                self._accept(tokens)
                self._save()
        for listener in list(self.on_renewed):
            await listener(tokens.access_token)

    async def keep_fresh(self) -> None:
        """Renew the access token shortly before it expires, for as long as this runs."""
        retry_in: float | None = None
        while True:
            await self.wait_valid()
            self._changed.clear()
            token = self.access_token
            due = self._renew_at() - time.monotonic() if retry_in is None else retry_in
            if due > 0 and await self._changes_within(due):
                retry_in = None
                continue  # renewed by someone else meanwhile (or logged in again)
            try:
                await self.renew(stale=token)
            except SessionEnded:
                continue
            except (ServerUnreachable, ApiError) as exc:
                # Try again soon, and sooner as the expiry nears.
                left = self._expires - time.monotonic()
                retry_in = min(RETRY_SECONDS, max(MIN_RETRY_SECONDS, left / 2))
                logger.info("token renewal failed (%s); retrying in %.1fs", exc, retry_in)
            else:
                retry_in = None

    async def _changes_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _latest_refresh_token(self) -> str:
        # Another `parley chat` of ours may have rotated the shared token since we read it;
        # spending our stale copy would look like token theft and revoke the session.
        saved = self._store.load(self.server)
        if saved is not None and saved.username.casefold() == self.username.casefold():
            return saved.refresh_token
        return self._tokens.refresh_token

    def _renew_at(self) -> float:
        return self._expires - renew_margin(self._lifetime)

    def _accept(self, tokens: Tokens) -> None:
        self._tokens = tokens
        self._lifetime = tokens.expires_in
        self._expires = time.monotonic() + tokens.expires_in
        self._valid.set()
        self._changed.set()

    def _save(self) -> None:
        self._store.save(self.server, SavedSession(self.username, self._tokens.refresh_token))

    def _end(self, reason: str) -> None:
        logger.info("session for %s ended: %s", self.username, reason)
        self._valid.clear()
        for listener in list(self.on_ended):
            listener(reason)


def renew_margin(lifetime: float) -> float:
    """How long before expiry to renew: a minute, or half of a short lifetime (room for
    a slow refresh, and for a retry if the server is briefly away)."""
    return min(RENEW_MARGIN_SECONDS, lifetime / 2)
