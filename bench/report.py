"""Results: JSON lines on disk, a readable table per run, and the summary with ratios."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(orjson.dumps(record) + b"\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _ms(latency: dict[str, float] | None, key: str) -> str:
    if not latency or key not in latency:
        return "-"
    return f"{latency[key]:.1f}"


def _row(result: dict[str, Any]) -> list[str]:
    kind = result["scenario"]
    if kind == "idle":
        return [
            kind,
            result["server"],
            str(result.get("round", "")),
            f"{result['connections']} conn",
            f"{result['kib_per_connection']:.1f} KiB/conn",
            "",
            "",
            "",
            f"{result.get('server_rss_mib', 0):.0f}",
            "",
            "ok" if result["verified"] else "FAIL",
        ]
    if kind == "pg_ceiling":
        return [
            kind,
            f"batch {result['batch']}",
            str(result.get("round", "")),
            f"{result['rows_per_s']:.0f} rows/s",
            f"{result['connections']} writers",
            "",
            "",
            "",
            "",
            f"{result.get('db_cpu_pct', 0):.0f}%",
            "ok" if result["verified"] else "FAIL",
        ]
    ack, deliver = result.get("ack_ms"), result.get("deliver_ms")
    return [
        kind,
        result["server"],
        str(result.get("round", "")),
        f"{result['acked_per_s']:.0f} msg/s",
        f"{result['delivered_per_s']:.0f} fr/s",
        "/".join(_ms(ack, k) for k in ("p50", "p99")),
        "/".join(_ms(deliver, k) for k in ("p50", "p90", "p99", "max")),
        f"{result['server_cpu_pct']:.0f}%/{result['client_cpu_pct']:.0f}%"
        f"/{result.get('other_cpu_pct', 0):.0f}%",
        f"{result['server_rss_mib']:.0f}",
        f"{result['db_cpu_pct']:.0f}%",
        "ok" if result["verified"] else "FAIL",
    ]


HEADER = [
    "scenario",
    "server",
    "round",
    "acked",
    "delivered",
    "ack p50/p99 ms",
    "deliver p50/p90/p99/max ms",
    "cpu srv/gen/other",
    "RSS MiB",
    "db cpu",
    "check",
]
WIDTHS = [11, 10, 5, 14, 13, 14, 26, 17, 7, 6, 5]


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def print_table(results: Iterable[dict[str, Any]]) -> None:
    print(format_table([_row(r) for r in results], HEADER), flush=True)


def print_row(result: dict[str, Any], *, header: bool) -> None:
    """One run as a line of fixed-width columns, with the header first if asked."""
    if header:
        print("  ".join(h.ljust(w) for h, w in zip(HEADER, WIDTHS, strict=True)))
    print("  ".join(c.ljust(w) for c, w in zip(_row(result), WIDTHS, strict=True)), flush=True)
