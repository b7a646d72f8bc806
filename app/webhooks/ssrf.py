"""The SSRF guard: where a webhook may be sent.

A URL must be `http` or `https`; its host is resolved, and every address it resolves to
must be public (not private, loopback, link-local, multicast, reserved or unspecified)
unless WEBHOOK_ALLOWED_HOSTS permits it (by host name, address or CIDR range). Checked when
a webhook is created or changed (422) and again before every attempt, whose connection goes
to the very address checked (so a name that resolves elsewhere the second time, DNS
rebinding, gains nothing).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to (tests pass their own).
Resolver = Callable[[str, int], Awaitable[list[str]]]

RESOLVE_TIMEOUT_SECONDS = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443}


class Refused(ValueError):
    """The URL may not be used; the message says why (shown to the client as a 422)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: the URL as given, and the checked address to connect to."""

    url: str
    scheme: str
    host: str  # as in the URL (a name or an address), for the Host header and TLS
    port: int
    address: IPAddress


@dataclass(frozen=True, slots=True)
class AllowList:
    names: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """WEBHOOK_ALLOWED_HOSTS entries: `10.0.0.0/8`, `127.0.0.1`, `::1`, `hooks.internal`."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            entry = entry.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def is_public(address: IPAddress) -> bool:
    """Reachable on the public internet: not private, loopback, link-local, multicast,
    reserved, unspecified or otherwise special (`is_global` covers all but multicast).
    An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse_url(url: str) -> tuple[SplitResult, str, int]:
    """The URL's parts, its host and its port, or Refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise Refused("the URL must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise Refused("the URL has no host")
    return parts, host, port or DEFAULT_PORTS[scheme]


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check(url: str, allow: AllowList, resolve: Resolver = system_resolver) -> Target:
    """Resolve the URL's host and check every address; the target to connect to, or Refused."""
    parts, host, port = parse_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: Sequence[IPAddress] = [literal]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                found = await resolve(host, port)
        except (OSError, TimeoutError) as exc:
            raise Refused(f"the host {host!r} cannot be resolved") from exc
        addresses = _unique(ipaddress.ip_address(a.split("%", 1)[0]) for a in found)
        if not addresses:
            raise Refused(f"the host {host!r} cannot be resolved")
    if literal is None and allow.allows_name(host):
        return Target(url, parts.scheme.lower(), host, port, addresses[0])
    # Every address must pass, not just one: a name that also resolves to an internal
    # address could be steered there by the order of the answers.
    for address in addresses:
        if not is_public(address) and not allow.allows_address(address):
            raise Refused(
                f"the host {host!r} is a private, loopback, link-local or reserved address "
                f"({address}); WEBHOOK_ALLOWED_HOSTS can permit it"
            )
    return Target(url, parts.scheme.lower(), host, port, addresses[0])


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    seen: list[IPAddress] = []
    for address in addresses:
        if address not in seen:
            seen.append(address)
    return seen
