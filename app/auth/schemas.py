from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.validation import SafeText

# Shapes only: real tokens are longer (a JWT, and an opaque random string).
EXAMPLE_ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.signature"
EXAMPLE_REFRESH_TOKEN = "rt_example-refresh-token"


class Tokens(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": EXAMPLE_ACCESS_TOKEN,
                    "refresh_token": EXAMPLE_REFRESH_TOKEN,
                    "token_type": "bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": EXAMPLE_REFRESH_TOKEN}]}
    )

    refresh_token: SafeText = Field(min_length=1, max_length=512)


class LogoutRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": EXAMPLE_REFRESH_TOKEN}]}
    )

    refresh_token: SafeText | None = Field(
        None, max_length=512, description="The session's refresh token; it stops working too."
    )
