"""The benchmark works: short runs against real servers, checked for correctness, never speed.

The verifier itself is checked too: a stream that loses, repeats or reorders a message, or a
send that is never acknowledged, must fail the run.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench import servers
from bench.client import Client, RunState, Sender
from bench.loadgen import run_load
from bench.rest import Api
from bench.scenarios import Scenario
from bench.targets import ParleyTarget, ReferenceTarget, encode_send
from bench.verify import verify
from tests.support.server import ServerFactory

SMOKE = Scenario("smoke", subscribers=20, senders=3, window=5, warmup=0.5, duration=2.0)


def assert_correct_and_busy(result: dict[str, Any]) -> None:
    assert result["verified"], result["problems"]
    assert result["messages"] > 0
    assert result["acked_per_s"] > 0
    assert result["delivered_per_s"] > 0
    assert result["deliver_ms"]["count"] > 0
    assert result["ack_ms"]["p99"] >= result["ack_ms"]["p50"]


@pytest.mark.live
async def test_a_short_closed_loop_run_against_parley_is_exactly_once_in_order(
    make_server: ServerFactory,
) -> None:
    # Each sender sends faster than the per-connection frame limit allows a person to.
    server = make_server(LOG_LEVEL="WARNING", MESSAGES_PER_SECOND="0", WS_FRAMES_PER_SECOND="0")
    assert server.process is not None
    async with Api(server.base_url) as api:
        users = await api.create_users(SMOKE.connections)
        room_id = await api.room_with(users, f"smoke-{secrets.token_hex(4)}")

    result = await run_load(
        ParleyTarget(server.base_url, server.process.pid),
        SMOKE,
        tokens=[u.token for u in users],
        room_id=room_id,
    )

    assert_correct_and_busy(result)
    assert result["server"] == "parley"
    assert result["server_rss_mib"] > 0


@pytest.mark.live
async def test_an_open_loop_run_against_the_reference_server_is_checked_the_same_way(
    tmp_path: Path,
) -> None:
    scenario = Scenario("smoke-open", subscribers=10, senders=2, rate=50, warmup=0.5, duration=2)
    reference = await servers.reference_server(workdir=tmp_path, cpu=None).start()
    try:
        result = await run_load(
            ReferenceTarget(reference.base_url, reference.pid),
            scenario,
            tokens=[None] * scenario.connections,
            backend="websockets",  # the fallback client, with nothing extra installed
        )
    finally:
        await reference.stop()

    assert_correct_and_busy(result)
    assert 50 <= result["messages"] <= 2.5 * 50 + 5


# The verifier -----------------------------------------------------------------------------


class Recorder:
    """Stands in for a connection: remembers what the sender sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, text: bytes) -> None:
        self.sent.append(text)

    def close(self) -> None:
        pass


def sent_and_acked(count: int) -> tuple[RunState, Client, Client, list[str]]:
    """A sender that sent `count` messages, acked as seq 1..count, and a subscriber that
    starts after seq 0 and has received nothing yet."""
    run = RunState(acks_by_broadcast=False)
    sender = Client(run, 0, subscriber=False)
    recorder = Recorder()
    sender.link = recorder
    sender.sender = Sender(sender, prefix="t.", room_id=1, body="hi", encode=encode_send)
    for _ in range(count):
        sender.sender.send()
    client_ids = [orjson.loads(text)["client_id"] for text in recorder.sent]
    for seq, client_id in enumerate(client_ids, start=1):
        ack = {"type": "ack", "client_id": client_id, "message": {"seq": seq}}
        sender.on_frame(orjson.dumps(ack))
    subscriber = Client(run, 1, subscriber=True)
    subscriber.start_at(0)
    return run, sender, subscriber, client_ids


def receive(subscriber: Client, frames: list[tuple[int, str]]) -> None:
    for seq, client_id in frames:
        frame = {"type": "message", "message": {"seq": seq, "client_id": client_id}}
        subscriber.on_frame(orjson.dumps(frame))


def test_the_verifier_accepts_a_complete_stream() -> None:
    run, sender, subscriber, ids = sent_and_acked(3)
    receive(subscriber, [(1, ids[0]), (2, ids[1]), (3, ids[2])])
    assert verify(run, [sender, subscriber]) == []


@pytest.mark.parametrize(
    ("delivered", "complaint"),
    [
        ([1, 3], "missing"),
        ([1, 2, 2, 3], "repeat or reorder"),
        ([2, 1, 3], "repeat or reorder"),
        ([1, 2], "ends at seq 2"),
    ],
)
def test_the_verifier_fails_a_stream_that_loses_repeats_or_reorders(
    delivered: list[int], complaint: str
) -> None:
    run, sender, subscriber, ids = sent_and_acked(3)
    receive(subscriber, [(seq, ids[seq - 1]) for seq in delivered])

    problems = verify(run, [sender, subscriber])

    assert any(complaint in p for p in problems), problems


def test_the_verifier_fails_a_send_that_is_never_acknowledged() -> None:
    run, sender, subscriber, ids = sent_and_acked(1)
    sender.sender.send()  # type: ignore[union-attr]
    receive(subscriber, [(1, ids[0])])
    assert "1 sends never acknowledged" in verify(run, [sender, subscriber])


def test_the_verifier_fails_a_stream_with_the_wrong_messages() -> None:
    run, sender, subscriber, ids = sent_and_acked(2)
    receive(subscriber, [(1, ids[0]), (2, ids[0])])  # the right numbers, the wrong message
    assert any("differ from the acked" in p for p in verify(run, [sender, subscriber]))


def test_the_broker_cost_is_each_brokers_median_against_memory() -> None:
    from bench.brokers import broker_label, costs

    def run(broker: str, acked: float, verified: bool = True) -> dict[str, Any]:
        return {
            "scenario": "fanout-100",
            "broker": broker,
            "acked_per_s": acked,
            "verified": verified,
        }

    rows = costs(
        [
            run("memory", 1000),
            run("memory", 1200),
            run("memory", 1100),
            run("redis", 990),
            run("redis", 900),
            run("redis", 10, verified=False),  # a run that lost messages does not count
            run("cluster", 800),
        ]
    )
    assert [(r["broker"], r["acked_per_s"], r["vs_memory"]) for r in rows] == [
        ("memory", 1100.0, 1.0),
        ("redis", 945.0, 0.859),
        ("cluster", 800.0, 0.727),
    ]
    assert broker_label("memory") == "parley"
    assert broker_label("cluster") == "parley+cluster"
