"""Hosts for tests: Linux network namespaces joined by a bridge, each with its own address.

The root namespace holds the bridge (10.77.X.1/24) and the shared services bound to that
address: a Redis Cluster, and a TCP forwarder to PostgreSQL (which listens on 127.0.0.1
only). Each host is a namespace with one veth link to the bridge (10.77.X.1N/24); taking
the root side of that link down cuts the host off the network, as a pulled cable would:
no reset, no FIN, packets simply stop.

Everything is made with `ip` and removed in `close()` (the test calls it in a finally
block); names carry a random suffix so two runs never collide. Needs root (CAP_NET_ADMIN):
`available()` says why not.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=20)


def available() -> str | None:
    """None if namespaces can be made here, else why not (the skip reason)."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"parley-probe-{secrets.token_hex(3)}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"cannot create network namespaces here (`ip netns add`: {result.stderr.strip()})"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str  # the namespace
    address: str
    link: str  # the root side of its veth pair

    def command(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def cut(self) -> None:
        _ip("link", "set", self.link, "down")

    def restore(self) -> None:
        _ip("link", "set", self.link, "up")


@dataclass
class HostNetwork:
    hosts_count: int = 3
    subnet: int = 77  # 10.77.0.0/24 unless that is taken
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    hosts: list[Host] = field(default_factory=list)
    bridge: str = ""
    made: list[tuple[str, ...]] = field(default_factory=list)  # how to undo, newest last

    @property
    def gateway(self) -> str:
        """The bridge's address in the root namespace: shared services bind to it."""
        return f"10.{self.subnet}.0.1"

    def create(self) -> HostNetwork:
        self.bridge = f"pbr{self.suffix}"
        _ip("link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", "del", self.bridge))
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for n in range(1, self.hosts_count + 1):
            name, outer, inner = f"parley-{self.suffix}-h{n}", f"pv{self.suffix}{n}", "eth0"
            address = f"10.{self.subnet}.0.{10 + n}"
            _ip("netns", "add", name)
            self.made.append(("netns", "del", name))
            _ip("link", "add", outer, "type", "veth", "peer", "name", f"pi{self.suffix}{n}")
            self.made.append(("link", "del", outer))
            _ip("link", "set", f"pi{self.suffix}{n}", "netns", name)
            _ip("-n", name, "link", "set", f"pi{self.suffix}{n}", "name", inner)
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", inner)
            _ip("-n", name, "link", "set", inner, "up")
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("link", "set", outer, "master", self.bridge)
            _ip("link", "set", outer, "up")
            self.hosts.append(Host(name, address, outer))
        return self

    def close(self) -> None:
        for undo in reversed(self.made):
            _ip(*undo, check=False)
        self.made.clear()
