"""Did every subscriber get every message exactly once, in `seq` order, without gaps?

During the run each subscriber checks that every `seq` is the one after the last (see
bench/client.py). At the end, with every send acknowledged and every stream drained:

- every send was acknowledged exactly once, and the acks number the messages start+1..final
  with no gap and no repeat;
- every subscriber's stream ends at `final` and holds final - start messages;
- the client ids each subscriber saw are exactly the acked ones (a digest of them matches).
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.client import Client, RunState

MAX_REPORTED = 30


def final_seq(run: RunState, subscribers: Sequence[Client]) -> int | None:
    if run.acks:
        return max(run.acks)
    starts = [c.start_seq for c in subscribers if c.start_seq is not None]
    return max(starts) if starts else None


def verify(run: RunState, clients: Sequence[Client]) -> list[str]:
    """Problems found (empty: the run is correct), most telling first."""
    problems = list(run.problems)
    if run.problem_count > len(run.problems):
        problems.append(f"... and {run.problem_count - len(run.problems)} more during the run")
    senders = [c.sender for c in clients if c.sender is not None]
    unacked = sum(len(s.in_flight) for s in senders)
    if unacked:
        problems.append(f"{unacked} sends never acknowledged")
    subscribers = [c for c in clients if c.subscriber]
    final = final_seq(run, subscribers)
    if final is None:
        return [*problems, "no subscriber ever learned where its stream starts"]

    expected_digest: dict[int, int] = {}
    for client in subscribers:
        start = client.start_seq
        if start is None:
            problems.append(f"connection {client.index} never subscribed")
            continue
        if start not in expected_digest:
            missing = [s for s in range(start + 1, final + 1) if s not in run.acks]
            if missing:
                problems.append(
                    f"{len(missing)} seqs in {start + 1}..{final} were never acked "
                    f"(first: {missing[0]})"
                )
            expected_digest[start] = sum(
                hash(run.acks[s]) for s in range(start + 1, final + 1) if s in run.acks
            )
        last = (client.next_seq or 0) - 1
        if last != final:
            problems.append(f"connection {client.index}: stream ends at seq {last}, not {final}")
        elif client.received != final - start:
            problems.append(
                f"connection {client.index}: {client.received} messages, expected {final - start}"
            )
        elif client.digest != expected_digest[start]:
            problems.append(f"connection {client.index}: messages differ from the acked ones")
    if len(problems) > MAX_REPORTED:
        problems = [*problems[:MAX_REPORTED], f"... {len(problems) - MAX_REPORTED} more"]
    return problems
