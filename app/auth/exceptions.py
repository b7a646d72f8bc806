from __future__ import annotations

from app.core.errors import Conflict, Unauthorized


class UsernameTaken(Conflict):
    default_detail = "That username is taken."


class InvalidCredentials(Unauthorized):
    default_detail = "Incorrect username or password."


class InvalidAccessToken(Unauthorized):
    default_detail = "Invalid, expired or revoked access token."


class InvalidRefreshToken(Unauthorized):
    default_detail = "Invalid, expired or revoked refresh token."
