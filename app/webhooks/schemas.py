from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.protocol.types import WebhookEvents, WebhookUrl


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl = Field(examples=["https://hooks.example.com/parley"])
    events: WebhookEvents = Field(examples=[["message.created", "mention"]])


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    events: WebhookEvents | None = None
    # "active" re-enables a disabled webhook: it resumes with the change it stopped at.
    state: Literal["active", "disabled"] | None = None


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    room_id: int
    url: str
    events: list[str]
    state: Literal["active", "disabled"]
    created_at: datetime
    # The rev of the last change delivered (or passed over: not subscribed to).
    delivered_rev: int
    # Consecutive failed attempts at the next change (0 when all is well).
    failures: int


class WebhookCreated(WebhookRead):
    # Shown once; sign-checking needs it (see README "Webhooks").
    secret: str


class WebhooksPage(BaseModel):
    webhooks: list[WebhookRead]


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The delivery id (`Parley-Delivery`), the same on every attempt.")
    event: str
    rev: int
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    created_at: datetime


class DeliveriesPage(BaseModel):
    deliveries: list[DeliveryRead]
