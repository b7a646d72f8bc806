"""The metric helpers the hot path relies on."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from app.core import metrics
from tests.support.metrics import Scrape


def test_observe_many_records_what_observe_would() -> None:
    registry = CollectorRegistry()
    one_by_one = Histogram("one_by_one", "x", buckets=metrics.LATENCY_BUCKETS, registry=registry)
    in_bulk = Histogram("in_bulk", "x", buckets=metrics.LATENCY_BUCKETS, registry=registry)
    values = [random.uniform(0, 12) ** 3 / 100 for _ in range(500)] + [0.001, 0.0, 10.0]
    for value in values:
        one_by_one.observe(value)
    metrics.observe_many(in_bulk, values)
    metrics.observe_many(in_bulk, [])
    scraped = Scrape(generate_latest(registry).decode())
    bulk = {(n, tuple(sorted(lab.items()))): v for n, lab, v in scraped.samples if "bulk" in n}
    single = {
        (n.replace("one_by_one", "in_bulk"), tuple(sorted(lab.items()))): v
        for n, lab, v in scraped.samples
        if "one_by_one" in n and not n.endswith("_created")
    }
    bulk = {key: value for key, value in bulk.items() if not key[0].endswith("_created")}
    assert bulk.keys() == single.keys()
    for key, value in single.items():
        assert bulk[key] == value or abs(bulk[key] - value) < 1e-9, key


def test_a_tally_reaches_its_counter_when_flushed() -> None:
    counter = Counter("tallied", "x", registry=CollectorRegistry())
    tally = metrics.Tally(counter)
    tally.add(3)
    tally.add()
    assert counter._value.get() == 0
    tally.flush()
    tally.flush()
    assert counter._value.get() == 4


def test_a_dead_workers_live_gauges_are_forgotten(tmp_path: Path) -> None:
    """A worker killed without cleaning up must not count its connections forever."""
    script = """
import os, sys
from app.core import metrics
metrics.WS_CONNECTIONS.inc(int(sys.argv[1]))
if sys.argv[1] == "7":
    os._exit(0)  # killed: no clean-up
metrics.forget_dead_processes()
sys.stdout.write(metrics.render().decode())
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script, "7"], env=env, check=True)
    survivor = subprocess.run(
        [sys.executable, "-c", script, "2"], env=env, check=True, capture_output=True, text=True
    )
    assert Scrape(survivor.stdout).value("parley_websocket_connections") == 2
