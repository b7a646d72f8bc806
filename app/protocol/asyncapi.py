"""The AsyncAPI 3.0 document of the WebSocket protocol, and docs/protocol.md, generated from
the frame models: the real-time counterpart of the OpenAPI document.

    python -m app.protocol.asyncapi --write   # regenerate docs/asyncapi.json, docs/protocol.md
    python -m app.protocol.asyncapi --check   # exit 1 if they are out of date

The document describes the Parley server: it *receives* the client frames and *sends* the
server frames, on one channel `/ws` and its room variant `/rooms/{room_id}/ws`.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.protocol import client, server

VERSION = "2"
DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
ASYNCAPI_PATH = DOCS_DIR / "asyncapi.json"
PROTOCOL_MD_PATH = DOCS_DIR / "protocol.md"

DESCRIPTION = """\
Parley's real-time API. Connect to `/ws` with an access token (`?token=<access_token>` or an
`Authorization: Bearer` header); a missing, invalid, expired or revoked token is refused
before the handshake (HTTP 403). Every frame is one JSON text object with a `type`. A client
may add `ref` (a string of at most 256 characters, or an integer) to any frame; replies and
errors about that frame carry the same `ref`. `/rooms/{room_id}/ws` is the same endpoint,
subscribed to that room at connect (`?since_rev=` or `?since_seq=` allowed). The REST half
is described by the OpenAPI document at `/openapi.json`."""

# What the server promises about delivery (docs/protocol.md and the document's description).
PROMISES: list[str] = [
    "Nothing is acknowledged that is not stored: `ack` comes once the message is committed.",
    "A repeated `client_id` from the same user is acked with the original message and not "
    "broadcast again, so a client may resend its unacked sends after a reconnect.",
    "Per room, `seq` numbers messages 1, 2, 3, ... in commit order with no gaps and no "
    "repeats; `message` frames arrive in `seq` order.",
    "Every change to a room's messages takes the room's next `rev`; per room, a connection "
    "receives changes in increasing `rev` order with nothing missing after its subscription "
    "went live.",
    "`subscribe` with `since_rev` replays the changes after it (each message once, in its "
    "current state, in `rev` order), then `subscribed`; nothing is lost or repeated between "
    "the replay and the live stream. More than `REPLAY_LIMIT` changes: `complete: false`, "
    "and the client pages the rest with `GET /rooms/{room_id}/changes?after_rev=`.",
    "A refused frame gets an `error` frame (with its `ref`); the connection stays open.",
    "A slow or stalled client never delays delivery to anyone else (it is closed with 1013 "
    "and resumes).",
]

CLIENT_FRAMES: dict[str, type[BaseModel]] = dict(client.FRAMES)
SERVER_FRAMES: dict[str, type[BaseModel]] = dict(server.SERVER_FRAMES)


DIRECTIONS = {"client": "client to server", "server": "server to client"}


def _key(direction: str, kind: str) -> str:
    return f"{direction}.{kind}"


def _op_id(action: str, kind: str) -> str:
    return action + "".join(part.capitalize() for part in kind.replace(".", "_").split("_"))


def _schemas() -> dict[str, Any]:
    models = [*CLIENT_FRAMES.values(), *SERVER_FRAMES.values()]
    _, top = models_json_schema(
        [
            (model, "validation" if model in CLIENT_FRAMES.values() else "serialization")
            for model in models
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(sorted(top.get("$defs", {}).items()))
    for model in SERVER_FRAMES.values():
        schema = schemas[model.__name__]
        for name in server.OMITTED_WHEN_NONE:
            if name in schema["properties"]:
                # Absent rather than null: not required, and never null.
                field = schema["properties"][name]
                field["anyOf"] = [o for o in field["anyOf"] if o.get("type") != "null"]
                field.pop("default", None)
                schema["required"].remove(name)
    return schemas


def _summary(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _messages() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for direction, frames in (("client", CLIENT_FRAMES), ("server", SERVER_FRAMES)):
        for kind, model in frames.items():
            messages[_key(direction, kind)] = {
                "name": kind,
                "title": f"{kind} ({DIRECTIONS[direction]})",
                "summary": _summary(model),
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            }
    return messages


def _channel_messages() -> dict[str, Any]:
    return {key: {"$ref": f"#/components/messages/{key}"} for key in _messages()}


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for channel in ("ws", "roomWs"):
        suffix = "" if channel == "ws" else "InRoom"
        for direction, action, frames in (
            ("client", "receive", CLIENT_FRAMES),
            ("server", "send", SERVER_FRAMES),
        ):
            for kind, model in frames.items():
                key = _key(direction, kind)
                operations[_op_id(action, kind) + suffix] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "summary": _summary(model),
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{key}"}],
                }
    return operations


def _query(*names: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "token": {"type": "string", "description": "The access token (or use the header)."},
        "since_rev": {
            "type": "integer",
            "minimum": 0,
            "description": "Replay the room's changes after this rev (wins over since_seq).",
        },
        "since_seq": {
            "type": "integer",
            "minimum": 0,
            "description": "Replay the room's messages after this seq.",
        },
    }
    return {"type": "object", "properties": {name: properties[name] for name in names}}


@cache
def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (built once; it depends only on the code)."""
    promises = "\n".join(f"- {promise}" for promise in PROMISES)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parley real-time API",
            "version": VERSION,
            "description": f"{DESCRIPTION}\n\nDelivery promises:\n\n{promises}",
        },
        "defaultContentType": "application/json",
        "channels": {
            "ws": {
                "address": "/ws",
                "title": "One connection, many rooms",
                "messages": _channel_messages(),
                "bindings": {"ws": {"method": "GET", "query": _query("token")}},
            },
            "roomWs": {
                "address": "/rooms/{room_id}/ws",
                "title": "The same endpoint, subscribed to one room at connect",
                "parameters": {"room_id": {"description": "The room to subscribe to."}},
                "messages": _channel_messages(),
                "bindings": {
                    "ws": {"method": "GET", "query": _query("token", "since_rev", "since_seq")}
                },
            },
        },
        "operations": _operations(),
        "components": {
            "messages": _messages(),
            "schemas": _schemas(),
        },
    }


@cache
def document_json() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "const" in schema:
        return json.dumps(schema["const"])
    if "anyOf" in schema:
        return " \\| ".join(_type(option) for option in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(json.dumps(value) for value in schema["enum"])
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | required | notes |", "|---|---|---|---|"]
    for name, field in schema.get("properties", {}).items():
        notes = " ".join(field.get("description", "").split())
        bounds = [
            f"{key} {field[key]}"
            for key in ("minimum", "maximum", "minLength", "maxLength")
            if key in field
        ]
        if bounds:
            notes = (notes + " " if notes else "") + "(" + ", ".join(bounds) + ")"
        yes = "yes" if name in required else "no"
        notes = notes.replace("|", "\\|")
        lines.append(f"| `{name}` | {_type(field)} | {yes} | {notes} |")
    return lines


def protocol_markdown() -> str:
    """docs/protocol.md: the same frames, fields, codes and promises, for people."""
    doc = document()
    schemas = doc["components"]["schemas"]
    out = [
        "# Parley WebSocket protocol",
        "",
        "<!-- Generated from app/protocol by `python -m app.protocol.asyncapi --write`;"
        " do not edit by hand. -->",
        "",
        "Machine-readable: the AsyncAPI 3.0 document, served at `GET /asyncapi.json` and "
        "committed as `docs/asyncapi.json`.",
        "",
        DESCRIPTION,
        "",
        "## Delivery promises",
        "",
        *[f"- {promise}" for promise in PROMISES],
        "",
    ]
    for title, frames in (
        ("Client → server frames", CLIENT_FRAMES),
        ("Server → client frames", SERVER_FRAMES),
    ):
        out += [f"## {title}", ""]
        for kind, model in frames.items():
            out += [f"### `{kind}`", "", _summary(model), "", *_table(schemas[model.__name__]), ""]
    out += ["## Payloads", ""]
    frame_names = {m.__name__ for m in (*CLIENT_FRAMES.values(), *SERVER_FRAMES.values())}
    for name, schema in schemas.items():
        if name in frame_names or "properties" not in schema:
            continue
        summary = " ".join(schema.get("description", "").split())
        out += [f"### {name}", "", *([summary, ""] if summary else []), *_table(schema), ""]
    out += ["## Error codes", "", "| code | meaning |", "|---|---|"]
    out += [f"| `{code}` | {meaning} |" for code, meaning in server.ERROR_CODES.items()]
    out += ["", "## Close codes", "", "| code | meaning |", "|---|---|"]
    out += [f"| {code} | {meaning} |" for code, meaning in server.CLOSE_CODES.items()]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the committed files")
    mode.add_argument("--check", action="store_true", help="exit 1 if they are out of date")
    args = parser.parse_args(argv)
    wanted = {ASYNCAPI_PATH: document_json(), PROTOCOL_MD_PATH: protocol_markdown()}
    if args.write:
        for path, text in wanted.items():
            path.write_text(text, encoding="utf-8")
            sys.stdout.write(f"wrote {path}\n")
        return 0
    if args.check:
        stale = [
            str(p) for p, text in wanted.items() if not p.exists() or p.read_text("utf-8") != text
        ]
        for name in stale:
            sys.stdout.write(f"out of date: {name} (run python -m app.protocol.asyncapi --write)\n")
        return 1 if stale else 0
    sys.stdout.write(wanted[ASYNCAPI_PATH])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
