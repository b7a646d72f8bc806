"""Server-to-client frames, built once per event as JSON text.

A message is serialized once (`MessageRead` JSON) and embedded as-is in the frames that
carry it, through `orjson.Fragment`, so fan-out never re-encodes per recipient.

The frames are defined by the models in `app/protocol/server.py`; these builders are the
hot path's fast way to the same bytes (tests/protocol/test_frames.py holds them equal).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from app.protocol.types import Ref


def encode(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload, option=orjson.OPT_UTC_Z).decode()


def _with_ref(payload: dict[str, Any], ref: Ref) -> dict[str, Any]:
    if ref is not None:
        payload["ref"] = ref
    return payload


def message(message_json: str) -> str:
    return encode({"type": "message", "message": orjson.Fragment(message_json)})


def ack(*, client_id: str | None, message_json: str, ref: Ref = None) -> str:
    payload = {"type": "ack", "client_id": client_id, "message": orjson.Fragment(message_json)}
    return encode(_with_ref(payload, ref))


def message_updated(message_json: str) -> str:
    return encode({"type": "message.updated", "message": orjson.Fragment(message_json)})


def message_deleted(*, room_id: int, message_id: int, seq: int, rev: int) -> str:
    return encode(
        {"type": "message.deleted", "room_id": room_id, "id": message_id, "seq": seq, "rev": rev}
    )


def room_updated(room_json: str) -> str:
    return encode({"type": "room.updated", "room": orjson.Fragment(room_json)})


def room_joined(*, room_json: str, by_json: str) -> str:
    return encode(
        {"type": "room.joined", "room": orjson.Fragment(room_json), "by": orjson.Fragment(by_json)}
    )


def room_left(*, room_id: int, reason: str, by_json: str) -> str:
    return encode(
        {"type": "room.left", "room_id": room_id, "reason": reason, "by": orjson.Fragment(by_json)}
    )


def room_deleted(room_id: int) -> str:
    return encode({"type": "room.deleted", "room_id": room_id})


def typing(*, room_id: int, user_json: str) -> str:
    return encode({"type": "typing", "room_id": room_id, "user": orjson.Fragment(user_json)})


def read(*, room_id: int, user_id: int, seq: int) -> str:
    return encode({"type": "read", "room_id": room_id, "user_id": user_id, "seq": seq})


def presence(*, room_id: int, user_json: str, status: str) -> str:
    return encode(
        {
            "type": "presence",
            "room_id": room_id,
            "user": orjson.Fragment(user_json),
            "status": status,
        }
    )


def hello(*, user_json: str, heartbeat_interval: int, expires_at: datetime) -> str:
    return encode(
        {
            "type": "hello",
            "user": orjson.Fragment(user_json),
            "heartbeat_interval": heartbeat_interval,
            "expires_at": expires_at,
        }
    )


def subscribed(
    *,
    room_id: int,
    last_seq: int,
    last_rev: int,
    replayed: int,
    complete: bool,
    online_json: str,
    ref: Ref = None,
) -> str:
    payload = {
        "type": "subscribed",
        "room_id": room_id,
        "last_seq": last_seq,
        "last_rev": last_rev,
        "replayed": replayed,
        "complete": complete,
        "online": orjson.Fragment(online_json),
    }
    return encode(_with_ref(payload, ref))


def unsubscribed(*, room_id: int, reason: str, ref: Ref = None) -> str:
    return encode(_with_ref({"type": "unsubscribed", "room_id": room_id, "reason": reason}, ref))


def authenticated(*, expires_at: datetime, ref: Ref = None) -> str:
    return encode(_with_ref({"type": "authenticated", "expires_at": expires_at}, ref))


def pong(ref: Ref = None) -> str:
    return encode(_with_ref({"type": "pong"}, ref))


def error(code: str, detail: str, *, ref: Ref = None, **extra: Any) -> str:
    return encode(_with_ref({"type": "error", "code": code, "detail": detail, **extra}, ref))


def reacted(*, message_json: str, ref: Ref = None) -> str:
    """To the sender of `react` / `unreact`: the message as it now is."""
    return encode(_with_ref({"type": "reacted", "message": orjson.Fragment(message_json)}, ref))


def mention(*, room_id: int, message_json: str) -> str:
    return encode({"type": "mention", "room_id": room_id, "message": orjson.Fragment(message_json)})
