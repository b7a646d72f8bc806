"""One HTTP attempt: POST a signed body to a checked address, with bounded time and reads.

The URL's host is checked (and resolved) again at every attempt by the SSRF guard, and the
connection goes to the address it checked: the request's URL names that address, while the
Host header and TLS (SNI and certificate checks) keep the name from the webhook's URL.
Redirects are not followed (a 3xx is a failure). Only the first bytes of the answer are read
(for the delivery log), and each attempt opens its own connection, so nothing of one
webhook's connection is reused for another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx

from app.webhooks import ssrf

logger = logging.getLogger(__name__)

# What is read of an answer: enough to know it ended; a huge body is not read.
MAX_RESPONSE_BYTES = 4096
MAX_ERROR_LENGTH = 300


@dataclass(frozen=True, slots=True)
class Attempt:
    status_code: int | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def outcome(self) -> str:
        """The metric label: ok, http_error, network_error, refused."""
        if self.ok:
            return "ok"
        if self.status_code is not None:
            return "http_error"
        return "refused" if self.error and self.error.startswith("refused") else "network_error"


class Sender:
    def __init__(
        self,
        *,
        allow: ssrf.AllowList,
        timeout: float,
        connect_timeout: float,
        resolve: ssrf.Resolver = ssrf.system_resolver,
    ) -> None:
        self._allow = allow
        self._timeout = timeout
        self._resolve = resolve
        self._connect_timeout = connect_timeout
        # Made at the first attempt: building a client loads the CA bundle (~20 ms of CPU),
        # which a server without webhooks, or a test's app, never needs.
        self._http: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(
                    self._timeout, connect=min(self._connect_timeout, self._timeout)
                ),
                limits=httpx.Limits(max_keepalive_connections=0),
                trust_env=False,  # no proxy from the environment: the checked address is the peer
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> Attempt:
        """One attempt, within WEBHOOK_TIMEOUT_SECONDS in all (resolving included)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                target = await ssrf.check(url, self._allow, self._resolve)
                status = await self._send(target, body, headers)
        except ssrf.Refused as exc:
            return Attempt(None, _short(f"refused: {exc}"), time.perf_counter() - started)
        except TimeoutError:
            return Attempt(None, "timed out", time.perf_counter() - started)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return Attempt(None, _short(error), time.perf_counter() - started)
        except OSError as exc:
            return Attempt(
                None, _short(f"{type(exc).__name__}: {exc}"), time.perf_counter() - started
            )
        return Attempt(status, None, time.perf_counter() - started)

    async def _send(self, target: ssrf.Target, body: bytes, headers: dict[str, str]) -> int:
        url = httpx.URL(target.url)
        host_header = url.netloc.decode("ascii").rsplit("@", 1)[-1]
        pinned = url.copy_with(host=str(target.address))
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            "POST",
            pinned,
            content=body,
            headers={**headers, "Host": host_header},
            extensions=extensions,
        )
        response = await self._client.send(request, stream=True)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
        return response.status_code


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
