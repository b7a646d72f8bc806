"""What the benchmark ran on: recorded with every result file and quoted in the docs."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_revision() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        rev = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
        return rev.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def describe() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "revision": _git_revision(),
    }


def summary_line(info: dict[str, Any]) -> str:
    keys = ("cpus", "cpu_model", "memory_gib", "kernel", "python", "postgresql", "client")
    parts = [f"{key}={info[key]}" for key in keys if key in info]
    parts.append(f"load={info['load_average']}")
    return "machine: " + ", ".join(parts)


async def busy_percent(seconds: float = 2.0) -> float:
    """CPU used by everything on the machine over `seconds`, in % of one core."""
    from bench.metrics import machine_busy_seconds

    before = machine_busy_seconds()
    await asyncio.sleep(seconds)
    return 100 * (machine_busy_seconds() - before) / seconds


async def wait_until_quiet(*, threshold: float, patience: float, sample: float = 2.0) -> float:
    """Between runs nothing of ours is busy: wait (at most `patience` seconds) until the
    rest of the machine uses less than `threshold` % of a core, reading it over `sample`
    seconds at a time. Returns the last reading."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    busy = await busy_percent(sample)
    announced = False
    while busy > threshold and loop.time() < deadline:
        if not announced:
            print(f"   waiting for a quiet machine (other work: {busy:.0f}% CPU)", flush=True)
            announced = True
        busy = await busy_percent(sample)
    return round(busy, 1)
