from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.validation import SafeText, Storable

USERNAME_MAX_LENGTH = 32
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"

Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN), Storable]
PASSWORD_MAX_LENGTH = 128
Password = Annotated[SafeText, Field(min_length=8, max_length=PASSWORD_MAX_LENGTH)]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Storable
]


class UserRead(BaseModel):
    """The public face of an account; never its password hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    created_at: datetime


class UserCreate(BaseModel):
    username: Username = Field(description="3-32 characters of letters, digits, `_`, `.`, `-`.")
    password: Password = Field(description="8-128 characters.")
    display_name: DisplayName | None = Field(None, description="Defaults to the username.")


class UserUpdate(BaseModel):
    display_name: DisplayName


class UsersPage(BaseModel):
    users: list[UserRead]
