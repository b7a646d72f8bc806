"""Password hashing and token handling. No I/O here besides CPU work moved off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from jose import JWTError, jwt
from passlib.context import CryptContext

from app.core.errors import Unavailable

T = TypeVar("T")
ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"


class InvalidToken(Exception):
    """The token is malformed, tampered with, expired, of the wrong type or algorithm."""


class HashingBusy(Unavailable):
    """Every password-hashing slot stayed busy for the whole allowed wait."""

    default_detail = "The server is busy checking passwords; retry in a moment."

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


class PasswordHasher:
    """Argon2id through passlib, at most `concurrency` hashes at once.

    Each hash takes `memory_cost_kib` of RAM and a core for a while, so a flood of signups or
    logins must not start one thread per request: hashing runs on a pool of `concurrency`
    threads, a request waits at most `max_wait` seconds for a free slot, and then gets
    `HashingBusy` (503 with Retry-After). A slot is held until the hash really ends, even if
    the request was cancelled meanwhile (the thread cannot be stopped).
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost_kib: int,
        parallelism: int,
        concurrency: int = 2,
        max_wait: float = 2.0,
    ) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__time_cost=time_cost,
            argon2__memory_cost=memory_cost_kib,
            argon2__parallelism=parallelism,
        )
        # Verified against when the user does not exist, so that an unknown username costs
        # the same as a wrong password and response times do not reveal which accounts exist.
        self._dummy_hash = self._context.hash(secrets.token_urlsafe(16))
        self._max_wait = max_wait
        self._slots = asyncio.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        return await self._run(self._context.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Check a password; return (ok, new_hash) where new_hash is set when the stored hash
        used weaker parameters than today's and should be replaced."""
        if password_hash is None:
            await self._run(self._context.verify, password, self._dummy_hash)
            return False, None
        return await self._run(self._context.verify_and_update, password, password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._max_wait)
        except TimeoutError:
            raise HashingBusy(self._max_wait) from None
        loop = asyncio.get_running_loop()
        try:
            work = self._pool.submit(function, *args)
        except BaseException:
            self._slots.release()
            raise

        def free_slot(_done: object) -> None:
            # A closed loop raises RuntimeError: then nobody is left waiting for a slot.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._slots.release)

        work.add_done_callback(free_slot)
        return await asyncio.wrap_future(work)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: int
    expires_at: datetime
    token_id: str


def create_access_token(
    *, user_id: int, session_id: int, ttl_seconds: int, key: str, now: datetime | None = None
) -> tuple[str, datetime]:
    issued = now or datetime.now(UTC)
    # Whole seconds in the token; rounding the expiry up keeps the promised `expires_in`.
    expires = datetime.fromtimestamp(
        math.ceil((issued + timedelta(seconds=ttl_seconds)).timestamp()), UTC
    )
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
        "type": ACCESS_TOKEN_TYPE,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM), expires


def decode_access_token(token: str, *, key: str) -> AccessClaims:
    try:
        # Naming the one accepted algorithm rejects `alg: none` and algorithm confusion.
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require_exp": True})
    except JWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("type") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("not an access token")
    try:
        return AccessClaims(
            user_id=int(claims["sub"]),
            session_id=int(claims["sid"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            token_id=str(claims["jti"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("access token is missing a claim") from exc


def new_refresh_token() -> str:
    """An opaque, high-entropy token: never a JWT, so it cannot pass for an access token."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash is enough: the token has 256 bits of entropy, unlike a password.
    return hashlib.sha256(token.encode()).hexdigest()
