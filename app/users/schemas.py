from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from app.core.validation import SafeText, Storable

USERNAME_MAX_LENGTH = 32
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"

Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN), Storable]
PASSWORD_MAX_LENGTH = 128
Password = Annotated[SafeText, Field(min_length=8, max_length=PASSWORD_MAX_LENGTH)]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Storable
]


# Examples in the OpenAPI document (what /docs pre-fills), rather than Swagger's "string".
EXAMPLE_USER: dict[str, JsonValue] = {
    "id": 1,
    "username": "alice",
    "display_name": "Alice",
    "created_at": "2026-11-21T09:30:00Z",
    "bot": False,
}


class UserRead(BaseModel):
    """The public face of an account; never its password hash."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [EXAMPLE_USER]})

    id: int
    username: str
    display_name: str
    created_at: datetime
    # `is_bot` on the model; `bot` in JSON (also read back from JSON, e.g. a send's author).
    bot: bool = Field(
        False,
        validation_alias=AliasChoices("bot", "is_bot"),
        description="A bot account (acts with an API key; see /bots).",
    )


class UserCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"username": "alice", "password": "correct horse battery", "display_name": "Alice"}
            ]
        }
    )

    username: Username = Field(description="3-32 characters of letters, digits, `_`, `.`, `-`.")
    password: Password = Field(description="8-128 characters.")
    display_name: DisplayName | None = Field(None, description="Defaults to the username.")


class UserUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"display_name": "Alice Liddell"}]})

    display_name: DisplayName


class UsersPage(BaseModel):
    users: list[UserRead]
