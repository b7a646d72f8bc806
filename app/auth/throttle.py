"""Login and signup limits, one budget across processes (see `SharedLimiter`).

- Signups: SIGNUPS_PER_ADDRESS_PER_HOUR per client address (each costs a password hash).
- Failed logins per client address: LOGIN_ATTEMPTS_PER_MINUTE, whatever the usernames, so
  one address cannot spray guesses over many accounts.
- Failed logins per username: LOGIN_FAILURES_PER_USERNAME_PER_HOUR from all addresses
  together, so rotating addresses does not multiply the guesses against one account. To keep
  a stranger's failures from locking the owner out, an address that logged in to the account
  successfully in the last KNOWN_ADDRESS_DAYS days is not held to the username budget (only to
  its own per-address budget).

Only failures are counted for logins: a correct password never spends anything. The budgets
are checked before the password is verified and spent after it failed, so attempts already in
flight may overshoot by a few; the password-hash concurrency bound keeps that number small.
"""

from __future__ import annotations

import hashlib

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute

from app.core.config import Settings
from app.core.errors import RateLimited
from app.core.ratelimit import SharedLimiter

KNOWN_ADDRESS_DAYS = 30


class AuthThrottle:
    def __init__(self, limiter: SharedLimiter, settings: Settings) -> None:
        self._limiter = limiter
        self._per_address = _per(RateLimitItemPerMinute, settings.login_attempts_per_minute)
        self._per_username = _per(
            RateLimitItemPerHour, settings.login_failures_per_username_per_hour
        )
        self._signups = _per(RateLimitItemPerHour, settings.signups_per_address_per_hour)

    async def check_signup(self, address: str) -> None:
        if self._signups is not None:
            wait = await self._limiter.hit(self._signups, "signup", address)
            if wait:
                raise RateLimited(wait, "Too many signups from your address; try again later.")

    async def check_login(self, address: str, username_key: str) -> None:
        """Refuse (429) a login attempt whose address or username has no failures left."""
        if self._per_address is not None:
            wait = await self._limiter.test(self._per_address, "login-address", address)
            if wait:
                raise RateLimited(wait, "Too many failed logins from your address; try later.")
        if self._per_username is not None:
            wait = await self._limiter.test(self._per_username, "login-user", username_key)
            if wait and not await self._limiter.remembers(_known_key(address, username_key)):
                raise RateLimited(wait, "Too many failed logins for this account; try later.")

    async def login_failed(self, address: str, username_key: str) -> None:
        if self._per_address is not None:
            await self._limiter.hit(self._per_address, "login-address", address)
        if self._per_username is not None:
            await self._limiter.hit(self._per_username, "login-user", username_key)

    async def login_succeeded(self, address: str, username_key: str) -> None:
        if self._per_username is not None:
            await self._limiter.remember(
                _known_key(address, username_key), KNOWN_ADDRESS_DAYS * 24 * 3600
            )


def _per(kind: type[RateLimitItem], amount: int) -> RateLimitItem | None:
    return kind(amount) if amount > 0 else None


def _known_key(address: str, username_key: str) -> str:
    # Hashed: the key holds no username or address in clear in Redis, and has a fixed length.
    digest = hashlib.sha256(f"{address}\0{username_key}".encode()).hexdigest()
    return f"parley-known-login/{digest}"
