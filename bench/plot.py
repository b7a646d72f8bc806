"""PNG plots of a results file, for docs/performance.md.

    python -m bench.plot                              # the newest bench/results/*.jsonl
    python -m bench.plot bench/results/X.jsonl --out docs/performance
    python -m bench.plot --plots sweep                # only open-sweep.png (bench.run --open-rates)

Bars are medians over rounds; dots are the single rounds.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench import sweep
from bench.report import RESULTS_DIR, read_jsonl
from bench.summary import Groups, group_runs

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs" / "performance"
COLORS = {"reference": "#9e9e9e", "parley": "#1f77b4", "ceiling": "#d62728"}
LOAD_ORDER = ("fanout-100", "fanout-1000", "open-200", "open-1000", "busy-room")
OPEN_LOOP_GOAL_MS = {"open-200": 10, "open-1000": 25}
TITLES = {
    "fanout-100": "100 subscribers\n10 senders x 10 in flight",
    "fanout-1000": "1000 subscribers\n10 senders x 10 in flight",
    "open-200": "open loop 200 msg/s\n100 subscribers",
    "open-1000": "open loop 1000 msg/s\n100 subscribers",
    "busy-room": "one busy room\n200 senders, 10 subscribers",
}


def _bar(ax: Any, x: float, values: list[float], color: str, label: str | None) -> None:
    ax.bar(x, statistics.median(values), width=0.6, color=color, label=label)
    ax.scatter([x] * len(values), values, color="black", s=8, zorder=3)


def plot_throughput(groups: Groups, out: Path) -> Path:
    scenarios = [s for s in LOAD_ORDER if (s, "parley") in groups]
    fig, axes = plt.subplots(1, len(scenarios), figsize=(3.2 * len(scenarios), 3.8))
    axes = [axes] if len(scenarios) == 1 else list(axes)
    for ax, scenario in zip(axes, scenarios, strict=True):
        bars: list[tuple[str, list[float], str]] = []
        if (scenario, "reference") in groups:
            values = [r["acked_per_s"] for r in groups[(scenario, "reference")]]
            bars.append(("naive\nreference", values, COLORS["reference"]))
        if scenario == "busy-room" and ("pg_ceiling", "batch 1") in groups:
            values = [r["rows_per_s"] for r in groups[("pg_ceiling", "batch 1")]]
            bars.append(("PG ceiling\n1 msg/tx", values, COLORS["ceiling"]))
            ax.axhline(3 * statistics.median(values), color=COLORS["ceiling"], ls="--", lw=1)
        bars.append(
            ("Parley", [r["acked_per_s"] for r in groups[(scenario, "parley")]], COLORS["parley"])
        )
        for x, (_label, values, color) in enumerate(bars):
            _bar(ax, x, values, color, None)
        ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
        ax.set_title(TITLES.get(scenario, scenario), fontsize=9)
        ax.set_ylabel("acked messages/s" if ax is axes[0] else "")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Throughput (median of rounds; dots: rounds; dashed: 3x ceiling)", fontsize=10)
    fig.tight_layout()
    path = out / "throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(groups: Groups, out: Path) -> Path:
    scenarios = [s for s in LOAD_ORDER if (s, "parley") in groups]
    keys = ("p50", "p90", "p99", "max")
    fig, axes = plt.subplots(1, len(scenarios), figsize=(3.2 * len(scenarios), 3.8))
    axes = [axes] if len(scenarios) == 1 else list(axes)
    for ax, scenario in zip(axes, scenarios, strict=True):
        servers = [s for s in ("reference", "parley") if (scenario, s) in groups]
        width = 0.8 / len(servers)
        highest = 0.0
        for i, server in enumerate(servers):
            runs = groups[(scenario, server)]
            medians = [statistics.median(r["deliver_ms"][k] for r in runs) for k in keys]
            xs = [k + (i - (len(servers) - 1) / 2) * width for k in range(len(keys))]
            ax.bar(xs, medians, width=width, color=COLORS[server], label=server)
            highest = max(highest, *medians)
        ax.set_yscale("log")
        # One baseline everywhere, so bar heights compare across panels; headroom above the
        # tallest bar (and the legend) so that no bar is cut off.
        ax.set_ylim(bottom=0.1, top=max(highest, 10) * 4)
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(keys)), keys, fontsize=8)
        ax.set_title(TITLES.get(scenario, scenario), fontsize=9)
        if scenario in OPEN_LOOP_GOAL_MS:
            ax.axhline(OPEN_LOOP_GOAL_MS[scenario], color=COLORS["ceiling"], ls="--", lw=1)
        ax.grid(axis="y", alpha=0.3, which="both")
        if ax is axes[0]:
            ax.set_ylabel("send -> deliver, ms (log)")
            ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Send-to-deliver latency (median of rounds; dashed: 10 ms target)", fontsize=10)
    fig.tight_layout()
    path = out / "latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_memory(groups: Groups, out: Path) -> Path | None:
    servers = [s for s in ("reference", "parley") if ("idle", s) in groups]
    if not servers:
        return None
    fig, ax = plt.subplots(figsize=(4, 3.6))
    for x, server in enumerate(servers):
        values = [r["kib_per_connection"] for r in groups[("idle", server)]]
        _bar(ax, x, values, COLORS[server], None)
    ax.axhline(30, color=COLORS["ceiling"], ls="--", lw=1)
    connections = groups[("idle", servers[-1])][0]["connections"]
    names = {"reference": "naive reference", "parley": "Parley"}
    ax.set_xticks(range(len(servers)), [names[s] for s in servers])
    ax.set_ylabel("server RSS per connection, KiB")
    ax.set_title(f"{connections} idle connections (dashed: 30 KiB target)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = out / "memory.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep(results: list[dict[str, Any]], out: Path) -> Path | None:
    """p99 against rate, one line per server (medians of rounds, dots the rounds), from
    `bench.run --open-rates`; None when the results hold no sweep."""
    summary = sweep.summarize(results)
    if summary is None:
        return None
    shapes = sorted({(row["subscribers"], row["senders"]) for row in summary["rows"]})
    fig, axes = plt.subplots(1, len(shapes), figsize=(5.5 * len(shapes), 4), squeeze=False)
    for ax, shape in zip(axes[0], shapes, strict=True):
        rows = [r for r in summary["rows"] if (r["subscribers"], r["senders"]) == shape]
        for server in dict.fromkeys(r["server"] for r in rows):
            mine = [r for r in rows if r["server"] == server]
            color = COLORS.get(server)
            label = "naive reference" if server == "reference" else server
            rates, p99s = [r["rate"] for r in mine], [r["p99_ms"] for r in mine]
            ax.plot(rates, p99s, "o-", color=color, label=label)
            for r in mine:
                ax.scatter(
                    [r["rate"]] * len(r["p99_per_round"]),
                    r["p99_per_round"],
                    s=8,
                    color=color,
                    alpha=0.5,
                    zorder=3,
                )
        ax.axhline(summary["goal_p99_ms"], color=COLORS["ceiling"], ls="--", lw=1)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        ax.set_xlabel("open-loop rate, messages/s")
        ax.set_ylabel("send -> deliver p99, ms (log)")
        ax.set_title(f"{shape[0]} subscribers, {shape[1]} senders", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "Open-loop sweep: send->deliver p99 by rate\n"
        f"(median of rounds; dots: rounds; dashed: {summary['goal_p99_ms']:g} ms goal)",
        fontsize=10,
    )
    fig.tight_layout()
    path = out / "open-sweep.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


PLOTS = ("throughput", "latency", "memory", "sweep")


def plot(results_path: Path, out: Path, plots: Sequence[str] = PLOTS) -> list[Path]:
    """The plots asked for that the results have data for."""
    out.mkdir(parents=True, exist_ok=True)
    results = read_jsonl(results_path)
    groups = group_runs(results)
    made: list[Path | None] = []
    has_load = any(scenario in LOAD_ORDER for scenario, _server in groups)
    if "throughput" in plots and has_load:
        made.append(plot_throughput(groups, out))
    if "latency" in plots and has_load:
        made.append(plot_latency(groups, out))
    if "memory" in plots:
        made.append(plot_memory(groups, out))
    if "sweep" in plots:
        made.append(plot_sweep(results, out))
    return [p for p in made if p is not None]


def newest_results() -> Path:
    files = sorted(RESULTS_DIR.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit(f"no results in {RESULTS_DIR}: run python -m bench.run first")
    return files[-1]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__)
    parser.add_argument("results", nargs="?", type=Path)
    parser.add_argument("--out", type=Path, default=DOCS_DIR)
    parser.add_argument(
        "--plots",
        nargs="+",
        choices=PLOTS,
        default=PLOTS,
        help="which plots (default: every one the results have data for)",
    )
    args = parser.parse_args()
    for path in plot(args.results or newest_results(), args.out, args.plots):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
