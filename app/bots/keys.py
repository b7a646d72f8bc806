"""API keys: their format, and finding who holds one.

A key reads `pk_<key id>_<secret>`: the `pk_` prefix tells it apart from a JWT (and lets
secret scanners and people recognise it), the key id (16 hex digits) finds its row with one
indexed lookup, and the secret carries 256 random bits. Only the SHA-256 of the whole key is
stored; it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import AuthSession
from app.bots.models import ApiKey
from app.users.models import User

PREFIX = "pk_"
# What a key looks like; anything else is not looked up at all.
KEY_PATTERN = re.compile(r"pk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
# A key does not expire: its session says so with the latest time there is, which is also
# what `hello.expires_at` shows a bot. Rotation or deletion ends it.
NEVER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    plaintext: str
    key_hash: str


def looks_like_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


def new_key() -> NewKey:
    key_id = secrets.token_hex(8)
    plaintext = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id=key_id, plaintext=plaintext, key_hash=hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def hint(key_id: str) -> str:
    """What a listing may show of a key: its public id, never the secret."""
    return f"{PREFIX}{key_id}_…"


async def find_holder(session: AsyncSession, token: str) -> tuple[User, int] | None:
    """The bot holding this key and the key's session id, or None if the key is malformed,
    unknown, wrong, revoked, or its bot deleted. One indexed query."""
    match = KEY_PATTERN.fullmatch(token)
    if match is None:
        return None
    row = await session.execute(
        select(User, ApiKey.key_hash, ApiKey.session_id, AuthSession.revoked_at)
        .join(ApiKey, ApiKey.user_id == User.id)
        .join(AuthSession, AuthSession.id == ApiKey.session_id)
        .where(ApiKey.key_id == match.group(1))
    )
    found = row.one_or_none()
    if found is None:
        return None
    user, key_hash, session_id, revoked_at = found
    if not hmac.compare_digest(key_hash, hash_key(token)):
        return None
    if revoked_at is not None or user.deleted_at is not None or not user.is_bot:
        return None
    return user, session_id
