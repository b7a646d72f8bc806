from __future__ import annotations

from app.core.errors import Conflict, Forbidden, Unauthorized


class UsernameTaken(Conflict):
    default_detail = "That username is taken."


class InvalidCredentials(Unauthorized):
    default_detail = "Incorrect username or password."


class InvalidAccessToken(Unauthorized):
    default_detail = "Invalid, expired or revoked access token."


class InvalidRefreshToken(Unauthorized):
    default_detail = "Invalid, expired or revoked refresh token."


class BotForbidden(Forbidden):
    """Something only people do: log in with a password, refresh, log out, manage bots."""

    default_detail = "Bots cannot do that; a bot acts with its API key only."
