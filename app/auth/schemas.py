from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Form
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

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

    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": EXAMPLE_REFRESH_TOKEN}]}
    )

    refresh_token: str | None = Field(
        None, max_length=512, description="The session's refresh token; it stops working too."
    )


class LoginForm(OAuth2PasswordRequestForm):
    """The OAuth2 password form (what /docs' Authorize sends), with sensible examples for
    "Try it out" and lengths bounded before any password hashing is spent on them."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form(max_length=128, examples=["alice"])],
        password: Annotated[
            str,
            Form(
                max_length=1024,
                examples=["correct horse battery"],
                json_schema_extra={"format": "password"},
            ),
        ],
        scope: Annotated[str, Form(max_length=1024, examples=[""])] = "",
        # Parley has no OAuth2 clients: the examples leave these empty rather than "string".
        client_id: Annotated[str | None, Form(max_length=256, examples=[""])] = None,
        client_secret: Annotated[
            str | None,
            Form(max_length=256, examples=[""], json_schema_extra={"format": "password"}),
        ] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )
