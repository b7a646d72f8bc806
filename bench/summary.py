"""Medians over rounds, the issue's targets judged on them, and tables for the docs.

    python -m bench.summary                       # the newest bench/results/*.jsonl
    python -m bench.summary FILE --markdown       # the tables docs/performance.md shows

Throughput ratios are medians over rounds of each side (the targets' wording), and the
per-round ratios (reference and Parley of the same round) are listed beside them.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import sweep as open_sweep
from bench.report import RESULTS_DIR, format_table, read_jsonl

Groups = dict[tuple[str, str], list[dict[str, Any]]]


def group_runs(results: Sequence[dict[str, Any]]) -> Groups:
    """Runs by (scenario, server); the PostgreSQL ceiling by ("pg_ceiling", "batch N")."""
    groups: Groups = defaultdict(list)
    for r in results:
        if r["scenario"] == "pg_ceiling":
            groups[("pg_ceiling", f"batch {r['batch']}")].append(r)
        elif "server" in r:
            groups[(r["scenario"], r["server"])].append(r)
    return groups


def median_of(runs: Sequence[dict[str, Any]], key: str, sub: str | None = None) -> float:
    values = [r[key][sub] if sub else r[key] for r in runs if key in r]
    values = [float(v) for v in values if v is not None]
    return float(statistics.median(values)) if values else float("nan")


def _per_round(groups: Groups, a: tuple[str, str], b: tuple[str, str], key_a: str) -> list[float]:
    """Parley / baseline for each round that has both."""
    by_round_b = {r["round"]: r for r in groups.get(b, [])}
    key_b = "rows_per_s" if b[0] == "pg_ceiling" else "acked_per_s"
    return [
        round(r[key_a] / by_round_b[r["round"]][key_b], 2)
        for r in groups.get(a, [])
        if r["round"] in by_round_b and by_round_b[r["round"]][key_b]
    ]


def judge(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, each with baseline, Parley, measured value, goal and verdict."""
    groups = group_runs(results)
    targets: list[dict[str, Any]] = []
    sweep = open_sweep.summarize(results)

    def shape(scenario: str) -> str:
        """The scenario as it ran (quick runs are smaller than the targets' wording)."""
        runs = groups.get((scenario, "parley")) or [{}]
        r = runs[0]
        if r.get("rate"):
            return f"open loop {r['rate']:.0f} msg/s, {r.get('subscribers')} subscribers"
        return (
            f"{r.get('subscribers')} subscribers, "
            f"{r.get('senders')} senders x {r.get('window')} in flight"
        )

    def throughput(scenario: str, label: str, baseline: tuple[str, str], goal: float) -> None:
        parley_runs, base_runs = groups.get((scenario, "parley")), groups.get(baseline)
        if not parley_runs or not base_runs:
            return
        key = "rows_per_s" if baseline[0] == "pg_ceiling" else "acked_per_s"
        parley, base = median_of(parley_runs, "acked_per_s"), median_of(base_runs, key)
        ratio = parley / base if base else float("nan")
        per_round = _per_round(groups, (scenario, "parley"), baseline, "acked_per_s")
        targets.append(
            {
                "target": label,
                "baseline": round(base, 1),
                "parley": round(parley, 1),
                "measured": f"{ratio:.2f}x",
                "per_round": per_round,
                "goal": f">= {goal:.1f}x",
                "met": ratio >= goal,
            }
        )

    throughput(
        "fanout-100",
        f"{shape('fanout-100')}: acked msg/s vs naive",
        ("fanout-100", "reference"),
        1.5,  # issue 17
    )
    throughput(
        "fanout-1000",
        f"{shape('fanout-1000')}: acked msg/s vs naive",
        ("fanout-1000", "reference"),
        2.5,  # issue 17
    )

    def open_loop(scenario: str, goal_ms: float, *, with_sweep: bool = False) -> None:
        if runs := groups.get((scenario, "parley")):
            p99 = median_of(runs, "deliver_ms", "p99")
            target: dict[str, Any] = {
                "target": f"{shape(scenario)}: send->deliver p99",
                "baseline": round(
                    median_of(groups.get((scenario, "reference"), []), "deliver_ms", "p99"),
                    2,
                ),
                "parley": round(p99, 2),
                "measured": f"{p99:.1f} ms",
                "per_round": [round(r["deliver_ms"]["p99"], 1) for r in runs],
                "goal": f"<= {goal_ms:.0f} ms",
                "met": p99 <= goal_ms,
            }
            if with_sweep and sweep is not None:
                # Issue 17: "... or say what rate the server carries at p99 <= 25 ms".
                shape_of_runs = (runs[0].get("subscribers"), runs[0].get("senders"))
                carried = [
                    f for f in sweep["carried"] if (f["subscribers"], f["senders"]) == shape_of_runs
                ]
                if carried:
                    target["carried_rate"] = {f["server"]: f["carried_rate"] for f in carried}
                    target["measured"] += f"; rate carried at p99 <= {goal_ms:g} ms: " + (
                        ", ".join(
                            f"{'naive' if f['server'] == 'reference' else f['server']} "
                            f"{open_sweep.rate_text(f)}"
                            for f in carried
                        )
                    )
            targets.append(target)

    open_loop("open-200", 10.0)
    open_loop("open-1000", open_sweep.GOAL_P99_MS, with_sweep=True)  # issue 17
    throughput(
        "busy-room",
        f"busy room, {shape('busy-room')}: acked msg/s vs PG 1 msg/tx ceiling",
        ("pg_ceiling", "batch 1"),
        3.0,
    )
    if runs := groups.get(("idle", "parley")):
        kib = median_of(runs, "kib_per_connection")
        connections = int(median_of(runs, "connections"))
        targets.append(
            {
                "target": f"{connections:,} idle authenticated, subscribed connections: RSS each",
                "baseline": round(
                    median_of(groups.get(("idle", "reference"), []), "kib_per_connection"), 1
                ),
                "parley": round(kib, 1),
                "measured": f"{kib:.1f} KiB",
                "per_round": [round(r["kib_per_connection"], 1) for r in runs],
                "goal": "<= 30 KiB",  # issue 17
                "met": kib <= 30.0,
            }
        )
    runs_all = [r for rs in groups.values() for r in rs]
    failed = [r for r in runs_all if not r["verified"]]
    targets.append(
        {
            "target": "exactly once, in order, gapless in every run",
            "baseline": "",
            "parley": "",
            "measured": f"{len(runs_all) - len(failed)}/{len(runs_all)} runs verified",
            "per_round": [],
            "goal": "all runs",
            "met": not failed,
        }
    )
    rounds = {r.get("round") for r in runs_all}
    summary: dict[str, Any] = {"rounds": len(rounds), "targets": targets}
    if sweep is not None:
        summary["open_sweep"] = sweep
    return summary


def scenario_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Medians per (scenario, server) of every load metric."""
    rows = []
    for (scenario, server), runs in group_runs(results).items():
        if "acked_per_s" not in runs[0]:
            continue

        def ms(key: str, sub: str, runs: Sequence[dict[str, Any]] = runs) -> str:
            return f"{median_of(runs, key, sub):.1f}"

        rows.append(
            [
                scenario,
                server,
                str(len(runs)),
                f"{median_of(runs, 'acked_per_s'):.0f}",
                f"{median_of(runs, 'delivered_per_s'):.0f}",
                " / ".join(ms("ack_ms", k) for k in ("p50", "p99")),
                " / ".join(ms("deliver_ms", k) for k in ("p50", "p90", "p99", "max")),
                f"{median_of(runs, 'server_cpu_pct'):.0f}",
                f"{median_of(runs, 'client_cpu_pct'):.0f}",
                f"{median_of(runs, 'db_cpu_pct'):.0f}",
                f"{median_of(runs, 'server_rss_mib'):.0f}",
                f"{statistics.median(cpu_us_per_frame(r) for r in runs):.2f}",
                f"{median_of(runs, 'other_cpu_pct'):.0f}",
            ]
        )
    return rows


def cpu_us_per_frame(run: dict[str, Any]) -> float:
    """The server's CPU time per delivered frame, in microseconds. On a shared machine
    this moves far less than msg/s: a server starved of its core delivers fewer frames
    but spends about the same CPU on each."""
    delivered = run.get("delivered_per_s") or 0
    return run.get("server_cpu_pct", 0) * 1e4 / delivered if delivered else float("nan")


def ceiling_and_idle_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Medians of the PostgreSQL ceiling (rows/s) and of memory per idle connection."""
    rows = []
    for (scenario, server), runs in group_runs(results).items():
        if scenario == "pg_ceiling":
            writers = sorted({str(r["connections"]) for r in runs})
            rows.append(
                [
                    f"PostgreSQL, {server.replace('batch', 'rows per transaction:')}",
                    f"{median_of(runs, 'rows_per_s'):.0f} rows/s",
                    f"best with {' or '.join(writers)} writers (of 1-32)",
                ]
            )
        elif scenario == "idle":
            rows.append(
                [
                    f"{int(median_of(runs, 'connections')):,} idle connections, {server}",
                    f"{median_of(runs, 'kib_per_connection'):.1f} KiB each",
                    f"USS {median_of(runs, 'uss_kib_per_connection'):.1f} KiB; "
                    f"RSS {median_of(runs, 'server_rss_mib'):.0f} MiB in all",
                ]
            )
    return rows


OTHER_HEADER = ["measurement", "median", "detail"]
SCENARIO_HEADER = [
    "scenario",
    "server",
    "runs",
    "acked msg/s",
    "delivered frames/s",
    "send→ack p50 / p99 ms",
    "send→deliver p50 / p90 / p99 / max ms",
    "server CPU %",
    "load gen CPU %",
    "PostgreSQL CPU %",
    "server RSS MiB",
    "server CPU µs / frame",
    "other CPU %",
]
TARGET_HEADER = ["target", "baseline", "Parley", "measured", "per round", "goal", "verdict"]


def target_rows(summary: dict[str, Any]) -> list[list[str]]:
    return [
        [
            t["target"],
            str(t["baseline"]),
            str(t["parley"]),
            t["measured"],
            ", ".join(str(v) for v in t["per_round"]),
            t["goal"],
            "met" if t["met"] else "**missed**",
        ]
        for t in summary["targets"]
    ]


def markdown(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def print_summary(summary: dict[str, Any]) -> None:
    rows = [
        [cell.replace("**", "").upper() if cell == "**missed**" else cell for cell in row]
        for row in target_rows(summary)
    ]
    if sweep := summary.get("open_sweep"):
        print(f"\nOpen-loop rate sweep, medians of {summary['rounds']} round(s):")
        print(format_table(open_sweep.table_rows(sweep), open_sweep.SWEEP_HEADER))
    print(f"\nMedians of {summary['rounds']} round(s):")
    print(format_table(rows, TARGET_HEADER), flush=True)
    if sweep:
        print(open_sweep.carried_line(sweep), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summary", description=__doc__)
    parser.add_argument("results", nargs="?", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    path = args.results or max(RESULTS_DIR.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    results = [r for r in read_jsonl(path) if "verified" in r]
    summary = judge(results)
    if args.markdown:
        print(markdown(target_rows(summary), TARGET_HEADER))
        print()
        print(markdown(scenario_rows(results), SCENARIO_HEADER))
        print()
        print(markdown(ceiling_and_idle_rows(results), OTHER_HEADER))
        if sweep := summary.get("open_sweep"):
            print()
            print(markdown(open_sweep.table_rows(sweep), open_sweep.SWEEP_HEADER))
            print()
            print(open_sweep.carried_line(sweep))
    else:
        print_summary(summary)
        print()
        print(format_table(scenario_rows(results), SCENARIO_HEADER))
        print()
        print(format_table(ceiling_and_idle_rows(results), OTHER_HEADER))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
