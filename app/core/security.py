"""Password hashing and token handling. No I/O here besides CPU work moved off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import secrets
import unicodedata
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
        return await self._run(self._context.hash, normalise_password(password))

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Check a password; return (ok, new_hash) where new_hash is set when the stored hash
        should be replaced: made with weaker parameters than today's, or made before
        passwords were normalised."""
        return await self._run(self._verify, password, password_hash)

    def _verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        normalised = normalise_password(password)
        if password_hash is None:
            # As many checks as a real account would cost, so timing reveals nothing.
            for _ in range(1 if normalised == password else 2):
                self._context.verify(normalised, self._dummy_hash)
            return False, None
        ok, new_hash = self._context.verify_and_update(normalised, password_hash)
        if ok or normalised == password:
            return ok, new_hash
        # Hashes made before normalisation hold the password as it was typed: accept that
        # form once more and replace the hash with one of the normalised form.
        if self._context.verify(password, password_hash):
            return True, self._context.hash(normalised)
        return False, None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, function: Callable[..., T], *args: str | None) -> T:
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


def normalise_password(password: str) -> str:
    """NFKC, so that the same password typed on another keyboard or OS (composed or
    decomposed accents, fullwidth forms) is the same password."""
    return unicodedata.normalize("NFKC", password)


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
        access = AccessClaims(
            user_id=int(claims["sub"]),
            session_id=int(claims["sid"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            token_id=str(claims["jti"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("access token is missing a claim") from exc
    # The JWT library compares whole seconds, which lets a token live up to a second past
    # `exp`; a WebSocket would then be accepted only to be closed 4401 at once.
    if access.expires_at <= datetime.now(UTC):
        raise InvalidToken("access token expired")
    return access


def new_refresh_token() -> str:
    """An opaque, high-entropy token: never a JWT, so it cannot pass for an access token."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash is enough: the token has 256 bits of entropy, unlike a password.
    return hashlib.sha256(token.encode()).hexdigest()
