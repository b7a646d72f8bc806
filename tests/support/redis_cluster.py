"""A Redis Cluster of the test's own: three masters with a replica each, from Debian's
`redis-server`, on free ports, so a test can kill a master and watch its replica take over.

`cluster-node-timeout` is short (1 s) so a failover takes a couple of seconds, not 15.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from tests.support.server import free_port

NODE_TIMEOUT_MS = 1000


def _free_cluster_port(host: str) -> int:
    """A port free on `host` whose cluster-bus port (+10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as probe:
                probe.bind((host, port + 10000))
            with socket.socket() as probe:
                probe.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisClusterNodes:
    def __init__(self, directory: Path, *, host: str = "127.0.0.1", masters: int = 3) -> None:
        self.directory = directory
        self.host = host
        self.size = masters * 2
        self.ports = [_free_cluster_port(host) for _ in range(self.size)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The broker URL: every node as a seed (any one reachable is enough)."""
        return "redis+cluster://" + ",".join(f"{self.host}:{p}" for p in self.ports) + "/0"

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host=self.host, port=port, socket_connect_timeout=0.5, socket_timeout=2)

    def start(self, timeout: float = 30) -> RedisClusterNodes:
        binary = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if binary is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are not installed")
        for port in self.ports:
            self._spawn(binary, port)
        for port in self.ports:
            self._wait_ready(port, timeout)
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"{self.host}:{p}" for p in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        self.wait_healthy(timeout)
        return self

    def _spawn(self, binary: str, port: int) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                self.host,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(node_dir / "nodes.conf"),
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                # A replica may take over however long it was cut off: this is a test.
                "--cluster-replica-validity-factor",
                "0",
                # Bound to loopback or a test bridge's address only; no password to set.
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(node_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _wait_ready(self, port: int, timeout: float) -> None:
        client = self.client(port)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"Redis Cluster node did not start on port {port}")

    def alive_ports(self) -> list[int]:
        return [p for p, proc in self.processes.items() if proc.poll() is None]

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until every live node reports the cluster ok with every slot served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._ok(port) for port in self.alive_ports()):
                return
            time.sleep(0.1)
        raise RuntimeError("Redis Cluster did not become healthy")

    def _ok(self, port: int) -> bool:
        client = self.client(port)
        try:
            info = client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return False
        finally:
            client.close()
        text = info.decode() if isinstance(info, bytes) else str(info)
        return "cluster_state:ok" in text and "cluster_slots_ok:16384" in text

    def master_of(self, key: str) -> int:
        """The port of the master that serves `key`'s slot now."""
        for port in self.alive_ports():
            client = self.client(port)
            try:
                slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
                for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        return int(master[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise RuntimeError(f"no live node knows who serves {key!r}")

    def kill(self, port: int) -> None:
        """SIGKILL one node (a master's crash): its replica is promoted after the timeout."""
        process = self.processes[port]
        process.kill()
        process.wait(10)

    def wait_master_changed(self, key: str, old: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                port = self.master_of(key)
            except RuntimeError:
                port = old
            if port != old and self._ok(port):
                return port
            time.sleep(0.1)
        raise RuntimeError(f"no replica took over {key!r} from port {old}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            process.wait(10)
