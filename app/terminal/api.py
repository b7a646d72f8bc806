"""Parley's REST API as the terminal client uses it (httpx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

HISTORY_PAGE_MAX = 200
REPLIES_PAGE_MAX = 200
CHANGES_PAGE_MAX = 1000

User = dict[str, Any]
Room = dict[str, Any]
Message = dict[str, Any]


class ApiError(Exception):
    """The server refused a call; `str()` is its `detail`, fit to show as it is."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ServerUnreachable(Exception):
    """No answer from the server at all (refused, timed out, DNS...)."""


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: float


class TokenSource(Protocol):
    @property
    def access_token(self) -> str: ...

    async def renew(self, stale: str | None = None) -> None:
        """Get a fresh access token (unless `stale` was already replaced)."""


def describe_error(response: httpx.Response) -> str:
    """One line from a FastAPI error body: `{"detail": str | [validation errors]}`."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        problems = []
        for item in detail:
            if isinstance(item, dict):
                field = str(item.get("loc", ["?"])[-1])
                problems.append(f"{field}: {item.get('msg', 'invalid')}")
        if problems:
            return "; ".join(problems)
    return f"the server answered {response.status_code} {response.reason_phrase}"


class Api:
    def __init__(self, http: httpx.AsyncClient, tokens: TokenSource | None = None) -> None:
        self._http = http
        self.tokens = tokens

    # Accounts ---------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> Tokens:
        data = await self._call(
            "POST", "/auth/login", data={"username": username, "password": password}
        )
        return _tokens(data)

    async def signup(self, username: str, password: str, display_name: str | None) -> User:
        body: dict[str, str] = {"username": username, "password": password}
        if display_name:
            body["display_name"] = display_name
        return await self._call("POST", "/auth/signup", json=body)

    async def refresh(self, refresh_token: str) -> Tokens:
        data = await self._call("POST", "/auth/refresh", json={"refresh_token": refresh_token})
        return _tokens(data)

    async def logout(self, refresh_token: str) -> None:
        await self._authorized("POST", "/auth/logout", json={"refresh_token": refresh_token})

    async def me(self) -> User:
        return await self._authorized("GET", "/users/me")

    # Rooms and messages -----------------------------------------------------------------

    async def list_rooms(self) -> list[Room]:
        return list((await self._authorized("GET", "/rooms"))["rooms"])

    async def create_room(self, name: str, *, private: bool) -> Room:
        body = {"name": name, "visibility": "private" if private else "public"}
        return await self._authorized("POST", "/rooms", json=body)

    async def join_room(self, room_id: int, user_id: int) -> None:
        await self._authorized("PUT", f"/rooms/{room_id}/members/{user_id}")

    async def leave_room(self, room_id: int, user_id: int) -> None:
        await self._authorized("DELETE", f"/rooms/{room_id}/members/{user_id}")

    async def history(
        self,
        room_id: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = 50,
    ) -> tuple[list[Message], bool]:
        params: dict[str, int] = {"limit": min(limit, HISTORY_PAGE_MAX)}
        if before_seq is not None:
            params["before_seq"] = before_seq
        if after_seq is not None:
            params["after_seq"] = after_seq
        page = await self._authorized("GET", f"/rooms/{room_id}/messages", params=params)
        return list(page["messages"]), bool(page["has_more"])

    async def changes(
        self, room_id: int, *, after_rev: int, limit: int = CHANGES_PAGE_MAX
    ) -> tuple[list[Message], int, bool]:
        """The room's changes after `after_rev`: messages, the next after_rev, has_more."""
        params = {"after_rev": after_rev, "limit": min(limit, CHANGES_PAGE_MAX)}
        page = await self._authorized("GET", f"/rooms/{room_id}/changes", params=params)
        return list(page["messages"]), int(page["last_rev"]), bool(page["has_more"])

    async def set_reaction(self, room_id: int, message_id: int, emoji: str, *, on: bool) -> Message:
        """Add (`on`) or remove our `emoji`; the message in its new state."""
        path = f"/rooms/{room_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}"
        return await self._authorized("PUT" if on else "DELETE", path)

    async def replies(
        self, room_id: int, message_id: int, *, after_seq: int = 0, limit: int = REPLIES_PAGE_MAX
    ) -> tuple[list[Message], bool]:
        params = {"after_seq": after_seq, "limit": min(limit, REPLIES_PAGE_MAX)}
        path = f"/rooms/{room_id}/messages/{message_id}/replies"
        page = await self._authorized("GET", path, params=params)
        return list(page["messages"]), bool(page["has_more"])

    async def search(self, room_id: int, query: str, *, limit: int = 20) -> list[Message]:
        params: dict[str, str | int] = {"q": query, "limit": limit}
        page = await self._authorized("GET", f"/rooms/{room_id}/messages/search", params=params)
        return list(page["messages"])

    async def find_users(self, prefix: str, *, limit: int = 20) -> list[User]:
        page = await self._authorized("GET", "/users", params={"prefix": prefix, "limit": limit})
        return list(page["users"])

    async def open_dm(self, user_id: int) -> Room:
        """The direct conversation with that user (created if new)."""
        return await self._authorized("POST", "/dms", json={"user_id": user_id})

    # Plumbing ---------------------------------------------------------------------------

    async def _authorized(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call with the access token; on 401 renew it once and try again."""
        if self.tokens is None:
            raise RuntimeError("not logged in")
        token = self.tokens.access_token
        try:
            return await self._call(method, path, token=token, **kwargs)
        except ApiError as exc:
            if exc.status != 401:
                raise
        await self.tokens.renew(stale=token)
        return await self._call(method, path, token=self.tokens.access_token, **kwargs)

    async def _call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"cannot reach {self._http.base_url}: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, describe_error(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _tokens(data: dict[str, Any]) -> Tokens:
    return Tokens(
        access_token=str(data["access_token"]),
        refresh_token=str(data["refresh_token"]),
        expires_in=float(data["expires_in"]),
    )
