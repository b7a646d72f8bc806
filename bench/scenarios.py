"""The scenarios the issue sets targets for, and smaller versions for quick checks."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scenario:
    """One room; `subscribers` connections hear it, `senders` connections send into it.

    Closed loop (`rate` None): each sender keeps `window` sends in flight, sending the next
    when one is acknowledged. Open loop: `rate` messages a second in all, on a fixed schedule
    whatever the server does (latency counts from the scheduled time, so a server that falls
    behind is not flattered). With `senders_subscribe` the senders are the first subscribers;
    otherwise they are extra connections that only send and take acks.
    """

    name: str
    subscribers: int
    senders: int
    window: int = 10
    rate: float | None = None
    senders_subscribe: bool = True
    warmup: float = 2.0
    duration: float = 10.0
    body_bytes: int = 64
    servers: tuple[str, ...] = ("reference", "parley")

    @property
    def connections(self) -> int:
        return self.subscribers + (0 if self.senders_subscribe else self.senders)

    @property
    def mode(self) -> str:
        return "closed" if self.rate is None else "open"

    def scaled(self, factor: float, duration: float) -> Scenario:
        """A smaller version: fewer connections (and rate), shorter, same shape."""
        return replace(
            self,
            subscribers=max(2, round(self.subscribers * factor)),
            senders=max(1, round(self.senders * factor)),
            rate=None if self.rate is None else max(10.0, self.rate * factor),
            warmup=min(self.warmup, 1.0),
            duration=duration,
        )


@dataclass(frozen=True)
class IdleScenario:
    """`connections` authenticated connections, each subscribed to one of several rooms of
    `room_size` members, doing nothing; the server's memory per connection is measured."""

    name: str = "idle"
    connections: int = 10_000
    room_size: int = 100
    baseline_connections: int = 100  # connected before the "before" sample: warms the server
    settle: float = 3.0
    servers: tuple[str, ...] = ("reference", "parley")

    def scaled(self, factor: float) -> IdleScenario:
        return replace(
            self,
            connections=max(20, round(self.connections * factor)),
            baseline_connections=max(5, round(self.baseline_connections * factor)),
            settle=1.0,
        )


LOAD_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("fanout-100", subscribers=100, senders=10, window=10),
        Scenario("fanout-1000", subscribers=1000, senders=10, window=10),
        Scenario("open-200", subscribers=100, senders=10, rate=200.0),
        # 100,000 deliveries a second: the latency target of issue 17.
        Scenario("open-1000", subscribers=100, senders=10, rate=1000.0),
        Scenario(
            "busy-room",
            subscribers=10,
            senders=200,
            window=10,
            senders_subscribe=False,
            servers=("parley",),
        ),
    )
}
IDLE = IdleScenario()
ALL_SCENARIOS = (*LOAD_SCENARIOS, IDLE.name)
