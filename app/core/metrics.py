"""Every Prometheus metric the server exports, defined once; every layer may import this.

Several worker processes (`parley serve --workers N`) report one view through
prometheus-client's multiprocess mode: `parley serve` points `PROMETHEUS_MULTIPROC_DIR` at a
fresh directory before any worker imports this module, each worker writes its values to
memory-mapped files there, and a scrape of any worker sums them. Without that variable
(one process, e.g. plain `uvicorn app.main:app`) the default registry is used.

The message path stays cheap: in multiprocess mode one `Counter.inc` is an mmap write under
a lock (several microseconds), so the hot path never touches a metric per recipient or per
message. Hot counters are `Tally`s (an int addition, moved into Prometheus every second and
at each scrape), and latencies of a whole batch go in with one call (`observe_many`).
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

# Decided once, when prometheus_client was first imported in this process (it reads
# PROMETHEUS_MULTIPROC_DIR then): the scrape must read values where they are written.
MULTIPROCESS: bool = bool(getattr(values.ValueClass, "_multiprocess", False))
CONTENT_TYPE = CONTENT_TYPE_LATEST
FLUSH_INTERVAL_SECONDS = 1.0

# Latencies from well under a millisecond (one process, idle) to seconds (a commit stuck
# behind a slow disk or a long Redis outage).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)

# Connections ---------------------------------------------------------------------------

# `livesum`: the sum over the worker processes that are alive (a dead worker's sockets are
# gone with it).
WS_CONNECTIONS = Gauge(
    "parley_websocket_connections",
    "Open WebSocket connections.",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS = Gauge(
    "parley_subscriptions",
    "Room subscriptions of open connections (replaying or live).",
    multiprocess_mode="livesum",
)
SLOW_CONSUMER_CLOSES = Counter(
    "parley_slow_consumer_closes",
    "Connections closed with 1013 because their send queue overflowed.",
)
FRAMES_SENT = Counter(
    "parley_frames_sent",
    "Frames handed to connections' send queues (broadcast frames count once per recipient).",
)

# Messages ------------------------------------------------------------------------------

MESSAGES_STORED = Counter("parley_messages_stored", "New messages committed.")
COMMIT_BATCH_SIZE = Histogram(
    "parley_commit_batch_size",
    "Sends stored together by one group commit.",
    buckets=BATCH_BUCKETS,
)
SEND_ACK_SECONDS = Histogram(
    "parley_send_ack_seconds",
    "From a send reaching the group committer to its outcome (ack or refusal) being queued "
    "for the sender.",
    buckets=LATENCY_BUCKETS,
)
COMMIT_DELIVERED_SECONDS = Histogram(
    "parley_commit_delivered_seconds",
    "From a commit to its new messages being queued for this process's subscribers "
    "(once per commit batch: the batch's last message).",
    buckets=LATENCY_BUCKETS,
)

# Resuming and catching up ----------------------------------------------------------------

REPLAYS = Counter("parley_replays", "Subscriptions that resumed with since_seq.")
REPLAYED_MESSAGES = Counter("parley_replayed_messages", "Messages resent by replays.")
INCOMPLETE_REPLAYS = Counter(
    "parley_incomplete_replays", "Replays cut at REPLAY_LIMIT (subscribed with complete: false)."
)
RESYNCS = Counter(
    "parley_resyncs", "Times the hub refetched every room from the database after a broker gap."
)
GAP_FILLS = Counter(
    "parley_gap_fills", "Times a room's missing seqs were fetched from the database."
)

# Broker --------------------------------------------------------------------------------

BROKER_OUTAGES = Counter("parley_broker_outages", "Times the Redis broker became unreachable.")
# `livemin`: 1 only while every live process hears the others.
BROKER_CONNECTED = Gauge(
    "parley_broker_connected",
    "1 while the broker carries events between processes, 0 during an outage.",
    multiprocess_mode="livemin",
)

# Webhooks ------------------------------------------------------------------------------

WEBHOOK_DELIVERIES = Counter(
    "parley_webhook_deliveries",
    "Webhook delivery attempts by outcome: ok (2xx), http_error (another status), "
    "network_error (connect, timeout, TLS), refused (the SSRF guard refused the address).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "parley_webhook_attempt_seconds",
    "Duration of one webhook delivery attempt (resolving, connecting, the answer's head).",
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_LAG_SECONDS = Histogram(
    "parley_webhook_lag_seconds",
    "From a change being committed to its webhook delivery being acknowledged (retries included).",
    buckets=(*LATENCY_BUCKETS, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0),
)

# HTTP ----------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "parley_http_requests",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "parley_http_request_duration_seconds",
    "HTTP request durations by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


class Tally:
    """A counter for the hot path: `add` is an int addition; `flush` moves the total into
    the Prometheus counter (every second and before each scrape)."""

    __slots__ = ("counter", "pending")

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.pending = 0

    def add(self, amount: int = 1) -> None:
        self.pending += amount

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0
            self.counter.inc(amount)


FRAMES = Tally(FRAMES_SENT)
STORED = Tally(MESSAGES_STORED)
TALLIES = (FRAMES, STORED)


def observe_many(histogram: Histogram, values: Iterable[float]) -> None:
    """`histogram.observe(v)` for each value, with one write per bucket touched rather than
    per value (prometheus-client's own `observe` takes the lock per value). Relies on the
    Histogram's internals (per-bucket values, non-cumulative): pinned, and tested against
    `observe`."""
    bounds: list[float] = histogram._upper_bounds
    counts: dict[int, int] = {}
    total = 0.0
    for value in values:
        index = bisect.bisect_left(bounds, value)
        counts[index] = counts.get(index, 0) + 1
        total += value
    if not counts:
        return
    histogram._sum.inc(total)
    buckets = histogram._buckets
    for index, count in counts.items():
        buckets[index].inc(count)


def render() -> bytes:
    """The scrape: this process's values, or every worker's summed in multiprocess mode."""
    flush()
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def flush() -> None:
    for tally in TALLIES:
        tally.flush()


async def flush_periodically(interval: float = FLUSH_INTERVAL_SECONDS) -> None:
    """Run for the process's life: in multiprocess mode a scrape of another worker reads
    this one's files, so the tallies must reach them without waiting for a local scrape."""
    while True:
        await asyncio.sleep(interval)
        flush()


def forget_dead_processes() -> None:
    """At a worker's start: drop the live gauges of workers that died without cleaning up
    (killed, then replaced by uvicorn), or their connections would be counted forever."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not MULTIPROCESS or not directory:
        return
    pids = {path.stem.rsplit("_", 1)[-1] for path in Path(directory).glob("gauge_live*_*.db")}
    for pid in pids:
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def process_exit() -> None:
    """A worker is stopping: its last counts go in, its live gauges go away."""
    flush()
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())
