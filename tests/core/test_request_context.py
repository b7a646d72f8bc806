from __future__ import annotations

import re

import httpx
import pytest

from app.core.request_context import accept_request_id
from tests.support.server import LiveServer
from tests.support.users import UserFactory
from tests.support.ws import WsClient

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_every_response_names_its_request(client: httpx.AsyncClient) -> None:
    ok, missing, invalid = (
        await client.get("/healthz"),
        await client.get("/no/such/page"),
        await client.post("/auth/signup", json={}),
    )
    ids = [r.headers.get("X-Request-ID", "") for r in (ok, missing, invalid)]
    assert (missing.status_code, invalid.status_code) == (404, 422)
    assert all(GENERATED.fullmatch(rid) for rid in ids), ids
    assert len(set(ids)) == 3


async def test_a_plain_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.91:2"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.91:2"


@pytest.mark.parametrize("hostile", ["two words", "x" * 129, '{"forged": 1}', ""])
def test_an_unusable_incoming_request_id_is_replaced(hostile: str) -> None:
    assert GENERATED.fullmatch(accept_request_id(hostile))


@pytest.mark.live
async def test_a_websocket_handshake_answers_its_request_id(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        user = await UserFactory(api).create()
    client = await WsClient.connect(server.ws_url, user.access_token)
    try:
        response = client.ws.response
        assert response is not None
        assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    finally:
        await client.close()
