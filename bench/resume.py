"""Load that survives failures: clients spread over several hosts, which reconnect to
another host when theirs goes away and resume where their stream stopped.

A subscriber resumes by the room's change number, `since_rev` (the highest `rev` it saw): the
replay and the live stream must continue its sequence with nothing lost or repeated, which
`bench.client.Client` checks frame by frame (this load only sends, so every change is a new
message and `seq` order is the order to check). A sender sends again, with the same client
ids, what was in flight when its connection died: the server acknowledges a repeated client
id with the original message and broadcasts nothing, so every message is stored once
whatever happened.

A connection is considered gone when the server closes it or when a `ping` goes unanswered
for `DEAD_AFTER_SECONDS` (a host cut off the network sends no FIN: only silence tells).

`run_resuming` returns what the scenarios print: sent, acked, delivered, lost, duplicated
and the time from the end of sending until every subscriber had caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bench import wsclient
from bench.client import Client, RunState, Sender
from bench.loadgen import make_body, poll_until
from bench.targets import encode_send
from bench.verify import final_seq, verify

PING_EVERY_SECONDS = 0.5
DEAD_AFTER_SECONDS = 2.0
RECONNECT_DELAY_SECONDS = 0.2
CATCH_UP_TIMEOUT = 60.0


class ResumingClient(Client):
    """A `Client` that, instead of reporting its connection's end as a problem, reconnects
    (to the next host in turn) and resumes."""

    __slots__ = (
        "generation",
        "host",
        "hosts",
        "last_heard",
        "last_rev",
        "lost",
        "reconnects",
        "room_id",
        "token",
    )

    def __init__(
        self, run: RunState, index: int, *, subscriber: bool, hosts: Sequence[str], token: str
    ) -> None:
        super().__init__(run, index, subscriber=subscriber)
        self.hosts = list(hosts)
        self.host = index % len(hosts)
        self.token = token
        self.room_id = 0
        self.last_heard = time.monotonic()
        self.lost: asyncio.Event = asyncio.Event()
        self.reconnects = 0
        self.generation = 0  # frames and closes of abandoned connections are ignored
        self.last_rev: int | None = None  # the highest change number seen: where to resume

    def _deliver(self, message: dict[str, Any]) -> None:
        rev = message["rev"]
        if self.last_rev is None or rev > self.last_rev:
            self.last_rev = rev
        super()._deliver(message)

    def frames_of(self, generation: int) -> Callable[[bytes | str], None]:
        def on_frame(data: bytes | str) -> None:
            if generation == self.generation:
                self.last_heard = time.monotonic()
                self.on_frame(data)

        return on_frame

    def closes_of(self, generation: int) -> Callable[[int | None], None]:
        def on_close(code: int | None) -> None:
            if generation == self.generation:
                self.on_close(code)

        return on_close

    def on_close(self, code: int | None) -> None:
        self.closed = True
        self.close_code = code
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"closed with code {code}"))
        self.waiters.clear()
        self.lost.set()

    def url(self) -> str:
        base = "ws" + self.hosts[self.host].removeprefix("http")
        return f"{base}/ws?token={quote(self.token)}"

    async def connect(self, *, resume: bool) -> None:
        self.closed = False
        self.lost.clear()
        self.generation += 1
        self.arm("hello")
        self.link = await wsclient.open_link(
            self.url(), self.frames_of(self.generation), self.closes_of(self.generation)
        )
        self.last_heard = time.monotonic()
        await self.expect("hello")
        if self.subscriber:
            self.arm("subscribed")
            request: dict[str, Any] = {"type": "subscribe", "room_id": self.room_id}
            if resume and self.last_rev is not None:
                request["since_rev"] = self.last_rev
            elif resume and self.next_seq is not None:
                request["since_seq"] = self.next_seq - 1  # nothing heard yet
            self.send_json(request)
            subscribed = await self.expect("subscribed")
            if subscribed.get("complete") is False:
                self.run.problem(f"connection {self.index}: replay incomplete (REPLAY_LIMIT)")
            if not resume or self.next_seq is None:
                self.start_at(int(subscribed["last_seq"]))
                self.last_rev = int(subscribed["last_rev"])
        sender = self.sender
        if resume and sender is not None:
            # Whatever was in flight may or may not be stored: the same client id again is
            # acknowledged either way, and stored (and broadcast) at most once.
            for client_id in list(sender.in_flight):
                self.link.send(sender.encode(sender.room_id, sender.body, client_id))

    async def keep_alive(self) -> None:
        """Ping; reconnect elsewhere when the server closes or goes silent."""
        while not self.run.closing:
            try:
                await asyncio.wait_for(self.lost.wait(), PING_EVERY_SECONDS)
            except TimeoutError:
                if time.monotonic() - self.last_heard > DEAD_AFTER_SECONDS:
                    self.abandon()
                else:
                    with contextlib.suppress(Exception):
                        self.send_json({"type": "ping"})
                    continue
            if self.run.closing:
                return
            await self.reconnect()

    def abandon(self) -> None:
        self.generation += 1
        link, self.link = self.link, None
        if link is not None:
            with contextlib.suppress(Exception):
                link.close()
        self.on_close(None)

    async def reconnect(self) -> None:
        while not self.run.closing:
            self.host = (self.host + 1) % len(self.hosts)
            self.reconnects += 1
            try:
                await asyncio.wait_for(self.connect(resume=True), DEAD_AFTER_SECONDS * 3)
                return
            except (OSError, ConnectionError, TimeoutError, RuntimeError):
                self.abandon()
                self.lost.clear()
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)


@dataclass
class Outcome:
    sent: int
    acked: int
    delivered: int
    lost: int
    duplicated: int
    caught_up_seconds: float
    worst_delivery_seconds: float  # the longest any subscriber waited for any message
    reconnects: int
    problems: list[str] = field(default_factory=list)

    def line(self, name: str) -> str:
        return (
            f"{name}: sent {self.sent}, acked {self.acked}, delivered {self.delivered}, "
            f"lost {self.lost}, duplicated {self.duplicated}, caught up "
            f"{self.caught_up_seconds:.2f}s after the last ack; longest wait for a message "
            f"{self.worst_delivery_seconds:.2f}s; {self.reconnects} reconnects"
        )


async def run_resuming(
    hosts: Sequence[str],
    tokens: Sequence[str],
    room_id: int,
    *,
    senders: int,
    subscribers: int,
    window: int = 4,
    before: float = 2.0,
    fault: Callable[[], Awaitable[object]],
    after: float = 3.0,
) -> Outcome:
    """Send closed-loop from `senders` connections (spread over the hosts) to `subscribers`
    (spread too), run `fault` after `before` seconds, keep sending `after` seconds more,
    then stop, wait for every ack and every subscriber, and verify."""
    run = RunState(acks_by_broadcast=False)
    run.window_start_ns = 0  # every delivery's send-to-deliver time is kept: the worst counts
    clients: list[ResumingClient] = []
    nonce = secrets.token_hex(4)
    body = make_body(64)
    for i in range(senders + subscribers):
        client = ResumingClient(
            run, i, subscriber=i >= senders, hosts=hosts, token=tokens[i % len(tokens)]
        )
        client.room_id = room_id
        if i < senders:
            client.sender = Sender(
                client, prefix=f"{nonce}s{i}.", room_id=room_id, body=body, encode=encode_send
            )
        clients.append(client)
    keepers: list[asyncio.Task[None]] = []
    try:
        await asyncio.gather(*(c.connect(resume=False) for c in clients))
        keepers = [asyncio.create_task(c.keep_alive()) for c in clients]
        run.sending = True
        for client in clients:
            if client.sender is not None:
                for _ in range(window):
                    client.sender.send()
        await asyncio.sleep(before)
        await fault()
        await asyncio.sleep(after)
        run.sending = False
        caught_up = await _wait_caught_up(run, clients)
    finally:
        run.closing = True
        for task in keepers:
            task.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        for client in clients:
            if client.link is not None:
                with contextlib.suppress(Exception):
                    client.link.close()

    problems = verify(run, clients)
    final = final_seq(run, [c for c in clients if c.subscriber]) or 0
    subscribers_list = [c for c in clients if c.subscriber]
    expected = sum(final - (c.start_seq or 0) for c in subscribers_list)
    delivered = sum(c.received for c in subscribers_list)
    got = sum(min(c.received, final - (c.start_seq or 0)) for c in subscribers_list)
    sent = sum(c.sender.sent for c in clients if c.sender is not None)
    return Outcome(
        sent=sent,
        acked=len(run.acks),
        delivered=delivered,
        lost=max(0, expected - got) + sum(len(c.sender.in_flight) for c in clients if c.sender),
        duplicated=max(0, delivered - expected) + _repeats(run.problems),
        caught_up_seconds=caught_up,
        worst_delivery_seconds=max(run.deliver_ns, default=0) / 1e9,
        reconnects=sum(c.reconnects for c in clients),
        problems=problems,
    )


def _repeats(problems: Sequence[str]) -> int:
    return sum(1 for p in problems if "repeat" in p or "twice" in p)


async def _wait_caught_up(run: RunState, clients: Sequence[ResumingClient]) -> float:
    """Seconds from the moment sending stopped until every send was acked and every
    subscriber had the last acked seq (or CATCH_UP_TIMEOUT, then verify says what is off)."""
    started = time.monotonic()
    deadline = asyncio.get_running_loop().time() + CATCH_UP_TIMEOUT
    senders = [c.sender for c in clients if c.sender is not None]
    await poll_until(lambda: not any(s.in_flight for s in senders), deadline)
    final = max(run.acks, default=0)
    await poll_until(
        lambda: all((c.next_seq or 0) > final for c in clients if c.subscriber), deadline
    )
    return time.monotonic() - started
