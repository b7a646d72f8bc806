"""Three hosts (network namespaces on a bridge), each running Parley, sharing PostgreSQL and
a Redis Cluster of three masters with replicas: failures mid-traffic lose, repeat and
reorder nothing.

Senders and subscribers are spread over the hosts; a client whose host goes away
reconnects to the next one and resumes with `since_rev` (bench/resume.py), and the load
generator's verifier checks every subscriber's stream. Each scenario prints sent, acked,
delivered, lost, duplicated and the time until every subscriber had caught up.

Needs root (network namespaces), PostgreSQL (TEST_DATABASE_URL, else the local server) and
`redis-server`; otherwise the module is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from bench.rest import Api, BenchUser
from bench.resume import Outcome, run_resuming
from tests.support import netns
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    run_alembic,
)
from tests.support.redis_cluster import RedisClusterNodes
from tests.support.server import PARLEY, free_port, server_environment
from tests.support.ws import WsClient

pytestmark = [pytest.mark.hosts, pytest.mark.live, pytest.mark.timeout(300)]

ADMIN_URL = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
PORT = 8000
SENDERS = 3
SUBSCRIBERS = 9


@dataclass
class HostServer:
    host: netns.Host
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host.address}:{PORT}"

    def start(self, timeout: float = 30) -> None:
        self.launch()
        self.wait_until_up(timeout)

    def launch(self) -> None:
        log = (self.workdir / f"{self.host.name}.log").open("ab")
        self.process = subprocess.Popen(
            self.host.command(
                PARLEY, "serve", "--host", self.host.address, "--port", str(PORT), "--no-migrate"
            ),
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_until_up(self, timeout: float = 30) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.host.name}: server exited:\n{self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.host.name}: server did not come up:\n{self.logs()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(20)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logs(self) -> str:
        path = self.workdir / f"{self.host.name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@dataclass
class Hosts:
    network: netns.HostNetwork
    cluster: RedisClusterNodes
    servers: list[HostServer]
    users: list[BenchUser]

    @property
    def urls(self) -> list[str]:
        return [s.base_url for s in self.servers]

    def heal(self) -> None:
        """Every host linked and serving again, for the next scenario."""
        for server in self.servers:
            server.host.restore()
            if not server.alive():
                server.start()


def _postgres_reason() -> str | None:
    async def probe() -> None:
        url = make_url(ADMIN_URL).set(drivername="postgresql")
        conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError) as exc:
        return f"needs PostgreSQL at {ADMIN_URL}: {exc}"
    return None


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    reason = (
        netns.available()
        or (None if shutil.which("redis-server") else "redis-server is not installed")
        or _postgres_reason()
    )
    if reason is not None:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("hosts")
    network = netns.HostNetwork()
    forwarder: subprocess.Popen[bytes] | None = None
    cluster: RedisClusterNodes | None = None
    database_url = ""
    servers: list[HostServer] = []
    try:
        network.create()
        # PostgreSQL listens on 127.0.0.1 only: the hosts reach it through the bridge.
        forward_port = free_port()
        forwarder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.forward",
                network.gateway,
                str(forward_port),
                make_url(ADMIN_URL).host or "127.0.0.1",
                str(make_url(ADMIN_URL).port or 5432),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cluster = RedisClusterNodes(workdir / "cluster", host=network.gateway)
        cluster.start()
        database_url = create_postgres_database(ADMIN_URL, prefix="parley_hosts")
        run_alembic(database_url, "upgrade", "head")
        hosts_db = (
            make_url(database_url)
            .set(host=network.gateway, port=forward_port)
            .render_as_string(hide_password=False)
        )
        for host in network.hosts:
            data = workdir / host.name
            data.mkdir()
            env = server_environment(
                hosts_db,
                data,
                BROKER_URL=cluster.url,
                PRESENCE_TTL_SECONDS="6",
                # A client that moves mid-burst may be thousands of messages behind: replay
                # them all (the resuming client does not page the REST history), and let a
                # gap fill's burst queue up rather than close slow subscribers with 1013.
                REPLAY_LIMIT="100000",
                WS_SEND_QUEUE_SIZE="20000",
            )
            servers.append(HostServer(host, env, workdir))
        # Side by side: the three start-ups overlap instead of adding up.
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_until_up()
        users, _room = asyncio.run(_population(servers[0].base_url))
        yield Hosts(network, cluster, servers, users)
    finally:
        for server in servers:
            server.kill()
        if cluster is not None:
            cluster.stop()
        if forwarder is not None:
            forwarder.kill()
            forwarder.wait(10)
        if database_url:
            drop_postgres_database(database_url)
        network.close()


async def _population(url: str) -> tuple[list[BenchUser], int]:
    async with Api(url) as api:
        users = await api.create_users(SENDERS + SUBSCRIBERS, prefix="hosts")
        return users, 0


async def _room(hosts: Hosts, name: str) -> int:
    async with Api(hosts.urls[0]) as api:
        return await api.room_with(hosts.users, name)


def _report(name: str, outcome: Outcome) -> None:
    # Shown with -s, and in the report of a failing test: the numbers docs/scaling.md quotes.
    print("\n" + outcome.line(name))  # noqa: T201
    for problem in outcome.problems[:30]:
        print("   problem:", problem)  # noqa: T201


def _assert_exact(outcome: Outcome) -> None:
    assert outcome.problems == []
    assert outcome.acked == outcome.sent
    assert outcome.lost == 0
    assert outcome.duplicated == 0
    assert outcome.delivered == outcome.acked * SUBSCRIBERS


async def _presence_of(client: WsClient, user_id: int, timeout: float = 5.0) -> dict[str, Any]:
    """The next presence frame about `user_id`. Another user's may come in between (seen
    in about one run in five: an `online` for a user who is online), so the test follows one
    user's transitions; a frame of any other type still fails it."""
    while True:
        frame = await client.next("presence", timeout=timeout, skip=())
        if frame["user"]["id"] == user_id:
            return frame


async def test_presence_across_hosts_and_a_dead_hosts_users_go_offline(hosts: Hosts) -> None:
    """Alice on host 1 and Bob on host 2 see each other online; when host 3 (Carol's) is
    killed without a goodbye, Carol goes offline for the others once her presence expires
    (PRESENCE_TTL_SECONDS=6 here), announced once."""
    room_id = await _room(hosts, "presence")
    alice, bob, carol = hosts.users[:3]
    first, second, third = (s.base_url.replace("http", "ws") for s in hosts.servers)
    a = await WsClient.connect(first, alice.token)
    b = await WsClient.connect(second, bob.token)
    c = await WsClient.connect(third, carol.token)
    try:
        await a.subscribe(room_id)
        subscribed = await b.subscribe(room_id)
        assert {u["id"] for u in subscribed["online"]} == {alice.id, bob.id}
        joined = await _presence_of(a, bob.id)
        assert joined["status"] == "online"
        subscribed = await c.subscribe(room_id)
        assert {u["id"] for u in subscribed["online"]} == {alice.id, bob.id, carol.id}
        for client in (a, b):
            frame = await _presence_of(client, carol.id)
            assert frame["status"] == "online"
        await asyncio.to_thread(hosts.servers[2].kill)
        for client in (a, b):
            frame = await _presence_of(client, carol.id, timeout=20)
            assert frame["status"] == "offline"
        await a.quiet(0.5, skip=())  # announced once, not once per surviving host
    finally:
        for client in (a, b, c):
            with contextlib.suppress(Exception):
                await client.close()
        await asyncio.to_thread(hosts.heal)


async def test_a_host_killed_mid_traffic(hosts: Hosts) -> None:
    """SIGKILL one host's process: its clients reconnect to the others and resume."""
    room_id = await _room(hosts, "killed-host")
    victim = hosts.servers[2]

    async def fault() -> None:
        await asyncio.to_thread(victim.kill)

    try:
        outcome = await run_resuming(
            hosts.urls,
            [u.token for u in hosts.users],
            room_id,
            senders=SENDERS,
            subscribers=SUBSCRIBERS,
            fault=fault,
        )
    finally:
        await asyncio.to_thread(hosts.heal)
    _report("host killed (SIGKILL)", outcome)
    _assert_exact(outcome)
    assert outcome.reconnects >= 4  # the victim's sender and subscribers moved


async def test_a_host_cut_off_the_network_for_ten_seconds(hosts: Hosts) -> None:
    """One host's link down for 10 s: its clients hear nothing, move to the others and
    resume; the host itself resyncs when it is back."""
    room_id = await _room(hosts, "cut-host")
    victim = hosts.servers[1]

    async def fault() -> None:
        victim.host.cut()
        try:
            await asyncio.sleep(10)
        finally:
            victim.host.restore()

    try:
        outcome = await run_resuming(
            hosts.urls,
            [u.token for u in hosts.users],
            room_id,
            senders=SENDERS,
            subscribers=SUBSCRIBERS,
            fault=fault,
        )
    finally:
        await asyncio.to_thread(hosts.heal)
    _report("host cut off for 10 s", outcome)
    _assert_exact(outcome)
    assert outcome.reconnects >= 4
    # The host is back in service: a client connecting to it now follows the room live.
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{victim.base_url}/healthz", timeout=5)
        assert response.status_code == 200


async def test_a_redis_master_killed_and_its_replica_promoted(hosts: Hosts) -> None:
    """The master serving the room's slot dies mid-traffic; a replica takes over. Runs
    last: the cluster keeps one master without a replica afterwards."""
    room_id = await _room(hosts, "shard-failover")
    key = f"parley:0:{{room:{room_id}}}"
    old = hosts.cluster.master_of(key)

    async def fault() -> None:
        await asyncio.to_thread(hosts.cluster.kill, old)

    outcome = await run_resuming(
        hosts.urls,
        [u.token for u in hosts.users],
        room_id,
        senders=SENDERS,
        subscribers=SUBSCRIBERS,
        fault=fault,
        after=5.0,
    )
    _report("Redis master killed, replica promoted", outcome)
    assert hosts.cluster.master_of(key) != old
    _assert_exact(outcome)
