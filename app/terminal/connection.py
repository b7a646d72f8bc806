"""The chat's WebSocket: connect, greet, heartbeat, and come back after every loss.

One `Connection` outlives many sockets. After a network loss, 1012 (server restarting),
1013 (too slow) or any other close it waits with exponential backoff and jitter and connects
again; after 4401 (token expired or session revoked) or a refused handshake it renews the
token first. The listener resumes on `on_open` (resubscribe with `since_seq`, resend what
was not acknowledged) and gets every frame, in order, through `on_frame`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app.terminal.api import ApiError, ServerUnreachable
from app.terminal.auth import Session, SessionEnded

logger = logging.getLogger(__name__)

Frame = dict[str, Any]

TOKEN_EXPIRED = 4401
POLICY_VIOLATION = 1008
HELLO_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0  # /quit on a dead network should not hang
CLOSE_REASONS = {
    1000: "closed by the server",
    1001: "the server is going away",
    1006: "connection lost",
    1008: "the server refused the token",
    1009: "a frame was too large",
    1011: "server error",
    1012: "server restarting",
    1013: "too slow to keep up",
    TOKEN_EXPIRED: "session expired",
}


class Listener(Protocol):
    async def on_open(self, hello: Frame) -> None: ...

    async def on_frame(self, frame: Frame) -> None: ...

    def on_down(self, reason: str, retry_in: float) -> None: ...


@dataclass
class Backoff:
    """Exponential with "equal jitter": half the ceiling for sure, half at random."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


def websocket_url(server: str) -> str:
    """`http(s)://host/base` -> `ws(s)://host/base/ws`."""
    parts = urlsplit(server)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))


class Connection:
    def __init__(
        self, *, url: str, session: Session, listener: Listener, backoff: Backoff | None = None
    ) -> None:
        self._url = url
        self._session = session
        self._listener = listener
        self._backoff = backoff or Backoff()
        self._ws: ClientConnection | None = None
        self._stopping = False
        session.on_renewed.append(self._send_token)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def send(self, frame: Frame) -> bool:
        """Send now if connected; False if not (the caller keeps what must not be lost)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        logger.debug("sent %s", frame.get("type"))
        return True

    async def stop(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def run(self) -> None:
        """Stay connected until `stop()`."""
        while not self._stopping:
            await self._session.wait_valid()
            try:
                token = await self._session.fresh_token()
            except SessionEnded:
                continue  # wait_valid() holds us until the user logs in again
            except (ServerUnreachable, ApiError) as exc:
                await self._retry_later(f"cannot renew the session: {exc}")
                continue
            reason, renew = await self._connect_once(token)
            if self._stopping:
                return
            if renew:
                # The token was refused: renew it, then try at once; twice in a row, wait.
                self._session.expire(token)
                if self._backoff.attempt == 0:
                    self._backoff.attempt = 1
                    continue
            await self._retry_later(reason)

    async def _retry_later(self, reason: str) -> None:
        delay = self._backoff.next_delay()
        self._listener.on_down(reason, delay)
        await asyncio.sleep(delay)

    async def _connect_once(self, token: str) -> tuple[str, bool]:
        """One socket's life. Returns why it ended and whether the token needs renewing."""
        headers = {"Authorization": f"Bearer {token}"}
        socket: ClientConnection | None = None
        try:
            async with connect(
                self._url,
                additional_headers=headers,
                open_timeout=HELLO_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                max_size=2**20,
            ) as socket:
                hello = _decode(await asyncio.wait_for(socket.recv(), HELLO_TIMEOUT))
                if hello is None or hello.get("type") != "hello":
                    return "the server did not greet with `hello`", False
                self._ws = socket
                self._backoff.reset()
                if self._session.access_token != token:  # renewed while we were connecting
                    await self._send_token(self._session.access_token)
                await self._listener.on_open(hello)
                await self._serve(socket, float(hello.get("heartbeat_interval") or 30))
        except InvalidStatus as exc:
            status = exc.response.status_code
            return f"the server refused the connection ({status})", status in (401, 403)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return f"cannot connect: {exc or type(exc).__name__}", False
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
        code = (socket.close_code if socket is not None else None) or 1006
        return CLOSE_REASONS.get(code, f"closed ({code})"), code in (TOKEN_EXPIRED, 1008)

    async def _serve(self, ws: ClientConnection, heartbeat: float) -> None:
        pinger = asyncio.create_task(self._heartbeat(ws, heartbeat), name="parley-heartbeat")
        try:
            async for raw in ws:
                frame = _decode(raw)
                if frame is None:
                    logger.warning("ignoring a frame that is not a JSON object: %.80r", raw)
                    continue
                logger.debug("received %s", frame.get("type"))
                await self._listener.on_frame(frame)
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _heartbeat(self, ws: ClientConnection, interval: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                await ws.send('{"type":"ping"}')

    async def _send_token(self, token: str) -> None:
        await self.send({"type": "auth", "token": token, "ref": "auth"})


def _decode(raw: str | bytes) -> Frame | None:
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None
