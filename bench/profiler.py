"""Sampling the server under test with py-spy during the measured window (optional).

py-spy (`pip install py-spy`) writes collapsed stacks (`--format raw`): one line per
distinct stack with its sample count, readable as text, loadable by speedscope, and turned
into a flame graph by `flamegraph.pl` or `inferno-flamegraph`. `python -m bench.profiler
FILE` prints the functions that take the most samples (self and total).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLES_PER_SECOND = 200
LINE_NUMBER = re.compile(r":\d+\)$")  # "f (path.py:12)" -> "f (path.py)": one row per function


class Profiler:
    def __init__(self, pid: int, output: Path) -> None:
        self.pid = pid
        self.output = output.with_suffix(".txt")
        self._process: subprocess.Popen[bytes] | None = None
        found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(found).exists():
            raise RuntimeError("--profile needs py-spy: pip install py-spy")
        self._py_spy = found

    def start(self, seconds: float) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                self._py_spy,
                "record",
                "--pid",
                str(self.pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                str(SAMPLES_PER_SECOND),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(self.output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait(self) -> None:
        if self._process is not None:
            await asyncio.to_thread(self._process.wait)


def top_functions(path: Path, limit: int = 25) -> tuple[int, list[tuple[str, int, int]]]:
    """(total samples, [(function, self samples, total samples)]) from collapsed stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue  # a fragment: some generated code's frame names contain newlines
        count = int(count_text)
        samples += count
        frames = [LINE_NUMBER.sub(")", frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    rows = [(name, own[name], total[name]) for name, _ in total.most_common(limit)]
    return samples, rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiler", description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--by", choices=("total", "self"), default="self")
    args = parser.parse_args()
    samples, rows = top_functions(args.profile, limit=10_000)
    rows.sort(key=lambda row: row[1] if args.by == "self" else row[2], reverse=True)
    print(f"{samples} samples; share of samples: self, total")
    for name, own, total in rows[: args.limit]:
        print(f"{100 * own / samples:6.1f}% {100 * total / samples:6.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
