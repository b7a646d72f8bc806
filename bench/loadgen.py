"""The load generator: one scenario against one running server.

Connect subscribers and senders (set-up, timed apart), send closed-loop or open-loop for
`warmup + duration` seconds, measure over the last `duration`, then stop sending, wait for
every ack and every delivery, and verify. Usable on its own against a server you started:

    python -m bench.loadgen --server parley --url http://127.0.0.1:8000 --scenario fanout-100
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from time import monotonic_ns
from typing import Any

from bench import wsclient
from bench.client import Client, RunState, Sender
from bench.metrics import Meter, percentiles_ms
from bench.scenarios import LOAD_SCENARIOS, Scenario
from bench.targets import Target, encode_send, make_target
from bench.verify import verify

DRAIN_TIMEOUT = 60.0
CONNECT_CONCURRENCY = 100
CLIENT_BOUND_PCT = 90.0  # the load generator's core is (nearly) full


def make_body(size: int) -> str:
    text = "The quick brown fox jumps over the lazy dog. "
    return (text * (size // len(text) + 1))[:size].strip() or "x"


def build_clients(run: RunState, scenario: Scenario, room_id: int) -> list[Client]:
    clients = [Client(run, i, subscriber=True) for i in range(scenario.subscribers)]
    if scenario.senders_subscribe:
        sending = clients[: scenario.senders]
    else:
        sending = [
            Client(run, scenario.subscribers + i, subscriber=False) for i in range(scenario.senders)
        ]
        clients.extend(sending)
    nonce = secrets.token_hex(4)  # client ids are unique per user forever: never reuse one
    body = make_body(scenario.body_bytes)
    for n, client in enumerate(sending):
        client.sender = Sender(
            client, prefix=f"{nonce}s{n}.", room_id=room_id, body=body, encode=encode_send
        )
        client.closed_loop = scenario.rate is None
    return clients


async def connect_all(
    target: Target,
    clients: Sequence[Client],
    tokens: Sequence[str | None],
    rooms: Sequence[int],
    *,
    backend: str = "auto",
    local_hosts: Sequence[str] = (),
    concurrency: int = CONNECT_CONCURRENCY,
) -> None:
    """Open every connection and finish its handshake (subscribed to its room, for
    subscribers); `tokens[i]` and `rooms[i]` are for `clients[i]`."""
    if len(tokens) < len(clients) or len(rooms) < len(clients):
        raise ValueError(
            f"{len(clients)} connections need as many users and rooms, "
            f"got {len(tokens)} and {len(rooms)}"
        )
    semaphore = asyncio.Semaphore(concurrency)

    async def connect(client: Client, token: str | None, room_id: int) -> None:
        async with semaphore:
            target.before_connect(client)
            local = local_hosts[client.index % len(local_hosts)] if local_hosts else None
            client.link = await wsclient.open_link(
                target.ws_url(token),
                client.on_frame,
                client.on_close,
                backend=backend,
                local_host=local,
            )
            await target.handshake(client, room_id)

    await asyncio.gather(
        *(connect(c, t, r) for c, t, r in zip(clients, tokens, rooms, strict=False))
    )


async def pace(senders: Sequence[Sender], rate: float, run: RunState) -> None:
    """Open loop: message n is due at start + n/rate, whatever happened to the others."""
    interval = 1e9 / rate
    start = monotonic_ns()
    sent = 0
    while run.sending:
        due = int((monotonic_ns() - start) / interval) + 1
        while sent < due:
            senders[sent % len(senders)].send(at_ns=start + int(sent * interval))
            sent += 1
        await asyncio.sleep(max(0.0, (start + sent * interval - monotonic_ns()) / 1e9))


async def poll_until(condition: Callable[[], bool], deadline: float) -> bool:
    """Check `condition` every few ms until it holds or the loop time passes `deadline`."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def drain(run: RunState, clients: Sequence[Client], seconds: float) -> bool:
    """Wait for every ack, then for every subscriber to reach the last acked seq."""
    senders = [c.sender for c in clients if c.sender is not None]
    subscribers = [c for c in clients if c.subscriber and not c.closed]
    deadline = asyncio.get_running_loop().time() + seconds
    await poll_until(lambda: not any(s.in_flight for s in senders), deadline)
    final = max(run.acks, default=None)
    if final is None:
        return True
    return await poll_until(
        lambda: all((c.next_seq or 0) > final or c.closed for c in subscribers), deadline
    )


def close_all(run: RunState, clients: Sequence[Client]) -> None:
    run.closing = True
    for client in clients:
        if client.link is not None and not client.closed:
            client.link.close()


async def run_load(
    target: Target,
    scenario: Scenario,
    *,
    tokens: Sequence[str | None],
    room_id: int = 0,
    backend: str = "auto",
    local_hosts: Sequence[str] = (),
    on_window: Callable[[float], object] | None = None,
) -> dict[str, Any]:
    """Run `scenario` against `target`; the result holds every metric and the verdict.
    `on_window(seconds)` is called as the measured window opens (e.g. to start a profiler)."""
    await target.prepare()
    run = RunState(acks_by_broadcast=target.acks_by_broadcast)
    clients = build_clients(run, scenario, room_id)
    started = time.monotonic()
    try:
        await connect_all(
            target,
            clients,
            tokens,
            [room_id] * len(clients),
            backend=backend,
            local_hosts=local_hosts,
        )
        await target.settle(clients)
        setup_seconds = time.monotonic() - started

        meter = Meter(target.pid)
        senders = [c.sender for c in clients if c.sender is not None]
        run.sending = True
        pacer = None
        if scenario.rate is None:
            for sender in senders:
                for _ in range(scenario.window):
                    sender.send()
        else:
            pacer = asyncio.create_task(pace(senders, scenario.rate, run))
        await asyncio.sleep(scenario.warmup)

        before, counts_before = meter.sample(), (run.acked, run.delivered)
        run.window_start_ns = monotonic_ns()
        if on_window is not None:
            on_window(scenario.duration)
        await asyncio.sleep(scenario.duration)
        run.window_end_ns = monotonic_ns()
        after, counts_after = meter.sample(), (run.acked, run.delivered)
        run.sending = False
        if pacer is not None:
            await pacer

        drained = await drain(run, clients, DRAIN_TIMEOUT)
        problems = verify(run, clients)
        if not drained:
            problems.insert(0, f"not drained within {DRAIN_TIMEOUT}s after the window")
    finally:
        close_all(run, clients)

    wall = after.wall - before.wall
    usage = Meter.usage(before, after)
    if usage["client_cpu_pct"] >= CLIENT_BOUND_PCT:
        # Not a failure of the server: the numbers say more about this process than about it.
        note = f"load generator at {usage['client_cpu_pct']}% CPU: client-bound"
    else:
        note = ""
    return {
        "scenario": scenario.name,
        "server": target.name,
        **{k: v for k, v in asdict(scenario).items() if k not in ("name", "servers")},
        "mode": scenario.mode,
        "connections": len(clients),
        "client": wsclient.backend_name(backend),
        "setup_s": round(setup_seconds, 2),
        "window_s": round(wall, 3),
        "acked_per_s": round((counts_after[0] - counts_before[0]) / wall, 1),
        "delivered_per_s": round((counts_after[1] - counts_before[1]) / wall, 1),
        "ack_ms": percentiles_ms(run.ack_ns),
        "deliver_ms": percentiles_ms(run.deliver_ns),
        **usage,
        "client_bound": bool(note),
        "note": note,
        "messages": len(run.acks),
        "verified": not problems,
        "problems": problems,
    }


# Command line ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--server", choices=("parley", "reference"), default="parley")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--pid", type=int, help="server pid, for its CPU and memory")
    parser.add_argument("--scenario", choices=sorted(LOAD_SCENARIOS), default="fanout-100")
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--senders", type=int)
    parser.add_argument("--window", type=int)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--client", choices=("auto", "picows", "websockets"), default="auto")
    return parser


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    from dataclasses import replace

    scenario = LOAD_SCENARIOS[args.scenario]
    changes = {
        key: getattr(args, key)
        for key in ("subscribers", "senders", "window", "rate", "duration", "warmup")
        if getattr(args, key) is not None
    }
    return replace(scenario, **changes)


async def _main(args: argparse.Namespace) -> int:
    from bench.report import print_table
    from bench.rest import Api

    scenario = scenario_from_args(args)
    target = make_target(args.server, args.url, args.pid)
    room_id = 0
    tokens: list[str | None] = [None] * scenario.connections
    if args.server == "parley":
        async with Api(args.url) as api:
            users = await api.create_users(scenario.connections)
            room_id = await api.room_with(users, f"bench-{secrets.token_hex(4)}")
        tokens = [u.token for u in users]
    result = await run_load(target, scenario, tokens=tokens, room_id=room_id, backend=args.client)
    print_table([result])
    for problem in result["problems"]:
        print("  problem:", problem)
    return 0 if result["verified"] else 1


def main() -> int:
    return asyncio.run(_main(build_parser().parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
