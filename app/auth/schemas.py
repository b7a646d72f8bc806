from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.core.validation import SafeText


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(BaseModel):
    refresh_token: SafeText = Field(min_length=1, max_length=512)


class LogoutRequest(BaseModel):
    refresh_token: SafeText | None = Field(
        None, max_length=512, description="The session's refresh token; it stops working too."
    )
