"""Where a Redis Cluster is and how Parley names things on it: the `redis+cluster://` URL,
the cluster client (topology discovery, routing), and the hash-tagged channel names that put
one room's channel and presence keys in one slot."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.delivery.broker._shared import CONNECT_TIMEOUT_SECONDS

SCHEMES = ("redis+cluster://", "rediss+cluster://")


@dataclass(frozen=True)
class ClusterAddress:
    nodes: tuple[tuple[str, int], ...]
    namespace: str
    username: str | None
    password: str | None
    tls: bool


def parse_cluster_url(url: str) -> ClusterAddress:
    """`redis+cluster://[user:password@]host:port[,host:port...][/NAME]`."""
    scheme = next((s for s in SCHEMES if url.startswith(s)), None)
    if scheme is None:
        raise ValueError(f"a Redis Cluster URL starts with redis+cluster://, not {url!r}")
    rest = url[len(scheme) :]
    location, _, path = rest.partition("/")
    username = password = None
    if "@" in location:
        credentials, _, location = location.rpartition("@")
        user, _, secret = credentials.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    nodes: list[tuple[str, int]] = []
    for item in location.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Redis Cluster node must be host:port, not {item!r}")
        nodes.append((host.strip("[]"), int(port)))
    namespace = path.strip("/") or "0"
    if "{" in namespace or "}" in namespace or ":" in namespace:
        raise ValueError("the Redis Cluster namespace may not contain '{', '}' or ':'")
    return ClusterAddress(tuple(nodes), namespace, username, password, scheme.startswith("rediss"))


def cluster_prefix(address: ClusterAddress) -> str:
    return f"parley:{address.namespace}:"


def cluster_client(address: ClusterAddress) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        username=address.username,
        password=address.password,
        ssl=address.tls,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=5,  # redis-py's default, said aloud: a hung master fails commands
        # A missing shard must not stop the others: keep serving the slots that are covered.
        require_full_coverage=False,
    )


def node_client(address: ClusterAddress, host: str, port: int) -> Redis:
    """A plain connection to one master, for its subscription or its publishing. No retries
    inside redis-py: failures must reach the read loop or the writer, not be retried (and
    resubscribed) silently."""
    return Redis(
        host=host,
        port=port,
        username=address.username,
        password=address.password,
        ssl=address.tls,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=5,  # redis-py's default, said aloud: a hung master fails commands
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
    )


def hash_tagged(prefix: str, channel: str) -> str:
    """`parley:NAME:{room:7}`: the braces make the room's name alone choose the slot, so
    the room's presence keys (same tag) sit on the same shard as its channel."""
    return f"{prefix}{{{channel}}}"
