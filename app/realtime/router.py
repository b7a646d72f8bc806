from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, WebSocket

from app.auth.dependencies import WebSocketAuth
from app.core.validation import BIGINT_MAX, RoomIdPath
from app.protocol import asyncapi
from app.realtime.dependencies import SocketServicesDep
from app.realtime.handler import run_connection

router = APIRouter(tags=["realtime"])


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi_document() -> Response:
    """The WebSocket protocol as an AsyncAPI 3.0 document (docs/asyncapi.json; the REST
    half is /openapi.json). The same bytes as the committed file."""
    return Response(asyncapi.document_json(), media_type="application/json")


@router.websocket("/ws")
async def websocket_endpoint(
    websocket: WebSocket, caller: WebSocketAuth, services: SocketServicesDep
) -> None:
    """Real-time chat: one connection, many rooms. The token (`?token=` or an
    `Authorization: Bearer` header) is checked before the handshake is accepted."""
    await run_connection(websocket, services, caller)


@router.websocket("/rooms/{room_id}/ws")
async def room_websocket_endpoint(
    websocket: WebSocket,
    room_id: RoomIdPath,
    caller: WebSocketAuth,
    services: SocketServicesDep,
    since_seq: Annotated[int | None, Query(ge=0, le=BIGINT_MAX)] = None,
    since_rev: Annotated[int | None, Query(ge=0, le=BIGINT_MAX)] = None,
) -> None:
    """The same endpoint, subscribed to `room_id` at connect (resuming after `since_rev`,
    every change, or else `since_seq`, new messages)."""
    await run_connection(
        websocket, services, caller, room_id=room_id, since_seq=since_seq, since_rev=since_rev
    )
