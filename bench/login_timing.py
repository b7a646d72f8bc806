"""Does a failed login take as long for an unknown user as for a wrong password?

Both paths must cost one Argon2id verification, so that response times do not reveal which
usernames exist. This times `PasswordHasher.verify` both ways, with production's cost
settings (the defaults), interleaved, and prints the medians and their ratio:

    .venv/bin/python -m bench.login_timing [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from app.core.config import Settings
from app.core.security import PasswordHasher


async def measure(rounds: int) -> tuple[list[float], list[float]]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    stored = await hasher.hash("the right password")
    wrong: list[float] = []
    unknown: list[float] = []
    for _ in range(rounds):
        for samples, password_hash in ((wrong, stored), (unknown, None)):
            started = time.perf_counter()
            ok, _ = await hasher.verify("a wrong password", password_hash)
            samples.append(time.perf_counter() - started)
            assert not ok
    return wrong, unknown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    wrong, unknown = asyncio.run(measure(args.rounds))
    wrong_ms, unknown_ms = statistics.median(wrong) * 1e3, statistics.median(unknown) * 1e3
    print(f"wrong password: median {wrong_ms:.1f} ms over {len(wrong)} tries")
    print(f"unknown user:   median {unknown_ms:.1f} ms over {len(unknown)} tries")
    print(f"ratio unknown/wrong: {unknown_ms / wrong_ms:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
