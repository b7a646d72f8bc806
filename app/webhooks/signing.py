"""Webhook secrets: made, kept encrypted at rest, and used to sign each delivery.

The secret is shown once, at creation (a rotation shows its new one once). The server must
still know it to sign, so it cannot be hashed like a password; it is stored encrypted
(Fernet: AES-128-CBC + HMAC-SHA256) with a key derived from SECRET_KEY by HKDF, so a copy
of the database alone does not reveal it.
Changing SECRET_KEY makes stored secrets unreadable: such a webhook's attempts fail (and it
is eventually disabled) until its secret is rotated (`POST …/{id}/secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "whsec_"
HKDF_INFO = b"parley webhook secrets v1"


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with this SECRET_KEY (it was changed)."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class SecretBox:
    def __init__(self, server_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
            server_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SecretUnreadable() from exc


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`Parley-Signature`: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def headers(*, secret: str, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Parley-Webhooks/1",
        "Parley-Delivery": delivery_id,
        "Parley-Timestamp": str(timestamp),
        "Parley-Signature": signature(secret, timestamp, body),
    }
