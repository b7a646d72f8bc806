"""Limits at the HTTP edge, against a real server: request body size, the time allowed for
a request head, and which peer may speak for the client (X-Forwarded-For)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest
import uvicorn

from tests.support.server import LiveServer, ServerFactory, free_port


def raw_connection(server: LiveServer, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or the socket's timeout)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def test_a_huge_content_length_is_refused_before_the_body_is_sent(server: LiveServer) -> None:
    with raw_connection(server) as sock:
        sock.sendall(
            b"POST /auth/signup HTTP/1.1\r\nHost: parley\r\n"
            b"Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
        )
        started = time.monotonic()
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert time.monotonic() - started < 4
    body = orjson.loads(response.split(b"\r\n\r\n", 1)[1])
    assert "too large" in body["detail"]


def test_a_chunked_body_over_the_limit_is_refused(make_server: ServerFactory) -> None:
    server = make_server(MAX_REQUEST_BODY_BYTES="65536")
    chunk = b"x" * 16384
    with raw_connection(server) as sock:
        sock.sendall(
            b"POST /auth/signup HTTP/1.1\r\nHost: parley\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(64):  # 1 MiB offered; the server should stop us after 64 KiB
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"detail"' in response
    # Bodies under the limit still work.
    small = httpx.post(f"{server.base_url}/auth/signup", json={"username": "ab", "password": "x"})
    assert small.status_code == 422


def test_a_request_head_that_never_completes_is_cut_off(make_server: ServerFactory) -> None:
    server = make_server(HTTP_HEADER_TIMEOUT_SECONDS="1")
    with raw_connection(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n")  # no blank line: half a head
        started = time.monotonic()
        assert read_response(sock) == b""  # closed, not timed out on our side
        assert 0.8 < time.monotonic() - started < 4
    # Dribbling a byte at a time does not extend the deadline.
    with raw_connection(server) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: parley\r\nX-Slow: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
        assert closed or read_response(sock) == b""
        assert time.monotonic() - started < 4
    # A keep-alive connection gets the same deadline for its next request's head.
    with raw_connection(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        assert read_response(sock) == b""
        assert time.monotonic() - started < 4
    # Complete requests are unaffected.
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def failed_logins(server: LiveServer, count: int, *, username: str) -> list[int]:
    codes = []
    with httpx.Client(base_url=server.base_url) as http:
        for i in range(count):
            response = http.post(
                "/auth/login",
                data={"username": username, "password": "wrong-pass"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            )
            codes.append(response.status_code)
    return codes


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(make_server: ServerFactory) -> None:
    server = make_server(LOGIN_ATTEMPTS_PER_MINUTE="3")
    # Rotating the header does not give the client a fresh address, hence no fresh budget.
    assert failed_logins(server, 5, username="spoofer") == [401, 401, 401, 429, 429]


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(
    make_server: ServerFactory,
) -> None:
    server = make_server(LOGIN_ATTEMPTS_PER_MINUTE="3", FORWARDED_ALLOW_IPS="127.0.0.1")
    # Behind a trusted proxy each client address has its own budget.
    assert failed_logins(server, 5, username="proxied") == [401] * 5


@pytest.mark.parametrize("protocol", ["h11", "httptools"])
async def test_both_protocols_enforce_the_head_deadline(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`parley serve` picks httptools when installed, else h11: both must cut a slow head."""
    from app.core import http_server

    monkeypatch.setattr(http_server, "head_timeout_seconds", lambda: 0.5)
    protocol_class = (
        http_server.HeadTimeoutH11Protocol if protocol == "h11" else http_server.HeadTimeoutProtocol
    )
    if protocol == "httptools" and protocol_class is http_server.HeadTimeoutH11Protocol:
        pytest.skip("httptools is not installed")

    async def hello(scope: dict, receive: object, send: Callable[..., Awaitable[None]]) -> None:
        assert scope["type"] == "http"
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=port, http=protocol_class, lifespan="off", log_level="error"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(250):
            if server.started:
                break
            await asyncio.sleep(0.02)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"ok"), 2)
        assert first.startswith(b"HTTP/1.1 200")
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the next head, never finished
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 3) == b""
        assert 0.3 < time.monotonic() - started < 2
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HT")
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
    finally:
        server.should_exit = True
        await task
