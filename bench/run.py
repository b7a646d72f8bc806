"""The whole comparison: reference and Parley, pinned to the same core, interleaved rounds.

    python -m bench.run --rounds 3                 # everything (about 17 minutes)
    python -m bench.run --quick                    # a small version of everything (~2 min)
    python -m bench.run --scenarios fanout-100 open-200 --rounds 3
    python -m bench.run --scenarios fanout-100 --brokers memory redis cluster --no-reference
    python -m bench.run --scenarios fanout-100 --ws-protocols parley websockets-sansio
    python -m bench.run --open-rates 200 400 600 800 1000 --rounds 3   # the rate sweep

It creates a fresh PostgreSQL database, migrates it, signs up the users and creates the
rooms once, then for each round and scenario starts the reference server, measures it,
stops it, starts Parley, measures it, stops it (the busy-room scenario measures PostgreSQL's
one-message-per-transaction ceiling right before Parley instead). Each server runs alone,
pinned to CPU 1; this process (the load generator and the PostgreSQL ceiling client) is
pinned to CPU 0 (--no-pin: neither; --pin-postgres: PostgreSQL's processes too, see
bench/pgpin.py). Every run is appended to bench/results/<timestamp>.jsonl and printed; the
medians and ratios come at the end. The database is dropped afterwards.

--open-rates runs the open-loop scenario at each rate (bench/sweep.py) and reports the
highest rate each server carries at send->deliver p99 <= 25 ms (median over rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import resource
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import brokers, database, machine, report, servers, sweep, wsclient
from bench.idle import run_idle
from bench.loadgen import run_load
from bench.pg_ceiling import find_ceiling
from bench.pgpin import PinError, PostgresPin
from bench.population import Population
from bench.profiler import Profiler
from bench.scenarios import ALL_SCENARIOS, IDLE, LOAD_SCENARIOS, IdleScenario, Scenario
from bench.summary import judge, print_summary
from bench.targets import make_target

SERVER_CPU = 1
CLIENT_CPU = 0


def raise_open_files_limit() -> int:
    """Servers inherit this limit: 10,000 connections need 10,000+ descriptors each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def plan(args: argparse.Namespace) -> tuple[list[Scenario], IdleScenario | None]:
    """The load scenarios of a round, in order, and the idle one. With --open-rates alone,
    only the sweep; with --scenarios too, those and then the sweep (a sweep rate that is a
    named scenario, open-200 or open-1000, runs once, as the sweep's)."""
    names = args.scenarios or ([] if args.open_rates else list(ALL_SCENARIOS))
    loads = [LOAD_SCENARIOS[n] for n in names if n in LOAD_SCENARIOS]
    idle = replace(IDLE, connections=args.idle_connections) if "idle" in names else None
    if args.open_rates:
        rates = sweep.sweep_scenarios(
            args.open_rates, subscribers=args.open_subscribers, senders=args.open_senders
        )
        swept = {s.name for s in rates}
        loads = [s for s in loads if s.name not in swept] + rates
    if args.duration:
        loads = [replace(s, duration=args.duration) for s in loads]
    if args.warmup is not None:
        loads = [replace(s, warmup=args.warmup) for s in loads]
    if args.quick:
        loads = [s.scaled(0.1 if s.subscribers >= 1000 else 0.3, duration=3.0) for s in loads]
        idle = idle.scaled(0.05) if idle else None
    return loads, idle


def round_order(
    loads: list[Scenario], round_number: int, swept: Sequence[float] = ()
) -> list[Scenario]:
    """The sweep's rates (`swept`) go up in odd rounds and down in even ones, so that drift
    in the machine over a round does not always favour the same rates; the other scenarios
    keep their places."""
    names = {sweep.scenario_name(rate) for rate in swept}
    places = [i for i, s in enumerate(loads) if s.name in names]
    if round_number % 2 or not places:
        return loads
    ordered = list(loads)
    for place, scenario in zip(places, [loads[i] for i in reversed(places)], strict=True):
        ordered[place] = scenario
    return ordered


class Runner:
    def __init__(
        self,
        args: argparse.Namespace,
        database_url: str,
        workdir: Path,
        broker_urls: dict[str, str] | None = None,
    ) -> None:
        self.args = args
        # With --brokers: Parley runs once per broker (name -> BROKER_URL), in this order.
        self.broker_urls = broker_urls or {}
        self.database_url = database_url
        self.workdir = workdir
        self.cpu: int | None = SERVER_CPU if args.pin else None
        self.out: Path = args.out
        self.results: list[dict[str, Any]] = []
        self.round = 0
        self.first_row = True

    def server(
        self,
        kind: str,
        *,
        pinned: bool = True,
        broker_url: str | None = None,
        ws_protocol: str | None = None,
    ) -> servers.ServerProcess:
        cpu = self.cpu if pinned else None
        if kind == "reference":
            return servers.reference_server(workdir=self.workdir, cpu=cpu)
        env = dict(kv.split("=", 1) for kv in self.args.parley_env)
        if broker_url is not None:
            env["BROKER_URL"] = broker_url
        if ws_protocol is not None:
            env["WS_PROTOCOL"] = ws_protocol
        return servers.parley_server(
            database_url=self.database_url, workdir=self.workdir, cpu=cpu, env=env
        )

    def record(self, result: dict[str, Any], round_number: int) -> None:
        result = {"round": round_number, **result, "at": dt.datetime.now(dt.UTC).isoformat()}
        self.results.append(result)
        report.append_jsonl(self.out, result)
        report.print_row(result, header=self.first_row)
        self.first_row = False
        for problem in result.get("problems", [])[:5]:
            print("   problem:", problem, flush=True)
        if result.get("note"):
            print("   note:", result["note"], flush=True)

    async def quiet(self) -> float:
        return await machine.wait_until_quiet(
            threshold=self.args.quiet_below,
            patience=self.args.quiet_patience,
            # The reading itself takes this long: a tiny run (the smoke test) skips most of it.
            sample=min(2.0, max(0.1, self.args.quiet_patience)),
        )

    async def load_run(
        self,
        scenario: Scenario,
        kind: str,
        population: Population,
        broker: str | None = None,
        ws_protocol: str | None = None,
    ) -> None:
        busy_before = await self.quiet()
        url = self.broker_urls.get(broker) if broker else None
        server = await self.server(kind, broker_url=url, ws_protocol=ws_protocol).start()
        profiler = None
        try:
            target = make_target(kind, server.base_url, server.pid)
            tokens = population.tokens(scenario.connections) if kind == "parley" else None
            if self.args.profile:
                name = f"{scenario.name}-{kind}-round{self.round}"
                profiler = Profiler(server.pid, self.args.profile / name)
            result = await run_load(
                target,
                scenario,
                tokens=tokens or [None] * scenario.connections,
                room_id=population.rooms.get(scenario.name, 0),
                backend=self.args.client,
                on_window=profiler.start if profiler else None,
            )
        finally:
            if profiler is not None:
                await profiler.wait()
            await server.stop()
        if profiler is not None:
            result["profile"] = str(profiler.output)
        result["busy_before_pct"] = busy_before
        if broker is not None:
            result["server"] = brokers.broker_label(broker)
            result["broker"] = broker
        if ws_protocol is not None:
            result["ws_protocol"] = ws_protocol
            if ws_protocol != "parley":  # the shipped one keeps the name the targets judge
                result["server"] = f"parley ws={ws_protocol}"
        self.record(result, self.round)

    async def idle_run(self, scenario: IdleScenario, kind: str, population: Population) -> None:
        await self.quiet()
        server = await self.server(kind).start()
        try:
            target = make_target(kind, server.base_url, server.pid)
            n = scenario.connections
            if kind == "parley":
                tokens: list[str | None] = list(population.tokens(n))
                rooms = population.idle_rooms(n, scenario.room_size)
            else:
                tokens, rooms = [None] * n, [0] * n
            result = await run_idle(
                target, scenario, tokens=tokens, rooms=rooms, backend=self.args.client
            )
        finally:
            await server.stop()
        self.record(result, self.round)

    async def ceiling_run(self) -> None:
        for batch in (1, 100):
            await self.quiet()
            result = await find_ceiling(self.database_url, batch=batch)
            self.record(result, self.round)

    async def run(self) -> bool:
        """Every round of every scenario; True if every run verified."""
        loads, idle = plan(self.args)
        population = Population()
        setup = await self.server("parley", pinned=False).start()
        try:
            await population.prepare(setup.base_url, loads, idle)
        finally:
            await setup.stop()
        print(f"set-up: {population.summary()}", flush=True)
        report.append_jsonl(self.out, {"scenario": "setup", **population.summary()})

        for round_number in range(1, self.args.rounds + 1):
            self.round = round_number
            print(f"\n=== round {round_number} of {self.args.rounds} ===", flush=True)
            for scenario in round_order(loads, round_number, self.args.open_rates or ()):
                if scenario.name == "busy-room":
                    await self.ceiling_run()
                for kind in scenario.servers:
                    if kind == "reference" and self.args.no_reference:
                        continue
                    if kind == "parley" and self.broker_urls:
                        for broker in self.broker_urls:
                            await self.load_run(scenario, kind, population, broker)
                    elif kind == "parley" and self.args.ws_protocols:
                        for ws_protocol in self.args.ws_protocols:
                            await self.load_run(scenario, kind, population, None, ws_protocol)
                    else:
                        await self.load_run(scenario, kind, population)
            if idle is not None:
                for kind in idle.servers:
                    await self.idle_run(idle, kind, population)

        summary = judge(self.results)
        print_summary(summary)
        report.append_jsonl(self.out, {"scenario": "summary", **summary})
        if "open_sweep" in summary:
            # Its own line too, for whoever reads the results file for the sweep alone.
            report.append_jsonl(self.out, {"scenario": "open-sweep", **summary["open_sweep"]})
        if self.broker_urls:
            rows = brokers.costs(self.results)
            brokers.print_costs(rows)
            report.append_jsonl(self.out, {"scenario": "broker-cost", "rows": rows})
        return all(r["verified"] for r in self.results)


async def _main(args: argparse.Namespace) -> int:
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C: servers stopped, database dropped.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    limit = raise_open_files_limit()
    with contextlib.ExitStack() as stack:
        pinning = pin(args, stack)
        info = machine.describe()
        info.update(
            {
                "open_files_limit": limit,
                "client": wsclient.backend_name(args.client),
                "postgresql": await database.server_version(args.database_url),
                "pinned": args.pin,
                "pinning": pinning,
                "args": {k: str(v) for k, v in vars(args).items()},
            }
        )
        print(machine.summary_line(info), flush=True)
        print(f"pinning: {pinning}", flush=True)
        report.append_jsonl(args.out, {"scenario": "machine", **info})
        return await measure(args)


def pin(args: argparse.Namespace, stack: contextlib.ExitStack) -> str:
    """Pin this process (and, through `stack`, PostgreSQL) as asked; says what was pinned."""
    if not args.pin:
        return "nothing (--no-pin): the scheduler places every process"
    os.sched_setaffinity(0, {CLIENT_CPU})
    said = (
        f"load generator (this process, pid {os.getpid()}) on CPU {CLIENT_CPU}; "
        f"each server under test on CPU {SERVER_CPU} (taskset -c)"
    )
    if args.pin_postgres == "none":
        return f"{said}; PostgreSQL not pinned (a system service: --pin-postgres to pin it)"
    cpu = CLIENT_CPU if args.pin_postgres == "client" else SERVER_CPU
    count = stack.enter_context(PostgresPin({cpu})).count
    return (
        f"{said}; PostgreSQL ({count} processes and the backends they fork) on CPU {cpu}, "
        "its original CPUs restored at the end"
    )


async def measure(args: argparse.Namespace) -> int:
    url = await database.create_database(args.database_url)
    started = time.monotonic()
    try:
        await asyncio.to_thread(database.migrate, url)
        with (
            tempfile.TemporaryDirectory(prefix="parley-bench-") as workdir,
            brokers.broker_urls(args.brokers or []) as broker_urls,
        ):
            verified = await Runner(args, url, Path(workdir), broker_urls).run()
    finally:
        if not args.keep_database:
            await database.drop_database(url)
    print(f"\nresults: {args.out} ({time.monotonic() - started:.0f}s)", flush=True)
    if not verified:
        print("FAILED: a run lost, repeated or reordered messages (see 'problem' lines)")
    return 0 if verified else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", choices=ALL_SCENARIOS)
    parser.add_argument("--quick", action="store_true", help="small and short: checks the setup")
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of load before the window (2)")
    parser.add_argument(
        "--open-rates",
        nargs="+",
        type=float,
        metavar="MSG_PER_S",
        help="the open-loop rate sweep: open-1000's shape at each rate, for every server; "
        "reports the highest rate carried at p99 <= 25 ms (only the sweep unless "
        "--scenarios is given too)",
    )
    parser.add_argument(
        "--open-subscribers",
        type=int,
        help=f"subscribers in the sweep's room (default {sweep.BASE.subscribers})",
    )
    parser.add_argument(
        "--open-senders",
        type=int,
        help=f"connections the sweep's rate is spread over (default {sweep.BASE.senders})",
    )
    parser.add_argument("--idle-connections", type=int, default=IDLE.connections)
    parser.add_argument("--client", choices=("auto", "picows", "websockets"), default="auto")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", database.DEFAULT_ADMIN_URL),
        help="PostgreSQL server to create the benchmark database on",
    )
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--brokers",
        nargs="+",
        choices=brokers.BROKERS,
        help="run Parley once per broker (private Redis servers are started) and print "
        "each one's acked msg/s against memory://",
    )
    parser.add_argument(
        "--ws-protocols",
        nargs="+",
        choices=("parley", "websockets-sansio", "websockets", "wsproto"),
        help="run Parley once per WebSocket implementation (WS_PROTOCOL), interleaved; "
        "results other than 'parley' are labelled 'parley ws=<name>'",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the reference server's runs"
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"load generator on CPU {CLIENT_CPU}, servers on CPU {SERVER_CPU} (default; "
        "--no-pin: let the scheduler place them)",
    )
    parser.add_argument(
        "--pin-postgres",
        choices=("none", "client", "server"),
        default="none",
        help="also pin the local PostgreSQL's processes (needs root) to the load generator's "
        "CPU or the server's; restored at the end",
    )
    parser.add_argument(
        "--parley-env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="extra settings for Parley (e.g. WS_SEND_QUEUE_SIZE=4000)",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=25.0,
        metavar="PCT",
        help="before each run, wait until other work uses less than PCT%% of a core",
    )
    parser.add_argument(
        "--quiet-patience",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="...but at most this long (then run anyway; 'other' CPU shows it)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each server's measured window with py-spy into DIR (costs client CPU)",
    )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / f"{stamp}.jsonl")
    return parser


def main() -> int:
    parser = build_parser()
    args = parser.parse_args()
    if not args.pin and args.pin_postgres != "none":
        parser.error("--pin-postgres needs the others pinned too (drop --no-pin)")
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_main(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("interrupted: servers stopped, benchmark database dropped", flush=True)
        return 130
    except PinError as error:  # --pin-postgres without root, or no local PostgreSQL
        print(f"cannot pin PostgreSQL: {error}", flush=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
