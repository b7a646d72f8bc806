from __future__ import annotations

import json
import logging

import httpx
import pytest

from app.core.logging import RedactTokens, redact
from tests.support.journey import first_conversation
from tests.support.server import ServerFactory, free_port


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /ws?token=eyJ.abc.def HTTP/1.1", "GET /ws?token=[redacted] HTTP/1.1"),
        ("/rooms/1/ws?since_seq=4&token=abc&x=1", "/rooms/1/ws?since_seq=4&token=[redacted]&x=1"),
        ("Authorization: Bearer eyJ.abc.def", "Authorization: Bearer [redacted]"),
        ("/rooms?tokens=fine", "/rooms?tokens=fine"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_filter_rewrites_uvicorn_style_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws?token=secret.jwt.value", "1.1", 101),
        None,
    )
    assert RedactTokens().filter(record)
    assert "secret" not in record.getMessage()
    assert "token=[redacted]" in record.getMessage()


@pytest.mark.live
async def test_json_logs_carry_request_and_connection_context_and_no_secrets(
    make_server: ServerFactory,
) -> None:
    """LOG_FORMAT=json: every line one object; request ids and WebSocket ids; no secrets."""
    server = make_server(("--no-migrate",), LOG_FORMAT="json")
    password = "a password nobody logs"
    conversation = await first_conversation(
        server.base_url, server.ws_url, username=f"jsonlog{free_port()}", password=password
    )
    user = conversation.user
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        # A token in the query string, and a proxy's request id that is kept as it is.
        probe = await http.get(
            "/healthz", params={"token": user.access_token}, headers={"X-Request-ID": "proxy-42"}
        )
        assert probe.headers["X-Request-ID"] == "proxy-42"
    server.stop()

    lines = [line for line in server.logs().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert all(isinstance(record, dict) for record in records)
    assert {"time", "level", "logger", "message", "request_id"} <= set(records[0])

    conflict = [r for r in records if r.get("request_id") == conversation.signup_request_id]
    assert any(r["logger"] == "uvicorn.access" and r["status_code"] == 409 for r in conflict)
    assert any(
        r.get("request_id") == "proxy-42" and r["path"].startswith("/healthz") for r in records
    )

    # Parley's own lines about the connection (uvicorn's "connection open" comes from outside
    # any request, in the server's protocol callbacks).
    socket_lines = [
        r for r in records if r["logger"] == "app.realtime.handler" and "connection" in r["message"]
    ]
    assert socket_lines, lines
    for record in socket_lines:
        assert record["connection_id"], record
        assert record["user_id"] == user.id, record
        assert record["request_id"], record
    assert {"opened", "closed"} <= {r["message"].rsplit(" ", 1)[-1] for r in socket_lines}

    everything = "\n".join(lines)
    for secret in (password, user.access_token, user.refresh_token):
        assert secret not in everything
