"""What one metric update costs, in one process and in multiprocess mode (an mmap write under
a lock): the numbers behind app/core/metrics.py's rule that the message path updates metrics
per batch, never per message or per recipient.

    python -m bench.metrics_cost
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CALLS = 200_000
MEASURE = f"""
import timeit
from app.core import metrics
calls = {CALLS}
batch = [0.001 * i for i in range(500)]
cases = {{
    "Counter.inc": metrics.RESYNCS.inc,
    "Histogram.observe": lambda: metrics.SEND_ACK_SECONDS.observe(0.002),
    "Tally.add": metrics.FRAMES.add,
    "observe_many(500) per value": lambda: metrics.observe_many(metrics.SEND_ACK_SECONDS, batch),
}}
for name, call in cases.items():
    n = calls // 500 if "500" in name else calls
    per_call = timeit.timeit(call, number=n) / n / (500 if "500" in name else 1)
    print(f"  {{name:<30}} {{per_call * 1e6:7.3f}} µs")
"""


def main() -> None:
    for mode in ("one process", "multiprocess"):
        print(mode)
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        with tempfile.TemporaryDirectory() as directory:
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            subprocess.run([sys.executable, "-c", MEASURE], env=env, check=True)


if __name__ == "__main__":
    main()
