"""docs/deploy/nginx.conf, for real: nginx in front of two Parley processes sharing
PostgreSQL and Redis. REST, /docs and WebSockets go through it, and a client whose process
stops reconnects through it to the other one and resumes with nothing lost."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.metrics import scrape
from tests.support.rooms import add_member, create_room
from tests.support.server import LiveServer, ServersFactory, free_port
from tests.support.users import UserFactory
from tests.support.ws import WsClient

pytestmark = [pytest.mark.live, pytest.mark.postgres_only]

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx.conf"


def nginx_binary() -> str | None:
    """nginx, installed from Debian's packages if it is missing and we may."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found

    def run(*command: str) -> bool:
        done = subprocess.run(command, capture_output=True, check=False, timeout=600)
        return done.returncode == 0

    if not run("apt-get", "install", "-y", "-qq", "nginx"):
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "nginx")
    return shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/bin")


def site_config(upstreams: list[LiveServer], port: int, directory: Path) -> str:
    """The documented site, with its upstream addresses, port and log file swapped."""
    site = TEMPLATE.read_text()
    assert site.count("/var/log/nginx/parley.access.log") == 1
    site = site.replace("/var/log/nginx/parley.access.log", str(directory / "parley.access.log"))
    for documented, live in zip(("127.0.0.1:8001", "127.0.0.1:8002"), upstreams, strict=True):
        assert site.count(f"server {documented} ") == 1, f"{TEMPLATE} changed: update this test"
        site = site.replace(f"server {documented} ", f"server 127.0.0.1:{live.port} ")
    assert site.count("listen 80;") == 1
    return site.replace("listen 80;", f"listen 127.0.0.1:{port};")


class Nginx:
    def __init__(self, binary: str, directory: Path, site: str, port: int) -> None:
        self.binary, self.directory, self.port = binary, directory, port
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "nginx.conf"
        # Everything nginx writes stays in the test's directory; as root its workers keep
        # root's identity, since that directory is private to root.
        self.config.write_text(
            f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
{site}
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [self.binary, "-p", str(self.directory), "-c", str(self.config)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.logs()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not come up:\n{self.logs()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def logs(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def behind_nginx(
    make_servers: ServersFactory, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Nginx, list[LiveServer]]]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed and could not be installed (needs root and apt-get)")
    servers = make_servers(2, BROKER_URL=redis_url)
    port = free_port()
    directory = tmp_path / "nginx"
    proxy = Nginx(binary, directory, site_config(servers, port, directory), port)
    proxy.start()
    try:
        yield proxy, servers
    finally:
        proxy.stop()
        # Shown by pytest only if the test failed.
        print(f"--- nginx error log ---\n{proxy.logs()[-4000:]}")  # noqa: T201
        for server in servers:
            print(f"--- server {server.port} ---\n{server.logs()[-4000:]}")  # noqa: T201


async def holding_the_connection(servers: list[LiveServer]) -> LiveServer:
    """Which process holds our one WebSocket: each reports its own open connections."""
    for server in servers:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as direct:
            if (await scrape(direct)).value("parley_websocket_connections") == 1:
                return server
    raise AssertionError("no process reports the connection")


async def seqs_of(client: WsClient, count: int) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(30):
        while len(seqs) < count:
            frame = await client.recv(timeout=30)
            if frame["type"] == "message":
                seqs.append(frame["message"]["seq"])
    return seqs


async def test_parley_behind_nginx(behind_nginx: tuple[Nginx, list[LiveServer]]) -> None:
    proxy, servers = behind_nginx
    async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as api:
        # REST and the API docs, through the proxy.
        factory = UserFactory(api)
        reader, writer = await factory.create(), await factory.create()
        room_id = (await create_room(api, writer))["id"]
        await add_member(api, reader, room_id, reader)
        docs = await api.get("/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        assert (await api.get("/openapi.json")).json()["info"]["title"] == "Parley"
        assert (await api.get("/metrics")).status_code == 404  # scraped per process only

        async def post(first: int, count: int) -> None:
            for i in range(first, first + count):
                # As a client would: a 502 (its process went away mid-request) is retried
                # with the same client_id, which can never store the message twice.
                for _attempt in range(3):
                    sent = await api.post(
                        f"/rooms/{room_id}/messages",
                        json={"body": f"m{i}", "client_id": f"nginx-{i}"},
                        headers=writer.headers,
                    )
                    if sent.status_code != 502:
                        break
                assert sent.status_code in (200, 201), sent.text

        # A WebSocket upgrade through the proxy, and live messages over it.
        client = await WsClient.connect(proxy.ws_url, reader.access_token)
        try:
            await client.subscribe(room_id)
            await post(1, 5)
            assert await seqs_of(client, 5) == [1, 2, 3, 4, 5]

            # Its process stops (gracefully): the client is told to reconnect...
            holder = await holding_the_connection(servers)
            await asyncio.to_thread(holder.stop)  # meanwhile the client answers its close
            assert await client.closed(timeout=30) == 1012
        finally:
            await client.close()
        await post(6, 5)  # nginx sends these to the process that is left

        # ...and does, through the proxy, to the other process, resuming where it was.
        client = await WsClient.connect(
            proxy.ws_url, reader.access_token, path=f"/rooms/{room_id}/ws", since_seq=5
        )
        try:
            subscribed_and_replay = asyncio.create_task(seqs_of(client, 10))
            await asyncio.sleep(0.2)
            await post(11, 5)
            assert await subscribed_and_replay == list(range(6, 16))
            await client.quiet(0.3)
        finally:
            await client.close()
    # Upgrades were proxied (101) and the access log never holds a token.
    access = (proxy.directory / "parley.access.log").read_text()
    assert re.search(r'"GET /ws HTTP/1.1" 101 ', access)
    assert re.search(rf'"GET /rooms/{room_id}/ws HTTP/1.1" 101 ', access)
    assert reader.access_token not in access
    assert "token=" not in access


async def _failed_logins_from(
    proxy: Nginx, address: str, username: str, attempts: int
) -> list[int]:
    """Wrong-password logins through nginx from one loopback address (the whole of
    127.0.0.0/8 is local, so each address is a different client to nginx)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=proxy.url, transport=transport, timeout=10) as http:
        statuses = []
        for _ in range(attempts):
            answer = await http.post(
                "/auth/login", data={"username": username, "password": "not the password"}
            )
            statuses.append(answer.status_code)
        return statuses


@pytest.mark.parametrize("trusted", [True, False], ids=["proxy-trusted", "proxy-not-trusted"])
async def test_forwarded_for_counts_for_login_limits_only_from_a_trusted_proxy(
    make_servers: ServersFactory, redis_url: str, tmp_path: Path, trusted: bool
) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed and could not be installed (needs root and apt-get)")
    limits = {
        "BROKER_URL": redis_url,
        "LOGIN_ATTEMPTS_PER_MINUTE": "3",
        "LOGIN_FAILURES_PER_USERNAME_PER_HOUR": "0",
        # nginx connects from 127.0.0.1: trusting it makes its X-Forwarded-For the client.
        **({"FORWARDED_ALLOW_IPS": "127.0.0.1"} if trusted else {}),
    }
    servers = make_servers(2, **limits)
    port = free_port()
    directory = tmp_path / "nginx"
    proxy = Nginx(binary, directory, site_config(servers, port, directory), port)
    proxy.start()
    try:
        first = await _failed_logins_from(proxy, "127.0.0.2", f"xff-a-{port}", 4)
        second = await _failed_logins_from(proxy, "127.0.0.3", f"xff-b-{port}", 1)
    finally:
        proxy.stop()
    assert first == [401, 401, 401, 429]
    # Trusted: the second client has a budget of its own. Not trusted: every client behind
    # the proxy is the proxy, so the first one's failures spent it for everyone.
    assert second == ([401] if trusted else [429])
