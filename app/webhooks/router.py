"""`/rooms/{room_id}/webhooks`: the room's owner and admins manage its webhooks.

Creating, changing and testing resolve the URL's host (and `test` sends a request): they
hold no database connection meanwhile; authentication and the writes are short units of
work of their own.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from fastapi import APIRouter, Path, Response, status

from app.auth.dependencies import CurrentUser, ReleasedAuth
from app.auth.exceptions import InvalidAccessToken
from app.core.errors import DomainError, Forbidden, error_responses
from app.core.validation import INT_MAX, RoomIdPath
from app.dependencies import SessionDep, StateDep
from app.rooms.exceptions import NotRoomMember, RoomNotFound
from app.webhooks import service as webhook_service
from app.webhooks import ssrf
from app.webhooks.dependencies import WebhooksDep, WebhookServices
from app.webhooks.schemas import (
    DeliveriesPage,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhooksPage,
    WebhookUpdate,
)
from app.webhooks.service import TooManyWebhooks, WebhookNotFound

router = APIRouter(
    prefix="/rooms/{room_id}/webhooks",
    tags=["webhooks"],
    responses=error_responses(InvalidAccessToken, RoomNotFound, NotRoomMember, Forbidden),
)

WebhookIdPath = Annotated[int, Path(ge=1, le=INT_MAX, description="A webhook's id.")]


class UrlRefused(DomainError):
    status_code: ClassVar[int] = 422
    code: ClassVar[str] = "invalid_frame"
    default_detail: ClassVar[str] = "That URL cannot be used for a webhook."


def shown_once(response: Response) -> None:
    # The secret is in this body and nowhere else: no cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"


async def _checked(url: str, services: WebhookServices) -> str:
    try:
        await ssrf.check(url, services.allow, services.resolve)
    except ssrf.Refused as exc:
        raise UrlRefused(f"url: {exc}") from exc
    return url


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=error_responses(UrlRefused, TooManyWebhooks),
)
async def create_webhook(
    room_id: RoomIdPath,
    data: WebhookCreate,
    auth: ReleasedAuth,
    state: StateDep,
    services: WebhooksDep,
    response: Response,
) -> WebhookCreated:
    """Deliver the room's changes (`events`) to `url` from now on. The answer holds the
    signing `secret`, shown this once. `url` must be http(s) and resolve to public
    addresses, unless WEBHOOK_ALLOWED_HOSTS permits it (422)."""
    async with state.transaction() as session:  # the room must be visible before we resolve
        await webhook_service.ensure_manager(session, auth.user, room_id)
    await _checked(data.url, services)
    async with state.transaction() as session:
        created = await webhook_service.create_webhook(
            session,
            auth.user,
            room_id,
            data,
            box=services.secrets,
            max_per_room=services.max_per_room,
        )
    services.worker.wake(room_id)
    shown_once(response)
    return created


@router.get("", response_model=WebhooksPage)
async def list_webhooks(
    room_id: RoomIdPath, user: CurrentUser, session: SessionDep
) -> WebhooksPage:
    """The room's webhooks (never their secrets)."""
    return WebhooksPage(webhooks=await webhook_service.list_webhooks(session, user, room_id))


@router.get(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=error_responses(RoomNotFound, WebhookNotFound),
)
async def get_webhook(
    room_id: RoomIdPath, webhook_id: WebhookIdPath, user: CurrentUser, session: SessionDep
) -> WebhookRead:
    webhook = await webhook_service.get_webhook(session, user, room_id, webhook_id)
    return webhook_service.webhook_read(webhook)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=error_responses(RoomNotFound, WebhookNotFound, UrlRefused),
)
async def update_webhook(
    room_id: RoomIdPath,
    webhook_id: WebhookIdPath,
    data: WebhookUpdate,
    auth: ReleasedAuth,
    state: StateDep,
    services: WebhooksDep,
) -> WebhookRead:
    """Change `url` or `events`, or `state`: `"active"` re-enables a disabled webhook (it
    resumes with the change it stopped at), `"disabled"` pauses it (changes keep for it)."""
    async with state.transaction() as session:
        await webhook_service.get_webhook(session, auth.user, room_id, webhook_id)
    if data.url is not None:
        await _checked(data.url, services)
    async with state.transaction() as session:
        updated = await webhook_service.update_webhook(
            session, auth.user, room_id, webhook_id, data
        )
    services.worker.wake(room_id)
    return updated


@router.post(
    "/{webhook_id}/secret",
    response_model=WebhookCreated,
    # RoomNotFound again: a route's own 404 replaces the router's in the document.
    responses=error_responses(RoomNotFound, WebhookNotFound),
    summary="Rotate a webhook's signing secret",
)
async def rotate_secret(
    room_id: RoomIdPath,
    webhook_id: WebhookIdPath,
    user: CurrentUser,
    session: SessionDep,
    services: WebhooksDep,
    response: Response,
) -> WebhookCreated:
    """Replace the webhook's signing `secret`; the answer shows the new one, this once.
    The old secret stops at once: from this answer on, every delivery attempt (the retry of
    one in flight or waiting to retry too) is signed with the new secret only. Deliveries
    the receiver refuses while it switches (e.g. 401 for a signature it cannot check yet)
    retry with backoff as usual, so nothing is lost."""
    rotated = await webhook_service.rotate_secret(
        session, user, room_id, webhook_id, box=services.secrets
    )
    shown_once(response)
    return rotated


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(RoomNotFound, WebhookNotFound),
)
async def delete_webhook(
    room_id: RoomIdPath, webhook_id: WebhookIdPath, user: CurrentUser, session: SessionDep
) -> Response:
    await webhook_service.delete_webhook(session, user, room_id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveriesPage,
    responses=error_responses(RoomNotFound, WebhookNotFound),
)
async def list_deliveries(
    room_id: RoomIdPath, webhook_id: WebhookIdPath, user: CurrentUser, session: SessionDep
) -> DeliveriesPage:
    """The newest attempts first, with their answers (status code or error) and durations;
    the last WEBHOOK_DELIVERY_LOG_SIZE are kept."""
    deliveries = await webhook_service.list_deliveries(session, user, room_id, webhook_id)
    return DeliveriesPage(deliveries=deliveries)


@router.post(
    "/{webhook_id}/test",
    response_model=DeliveryRead,
    responses=error_responses(RoomNotFound, WebhookNotFound),
)
async def test_webhook(
    room_id: RoomIdPath,
    webhook_id: WebhookIdPath,
    auth: ReleasedAuth,
    state: StateDep,
    services: WebhooksDep,
) -> DeliveryRead:
    """Send a signed `ping` event now (`message`: null) and answer how it went. A disabled
    webhook can be tested too; a ping counts toward no failures."""
    async with state.transaction() as session:
        webhook = await webhook_service.get_webhook(session, auth.user, room_id, webhook_id)
        last_rev = await webhook_service.last_rev(session, room_id)
    entry = await webhook_service.ping(
        services.sender, services.secrets, webhook=webhook, last_rev=last_rev
    )
    async with state.transaction() as session:
        await webhook_service.log_ping(session, entry, keep=services.delivery_log_size)
    return webhook_service.delivery_read(entry)
