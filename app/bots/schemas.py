from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.users.schemas import EXAMPLE_USER, DisplayName, Username, UserRead

EXAMPLE_BOT = {**EXAMPLE_USER, "id": 7, "username": "deploy-bot", "display_name": "Deploy bot"}
EXAMPLE_BOT["bot"] = True
# The shape only: a real key's secret part is 43 random characters.
EXAMPLE_API_KEY = "pk_0123456789abcdef_example-secret-part-of-the-key-shown-once"


class BotCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "deploy-bot", "display_name": "Deploy bot"}]}
    )

    username: Username = Field(description="3-32 characters of letters, digits, `_`, `.`, `-`.")
    display_name: DisplayName | None = Field(None, description="Defaults to the username.")


class BotWithKey(BaseModel):
    """A new bot or a rotated key: the key is shown this once and cannot be read again."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"bot": EXAMPLE_BOT, "api_key": EXAMPLE_API_KEY}]}
    )

    bot: UserRead
    api_key: str = Field(description="Use as `Authorization: Bearer <api_key>`. Shown once.")


class BotRead(BaseModel):
    bot: UserRead
    key_hint: str = Field(description="The key's public part, to tell keys apart.")
    key_created_at: datetime


class BotsPage(BaseModel):
    bots: list[BotRead]
