"""The load generator's per-connection state and its hot path.

Every frame a connection receives goes through `Client.on_frame`: one `orjson.loads`, then
the `seq` check (each subscriber must see `start+1, start+2, …` with nothing missing or
repeated), a running digest of the client ids it saw (compared with the acks at the end) and
a latency sample. Keep this path lean: with 1000 subscribers it runs 100k+ times a second.

A message's `client_id` is `<sender prefix><n>.<send time in ns>`, so any receiver can tell
when it was sent without a shared table (all clients live in this one process and clock).
"""

from __future__ import annotations

import asyncio
from array import array
from time import monotonic_ns
from typing import Any

import orjson

from bench.wsclient import Link

MAX_PROBLEMS_KEPT = 20
FOREVER_NS = 2**63 - 1
EXPECT_SECONDS = 60.0  # a handshake step or pong that takes longer is a failure


class RunState:
    """Counters and samples shared by all connections of one run."""

    def __init__(self, *, acks_by_broadcast: bool) -> None:
        self.acks_by_broadcast = acks_by_broadcast
        self.delivered = 0  # message frames received by subscribers
        self.acked = 0  # sends acknowledged
        self.window_start_ns = FOREVER_NS  # latency is sampled for sends inside the window
        self.window_end_ns = FOREVER_NS
        self.deliver_ns = array("q")  # send -> deliver, one sample per delivered frame
        self.ack_ns = array("q")  # send -> ack
        self.acks: dict[int, str] = {}  # seq -> client_id, from the acks
        self.sending = False
        self.closing = False  # we are closing connections: closes are expected
        self.problems: list[str] = []
        self.problem_count = 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(text)


class Sender:
    """Sends with unique client ids and keeps what is in flight until it is acknowledged."""

    __slots__ = ("body", "client", "encode", "in_flight", "prefix", "room_id", "sent")

    def __init__(self, client: Client, *, prefix: str, room_id: int, body: str, encode: Any):
        self.client = client
        self.prefix = prefix
        self.room_id = room_id
        self.body = body
        self.encode = encode  # (room_id, body, client_id) -> bytes
        self.in_flight: dict[str, int] = {}  # client_id -> send time (ns)
        self.sent = 0

    def send(self, at_ns: int | None = None) -> None:
        """Send one message; `at_ns` is its scheduled time in open loop (else: now)."""
        now = monotonic_ns() if at_ns is None else at_ns
        client_id = f"{self.prefix}{self.sent}.{now}"
        self.sent += 1
        self.in_flight[client_id] = now
        assert self.client.link is not None
        self.client.link.send(self.encode(self.room_id, self.body, client_id))

    def acked(self, client_id: str, seq: int, closed_loop: bool) -> None:
        run = self.client.run
        sent = self.in_flight.pop(client_id, None)
        if sent is None:
            run.problem(f"ack for {client_id!r} that is not in flight (repeated ack?)")
            return
        run.acked += 1
        if run.window_start_ns <= sent < run.window_end_ns:
            run.ack_ns.append(monotonic_ns() - sent)
        if seq in run.acks:
            run.problem(f"seq {seq} acked twice ({run.acks[seq]!r} and {client_id!r})")
        run.acks[seq] = client_id
        if closed_loop and run.sending:
            self.send()


class Client:
    """One WebSocket connection: maybe a subscriber, maybe a sender, maybe both."""

    __slots__ = (
        "close_code",
        "closed",
        "closed_loop",
        "digest",
        "index",
        "link",
        "next_seq",
        "received",
        "run",
        "sender",
        "start_seq",
        "subscriber",
        "waiters",
    )

    def __init__(self, run: RunState, index: int, *, subscriber: bool) -> None:
        self.run = run
        self.index = index
        self.subscriber = subscriber
        self.sender: Sender | None = None
        self.closed_loop = True
        self.link: Link | None = None
        self.start_seq: int | None = None  # the stream starts after this seq
        self.next_seq: int | None = None
        self.received = 0
        self.digest = 0  # sum of hash(client_id) over the messages received
        self.waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.closed = False
        self.close_code: int | None = None

    def start_at(self, seq: int) -> None:
        self.start_seq = seq
        self.next_seq = seq + 1

    # Hot path ------------------------------------------------------------------------------

    def on_frame(self, data: bytes | str) -> None:
        frame = orjson.loads(data)
        kind = frame["type"]
        if kind == "message":
            message = frame["message"]
            if self.subscriber:
                self._deliver(message)
            sender = self.sender
            if sender is not None and self.run.acks_by_broadcast:
                client_id = message["client_id"]
                if client_id.startswith(sender.prefix):
                    sender.acked(client_id, message["seq"], self.closed_loop)
        elif kind == "ack":
            if self.sender is None:
                self.run.problem(f"connection {self.index} got an ack but never sent")
            else:
                self.sender.acked(frame["client_id"], frame["message"]["seq"], self.closed_loop)
        else:
            self._control(kind, frame)

    def _deliver(self, message: dict[str, Any]) -> None:
        run = self.run
        run.delivered += 1
        self.received += 1
        seq = message["seq"]
        if seq == self.next_seq:
            self.next_seq = seq + 1
        else:
            self._out_of_order(seq)
        client_id = message["client_id"]
        self.digest += hash(client_id)
        sent = int(client_id[client_id.rindex(".") + 1 :])
        if run.window_start_ns <= sent < run.window_end_ns:
            run.deliver_ns.append(monotonic_ns() - sent)

    def _out_of_order(self, seq: int) -> None:
        expected = self.next_seq
        if expected is None:
            self.run.problem(f"connection {self.index}: message seq {seq} before its start")
        elif seq < expected:
            self.run.problem(
                f"connection {self.index}: seq {seq} after {expected - 1} (repeat or reorder)"
            )
        else:
            self.run.problem(f"connection {self.index}: seq {expected}..{seq - 1} missing")
            self.next_seq = seq + 1

    # Control frames ------------------------------------------------------------------------

    def _control(self, kind: str, frame: dict[str, Any]) -> None:
        if kind == "error":
            self.run.problem(
                f"connection {self.index}: error {frame.get('code')}: {frame.get('detail')}"
            )
            for waiter in self.waiters.values():
                if not waiter.done():
                    waiter.set_exception(RuntimeError(f"server refused: {frame}"))
            self.waiters.clear()
            return
        pending = self.waiters.get(kind)  # `expect` removes it once it has the frame
        if pending is not None and not pending.done():
            pending.set_result(frame)

    def arm(self, kind: str) -> None:
        """Start waiting for a frame of `kind` now (it may arrive before `expect` is called)."""
        if kind not in self.waiters:
            self.waiters[kind] = asyncio.get_running_loop().create_future()

    async def expect(self, kind: str) -> dict[str, Any]:
        """Wait for the next frame of `kind`, armed earlier or from now on."""
        self.arm(kind)
        waiter = self.waiters[kind]
        try:
            async with asyncio.timeout(EXPECT_SECONDS):
                return await waiter
        finally:
            self.waiters.pop(kind, None)

    def on_close(self, code: int | None) -> None:
        self.closed = True
        self.close_code = code
        if not self.run.closing:
            self.run.problem(f"connection {self.index} closed by the server (code {code})")
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"closed with code {code}"))
        self.waiters.clear()

    def send_json(self, payload: dict[str, Any]) -> None:
        assert self.link is not None
        self.link.send(orjson.dumps(payload))
