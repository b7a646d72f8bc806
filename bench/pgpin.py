"""Pin the local PostgreSQL server's processes to a CPU for a benchmark, and undo it after.

PostgreSQL is a system service, not a child of the benchmark, so `taskset -c` at start-up
cannot reach it; its processes can only be re-pinned one by one (`taskset -p`, here
`sched_setaffinity`), which needs root or CAP_SYS_NICE. The postmaster is pinned too, so the
backends it forks for the benchmark's connections inherit the CPU. On leaving, every
PostgreSQL process gets its original CPUs back (backends started meanwhile get the
postmaster's): other users of the same PostgreSQL must not stay confined to one core.
"""

from __future__ import annotations

import logging
from types import TracebackType

import psutil

log = logging.getLogger(__name__)


class PinError(RuntimeError):
    """PostgreSQL could not be pinned (not root, or no local PostgreSQL)."""


def postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


class PostgresPin:
    """`with PostgresPin({0}) as pin:` pins every local PostgreSQL process to CPU 0."""

    def __init__(self, cpus: set[int]) -> None:
        self.cpus = sorted(cpus)
        self.original: dict[int, list[int]] = {}
        self.postmaster_cpus: list[int] | None = None
        self.count = 0  # processes pinned by apply()

    def apply(self) -> int:
        """Pin what runs now; returns how many processes. PinError if it cannot."""
        processes = postgres_processes()
        if not processes:
            raise PinError("no process named 'postgres' on this machine")
        for process in processes:
            try:
                before = process.cpu_affinity()
                process.cpu_affinity(self.cpus)
            except psutil.NoSuchProcess:
                continue  # a backend that just ended
            except psutil.AccessDenied as error:
                self.restore()
                raise PinError(
                    f"cannot re-pin PostgreSQL (pid {process.pid}): run as root "
                    "or leave PostgreSQL unpinned"
                ) from error
            self.original[process.pid] = before
            if self._is_postmaster(process):
                self.postmaster_cpus = before
        self.count = len(self.original)
        return self.count

    @staticmethod
    def _is_postmaster(process: psutil.Process) -> bool:
        try:
            parent = process.parent()
        except psutil.Error:
            return False
        return parent is None or parent.name() != "postgres"

    def restore(self) -> None:
        every_cpu = list(range(psutil.cpu_count() or 1))
        fallback = self.postmaster_cpus or every_cpu
        for process in postgres_processes():
            try:
                process.cpu_affinity(self.original.get(process.pid, fallback))
            except psutil.Error as error:  # gone, or not ours to change: nothing to undo
                log.debug("not restoring pid %s: %s", process.pid, error)
        self.original.clear()

    def __enter__(self) -> PostgresPin:
        self.apply()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.restore()
