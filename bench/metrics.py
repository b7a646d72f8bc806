"""Measurements: latency percentiles, and CPU and memory of the processes involved."""

from __future__ import annotations

import os
import time
from array import array
from dataclasses import dataclass

import psutil

PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


def percentiles_ms(samples_ns: array[int]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds (nearest rank), and how many samples there were."""
    if not samples_ns:
        return {"count": 0}
    ordered = sorted(samples_ns)
    n = len(ordered)
    result: dict[str, float] = {"count": n}
    for name, q in PERCENTILES:
        result[name] = round(ordered[min(n - 1, int(q * n))] / 1e6, 3)
    result["max"] = round(ordered[-1] / 1e6, 3)
    return result


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every PostgreSQL process on this machine, by pid."""
    found: dict[int, float] = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            try:
                found[process.pid] = _cpu_seconds(process)
            except psutil.Error:
                continue
    return found


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq", "steal")
    return float(sum(getattr(times, name, 0.0) for name in busy))


@dataclass(frozen=True)
class Sample:
    wall: float
    server_cpu: float
    client_cpu: float
    db_cpu: dict[int, float]
    server_rss: int
    machine_busy: float  # CPU seconds all processes used, all cores


class Meter:
    """Samples the server under test, this process (the load generator) and PostgreSQL."""

    def __init__(self, server_pid: int | None) -> None:
        self._server = psutil.Process(server_pid) if server_pid else None
        self._me = psutil.Process(os.getpid())

    def server_rss(self) -> int:
        return self._server.memory_info().rss if self._server is not None else 0

    def sample(self) -> Sample:
        return Sample(
            wall=time.monotonic(),
            server_cpu=_cpu_seconds(self._server) if self._server is not None else 0.0,
            client_cpu=_cpu_seconds(self._me),
            db_cpu=postgres_cpu(),
            server_rss=self.server_rss(),
            machine_busy=machine_busy_seconds(),
        )

    @staticmethod
    def usage(before: Sample, after: Sample) -> dict[str, float]:
        """CPU use between two samples, in percent of one core, and the server's RSS."""
        wall = max(after.wall - before.wall, 1e-9)
        common = after.db_cpu.keys() & before.db_cpu.keys()
        db = sum(after.db_cpu[pid] - before.db_cpu[pid] for pid in common)
        server = after.server_cpu - before.server_cpu
        client = after.client_cpu - before.client_cpu
        # Everything else that ran meanwhile (other work on a shared machine skews results).
        other = after.machine_busy - before.machine_busy - server - client - db
        return {
            "server_cpu_pct": round(100 * server / wall, 1),
            "client_cpu_pct": round(100 * client / wall, 1),
            "db_cpu_pct": round(100 * db / wall, 1),
            "other_cpu_pct": round(max(0.0, 100 * other / wall), 1),
            "server_rss_mib": round(after.server_rss / 2**20, 1),
        }
