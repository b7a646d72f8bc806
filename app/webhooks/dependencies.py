"""What the webhook routes reach: built in `lifespan`, kept on `app.state.webhooks`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.webhooks import signing, ssrf
from app.webhooks.sender import Sender
from app.webhooks.worker import WebhookWorker


@dataclass(frozen=True)
class WebhookServices:
    allow: ssrf.AllowList
    resolve: ssrf.Resolver
    secrets: signing.SecretBox
    sender: Sender
    worker: WebhookWorker
    max_per_room: int
    delivery_log_size: int


def get_webhook_services(connection: HTTPConnection) -> WebhookServices:
    services: WebhookServices = connection.app.state.webhooks
    return services


WebhooksDep = Annotated[WebhookServices, Depends(get_webhook_services)]
