"""`ParleyClient`: log in, keep the tokens fresh, and call every REST endpoint with models."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from app.client.models import (
    ChangesPage,
    Member,
    Message,
    MessagePage,
    Room,
    Tokens,
    User,
)

if TYPE_CHECKING:
    from app.client.session import Session

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# Renew the access token this long before it expires, so no call ever carries a stale one.
REFRESH_MARGIN = 60.0


class ParleyError(Exception):
    """Base of the client's errors."""


class ApiError(ParleyError):
    """The server refused a call; `detail` is its `{"detail"}`, fit to show."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class Unreachable(ParleyError):
    """No answer from the server at all (refused, timed out, DNS...)."""


class NotLoggedIn(ParleyError):
    """A call needs tokens and the client has none (or the session was revoked)."""


class SessionRevoked(NotLoggedIn):
    """The server no longer accepts the refresh token (logged out elsewhere, revoked,
    expired): only a new `login` helps. `detail` is the server's reason."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TokenStore(Protocol):
    """Where a client keeps its refresh token between runs, shared by every process that
    logs in as the same account. Refresh tokens rotate on every use and a rotated one
    presented again revokes the session, so the client spends the *latest* saved token,
    holding `locked()` from reading it to saving its successor."""

    def locked(self) -> AbstractAsyncContextManager[object]:
        """Exclusive against other processes sharing the store."""
        ...

    def load(self) -> str | None:
        """The latest refresh token saved for this account, if any."""
        ...

    def save(self, tokens: Tokens) -> None:
        """Keep `tokens.refresh_token` (called after every login and refresh)."""
        ...


# A refused refresh means the session is over (not a passing fault worth retrying).
_REFRESH_REFUSED = (400, 401, 403, 422)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        parts = [
            f"{item.get('loc', ['?'])[-1]}: {item.get('msg', 'invalid')}"
            for item in detail
            if isinstance(item, dict)
        ]
        if parts:
            return "; ".join(parts)
    return f"{response.status_code} {response.reason_phrase}"


class ParleyClient:
    """One account on one Parley server.

    `async with ParleyClient("http://host:8000") as client: await client.login(u, p)`, or
    for a bot `ParleyClient("http://host:8000", api_key="pk_…")` (no login).
    Every authorized call renews the access token shortly before it expires (
    `refresh_margin` seconds, or at half-life for short-lived tokens), and once more if the
    server answers 401 anyway; refresh tokens rotate as the contract says. With a `store`
    the refresh token outlives the process (`resume` starts from it) and processes that
    share it take turns. A refused refresh raises `SessionRevoked` and drops the tokens
    until the next `login`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tokens: Tokens | None = None,
        api_key: str | None = None,
        timeout: float = 10.0,
        refresh_margin: float = REFRESH_MARGIN,
        transport: httpx.AsyncBaseTransport | None = None,
        store: TokenStore | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)
        self._tokens: Tokens | None = None
        self._expires_at = 0.0
        self._lifetime = 0.0
        self.refresh_margin = refresh_margin
        self.store = store
        self._logged_in = asyncio.Event()
        # One refresh at a time: a rotated refresh token presented twice revokes the session.
        self._refresh_lock = asyncio.Lock()
        # A bot's API key: sent as the bearer token everywhere; it does not expire, so it is
        # never refreshed (a 401 means its owner rotated or deleted it).
        self.api_key = api_key
        if api_key is not None:
            self._logged_in.set()
        if tokens is not None:
            self._set_tokens(tokens)

    async def __aenter__(self) -> ParleyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Tokens ------------------------------------------------------------------------------

    @property
    def tokens(self) -> Tokens | None:
        return self._tokens

    @property
    def access_token(self) -> str:
        if self.api_key is not None:
            return self.api_key
        if self._tokens is None:
            raise NotLoggedIn("log in first")
        return self._tokens.access_token

    @property
    def logged_in(self) -> bool:
        return self.api_key is not None or self._tokens is not None

    async def wait_logged_in(self) -> None:
        """Until the client has tokens (after a `SessionRevoked`: until the next login)."""
        await self._logged_in.wait()

    @property
    def expires_in(self) -> float:
        """Seconds until the access token expires (by our clock)."""
        if self.api_key is not None:
            return math.inf
        return self._expires_at - time.monotonic()

    @property
    def renew_in(self) -> float:
        """Seconds until `fresh_token` will renew the access token."""
        return self.expires_in - min(self.refresh_margin, self._lifetime / 2)

    def _set_tokens(self, tokens: Tokens) -> None:
        self._tokens = tokens
        self._lifetime = tokens.expires_in
        self._expires_at = time.monotonic() + tokens.expires_in
        self._logged_in.set()

    def _drop_tokens(self) -> None:
        self._tokens = None
        self._logged_in.clear()

    async def signup(self, username: str, password: str, display_name: str | None = None) -> User:
        body = {"username": username, "password": password}
        if display_name:
            body["display_name"] = display_name
        return User.model_validate(await self._call("POST", "/auth/signup", json=body))

    async def login(self, username: str, password: str) -> Tokens:
        data = await self._call(
            "POST", "/auth/login", data={"username": username, "password": password}
        )
        tokens = Tokens.model_validate(data)
        self._set_tokens(tokens)
        if self.store is not None:
            self.store.save(tokens)
        return tokens

    async def resume(self, refresh_token: str) -> Tokens:
        """Log in with a refresh token saved earlier (the store's latest wins if newer);
        raises `SessionRevoked` if the server no longer accepts it."""
        self._set_tokens(Tokens(access_token="", refresh_token=refresh_token, expires_in=0))
        return await self.refresh()

    async def refresh(self, stale: str | None = None) -> Tokens:
        """Rotate the tokens (unless `stale` was already replaced by another caller)."""
        if self.api_key is not None:
            # Nothing to renew: the server refused the key (rotated, or its bot deleted), and
            # only a new key helps, so the session ends as for a revoked login.
            raise SessionRevoked("The API key was refused: it was rotated or its bot deleted.")
        async with self._refresh_lock:
            if self._tokens is None:
                raise NotLoggedIn("log in first")
            if stale is not None and self._tokens.access_token != stale:
                return self._tokens
            if self.store is None:
                return await self._rotate(self._tokens.refresh_token)
            async with self.store.locked():
                # Another process may have rotated the shared token since we last read it.
                return await self._rotate(self.store.load() or self._tokens.refresh_token)

    async def _rotate(self, refresh_token: str) -> Tokens:
        try:
            data = await self._call("POST", "/auth/refresh", json={"refresh_token": refresh_token})
        except ApiError as exc:
            if exc.status not in _REFRESH_REFUSED:
                raise
            self._drop_tokens()
            logger.info("the session ended: %s", exc.detail)
            raise SessionRevoked(exc.detail) from exc
        tokens = Tokens.model_validate(data)
        self._set_tokens(tokens)
        if self.store is not None:
            self.store.save(tokens)
        logger.debug("access token renewed")
        return tokens

    async def fresh_token(self) -> str:
        """An access token good for at least `refresh_margin` more seconds (or half its
        lifetime, for tokens that live less than twice that)."""
        token = self.access_token
        if self.renew_in <= 0:
            await self.refresh(stale=token)
        return self.access_token

    async def logout(self) -> None:
        if self._tokens is None:
            return
        await self._authorized(
            "POST", "/auth/logout", json={"refresh_token": self._tokens.refresh_token}
        )
        self._drop_tokens()

    async def me(self) -> User:
        return User.model_validate(await self._authorized("GET", "/users/me"))

    # Users and DMs -------------------------------------------------------------------------

    async def users(self, prefix: str = "", *, limit: int = 20) -> list[User]:
        page = await self._authorized("GET", "/users", params={"prefix": prefix, "limit": limit})
        return [User.model_validate(u) for u in page["users"]]

    async def open_dm(self, user_id: int) -> Room:
        return Room.model_validate(
            await self._authorized("POST", "/dms", json={"user_id": user_id})
        )

    # Rooms -----------------------------------------------------------------------------------

    async def rooms(self) -> list[Room]:
        page = await self._authorized("GET", "/rooms")
        return [Room.model_validate(r) for r in page["rooms"]]

    async def room(self, room_id: int) -> Room:
        return Room.model_validate(await self._authorized("GET", f"/rooms/{room_id}"))

    async def create_room(
        self,
        name: str,
        *,
        topic: str | None = None,
        visibility: Literal["public", "private"] = "public",
    ) -> Room:
        body: dict[str, Any] = {"name": name, "visibility": visibility}
        if topic is not None:
            body["topic"] = topic
        return Room.model_validate(await self._authorized("POST", "/rooms", json=body))

    async def update_room(self, room_id: int, **changes: Any) -> Room:
        return Room.model_validate(
            await self._authorized("PATCH", f"/rooms/{room_id}", json=changes)
        )

    async def delete_room(self, room_id: int) -> None:
        await self._authorized("DELETE", f"/rooms/{room_id}")

    async def members(self, room_id: int) -> list[Member]:
        page = await self._authorized("GET", f"/rooms/{room_id}/members")
        return [Member.model_validate(m) for m in page["members"]]

    async def add_member(self, room_id: int, user_id: int, *, role: str | None = None) -> None:
        body = {"role": role} if role else None
        await self._authorized("PUT", f"/rooms/{room_id}/members/{user_id}", json=body)

    async def join(self, room_id: int) -> None:
        """Join a public room as ourselves."""
        await self.add_member(room_id, (await self.me()).id)

    async def remove_member(self, room_id: int, user_id: int) -> None:
        await self._authorized("DELETE", f"/rooms/{room_id}/members/{user_id}")

    async def mark_read(self, room_id: int, seq: int) -> None:
        await self._authorized("PUT", f"/rooms/{room_id}/read", json={"seq": seq})

    # Messages --------------------------------------------------------------------------------

    async def messages(
        self,
        room_id: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = 50,
    ) -> MessagePage:
        params = _params(before_seq=before_seq, after_seq=after_seq, limit=limit)
        return await self._model(MessagePage, "GET", f"/rooms/{room_id}/messages", params=params)

    async def all_messages(self, room_id: int, *, page_size: int = 200) -> list[Message]:
        """The room's whole history, oldest first (paged)."""
        found: list[Message] = []
        after = 0
        while True:
            page = await self.messages(room_id, after_seq=after, limit=page_size)
            found.extend(page.messages)
            if not page.has_more or not page.messages:
                return found
            after = page.messages[-1].seq

    async def changes(self, room_id: int, *, after_rev: int = 0, limit: int = 100) -> ChangesPage:
        params = {"after_rev": after_rev, "limit": limit}
        return await self._model(ChangesPage, "GET", f"/rooms/{room_id}/changes", params=params)

    async def send(
        self,
        room_id: int,
        body: str,
        *,
        client_id: str | None = None,
        reply_to: int | None = None,
    ) -> Message:
        payload: dict[str, Any] = {"body": body}
        if client_id is not None:
            payload["client_id"] = client_id
        if reply_to is not None:
            payload["reply_to"] = reply_to
        return await self._model(Message, "POST", f"/rooms/{room_id}/messages", json=payload)

    async def edit(self, room_id: int, message_id: int, body: str) -> Message:
        path = f"/rooms/{room_id}/messages/{message_id}"
        return await self._model(Message, "PATCH", path, json={"body": body})

    async def delete(self, room_id: int, message_id: int) -> None:
        await self._authorized("DELETE", f"/rooms/{room_id}/messages/{message_id}")

    async def react(self, room_id: int, message_id: int, emoji: str) -> Message:
        return await self._model(Message, "PUT", _reaction_path(room_id, message_id, emoji))

    async def unreact(self, room_id: int, message_id: int, emoji: str) -> Message:
        return await self._model(Message, "DELETE", _reaction_path(room_id, message_id, emoji))

    async def replies(
        self, room_id: int, message_id: int, *, after_seq: int = 0, limit: int = 50
    ) -> MessagePage:
        path = f"/rooms/{room_id}/messages/{message_id}/replies"
        params = {"after_seq": after_seq, "limit": limit}
        return await self._model(MessagePage, "GET", path, params=params)

    async def search(self, room_id: int, query: str, *, limit: int = 20) -> list[Message]:
        path = f"/rooms/{room_id}/messages/search"
        page = await self._authorized("GET", path, params={"q": query, "limit": limit})
        return [Message.model_validate(m) for m in page["messages"]]

    # WebSocket -------------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        if self.base_url.startswith("https://"):
            return "wss://" + self.base_url.removeprefix("https://") + "/ws"
        return "ws://" + self.base_url.removeprefix("http://") + "/ws"

    def session(self, rooms: Iterable[int] = (), **options: Any) -> Session:
        """A WebSocket `Session` subscribed to `rooms` (see `app.client.session`)."""
        from app.client.session import Session

        return Session(self, rooms, **options)

    # Plumbing --------------------------------------------------------------------------------

    async def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(await self._authorized(method, path, **kwargs))

    async def _authorized(self, method: str, path: str, **kwargs: Any) -> Any:
        token = await self.fresh_token()
        try:
            return await self._call(method, path, token=token, **kwargs)
        except ApiError as exc:
            if exc.status != 401:
                raise
        await self.refresh(stale=token)
        return await self._call(method, path, token=self.access_token, **kwargs)

    async def _call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.base_url}: {exc or type(exc).__name__}") from exc
        if response.status_code >= 400:
            retry = response.headers.get("Retry-After")
            raise ApiError(
                response.status_code,
                _detail(response),
                float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _params(**values: int | None) -> dict[str, int]:
    return {key: value for key, value in values.items() if value is not None}


def _reaction_path(room_id: int, message_id: int, emoji: str) -> str:
    return f"/rooms/{room_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}"
