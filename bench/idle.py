"""Idle connections: how much server memory one authenticated, subscribed connection costs.

Connect `baseline_connections` first (so the server has warmed up: pools, caches, code
paths), sample the server's RSS, connect the rest, let it settle, sample again. The
difference divided by the connections added is the cost of one connection. Every connection
is authenticated and subscribed to its room (rooms of `room_size` members) and sits idle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import psutil

from bench import wsclient
from bench.client import Client, RunState
from bench.loadgen import close_all, connect_all
from bench.scenarios import IdleScenario
from bench.targets import Target

SOURCE_HOSTS = tuple(f"127.0.0.{n}" for n in range(1, 5))  # 4 x the ephemeral port range


def _rss_and_uss(pid: int) -> tuple[int, int]:
    info = psutil.Process(pid).memory_full_info()
    return int(info.rss), int(getattr(info, "uss", 0))


async def run_idle(
    target: Target,
    scenario: IdleScenario,
    *,
    tokens: Sequence[str | None],
    rooms: Sequence[int],
    backend: str = "auto",
) -> dict[str, Any]:
    assert target.pid is not None, "the idle measurement needs the server's pid"
    await target.prepare()
    run = RunState(acks_by_broadcast=target.acks_by_broadcast)
    clients = [Client(run, i, subscriber=True) for i in range(scenario.connections)]
    split = scenario.baseline_connections
    hosts = SOURCE_HOSTS if scenario.connections > 5000 else ()
    try:
        await connect_all(
            target, clients[:split], tokens, rooms, backend=backend, local_hosts=hosts
        )
        await target.settle(clients[:split])
        await asyncio.sleep(scenario.settle)
        rss_before, uss_before = _rss_and_uss(target.pid)

        started = time.monotonic()
        await connect_all(
            target,
            clients[split:],
            tokens[split:],
            rooms[split:],
            backend=backend,
            local_hosts=hosts,
        )
        connect_seconds = time.monotonic() - started
        await target.settle(clients)
        await asyncio.sleep(scenario.settle)
        rss_after, uss_after = _rss_and_uss(target.pid)
        problems = list(run.problems)
        unsubscribed = sum(1 for c in clients if c.start_seq is None)
        if unsubscribed:
            problems.append(f"{unsubscribed} connections never subscribed")
        closed = sum(1 for c in clients if c.closed)
        if closed:
            problems.append(f"{closed} connections were closed")
    finally:
        close_all(run, clients)

    added = len(clients) - split
    return {
        "scenario": scenario.name,
        "server": target.name,
        "connections": len(clients),
        "measured_connections": added,
        "room_size": scenario.room_size,
        "client": wsclient.backend_name(backend),
        "connect_s": round(connect_seconds, 2),
        "connects_per_s": round(added / connect_seconds, 1) if connect_seconds else None,
        "server_rss_before_mib": round(rss_before / 2**20, 1),
        "server_rss_mib": round(rss_after / 2**20, 1),
        "kib_per_connection": round((rss_after - rss_before) / added / 1024, 2),
        "uss_kib_per_connection": round((uss_after - uss_before) / added / 1024, 2),
        "verified": not problems,
        "problems": problems,
    }
