"""A typed async client for Parley: REST (`ParleyClient`) and WebSocket (`Session`).

It shares no code with the server (import-linter enforces it): anything outside the team
can build on it the same way.
"""

from app.client.models import Event, Message, Room, Tokens, User
from app.client.rest import (
    ApiError,
    NotLoggedIn,
    ParleyClient,
    ParleyError,
    SessionRevoked,
    TokenStore,
    Unreachable,
)
from app.client.session import Backoff, Session

__all__ = [
    "ApiError",
    "Backoff",
    "Event",
    "Message",
    "NotLoggedIn",
    "ParleyClient",
    "ParleyError",
    "Room",
    "Session",
    "SessionRevoked",
    "TokenStore",
    "Tokens",
    "Unreachable",
    "User",
]
