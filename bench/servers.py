"""Starting and stopping the servers under test, pinned to one CPU.

Both run under uvicorn with its defaults (uvloop, httptools, the default WebSocket
implementation), a 64 KiB frame limit and warning-level logs (access lines cost CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
PARLEY = str(Path(sys.executable).with_name("parley"))
BENCH_SECRET_KEY = "benchmark-secret-key-not-for-production-0123456789"
# Settings that must come from the benchmark or the test, never from the developer's shell.
SCRUBBED = (
    "DATABASE_URL",
    "SECRET_KEY",
    "BROKER_URL",
    "PARLEY_ENV",
    "PARLEY_DATA_DIR",
    "TEST_DATABASE_URL",
    "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_TOKEN_TTL_SECONDS",
)


def clean_environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(values)
    return env


def server_environment(
    database_url: str, data_dir: Path, *, secret_key: str, **overrides: str
) -> dict[str, str]:
    """A `parley serve` under test or benchmark: the one place its settings are written
    (the test suite's servers and the benchmark's differ only by `overrides`)."""
    return clean_environment(
        **{
            "PARLEY_ENV": "test",
            "DATABASE_URL": database_url,
            "PARLEY_DATA_DIR": str(data_dir),
            "SECRET_KEY": secret_key,
            # Cheap password hashing: signing up thousands of users otherwise takes minutes.
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "64",
            "ARGON2_PARALLELISM": "1",
            "LOGIN_ATTEMPTS_PER_MINUTE": "0",
            # Set-up signs thousands of users up from this one address, many at once.
            "LOGIN_FAILURES_PER_USERNAME_PER_HOUR": "0",
            "SIGNUPS_PER_ADDRESS_PER_HOUR": "0",
            "PASSWORD_HASH_WAIT_SECONDS": "60",
            # Per-connection limits on sends and on frames of any kind would cap the load:
            # each sender here sends hundreds of messages a second on one connection.
            "MESSAGES_PER_SECOND": "0",
            "WS_FRAMES_PER_SECOND": "0",
            "BROKER_URL": "memory://",
            "LOG_LEVEL": "INFO",
            **overrides,
        }
    )


def parley_environment(database_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """Parley's settings for a benchmark run (see docs/performance.md, "Settings")."""
    return server_environment(
        database_url,
        data_dir,
        secret_key=BENCH_SECRET_KEY,
        **{
            "LOG_LEVEL": "WARNING",  # access lines cost CPU
            # Tokens made during set-up must outlive every round (a socket closes at expiry).
            "ACCESS_TOKEN_TTL_SECONDS": "86400",
            **overrides,
        },
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    kind: str  # "parley" | "reference"
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.cwd / f"{self.kind}-{self.port}.log"

    async def start(self, *, within: float = 60.0) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                "--port",
                str(self.port),
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            async with asyncio.timeout(within):
                await self._until_healthy()
        except TimeoutError:
            await self.stop()
            message = f"{self.kind} did not come up in {within}s:\n{self.logs()}"
            raise RuntimeError(message) from None
        return self

    async def _until_healthy(self) -> None:
        assert self.process is not None
        async with httpx.AsyncClient(base_url=self.base_url, timeout=1) as http:
            while self.process.returncode is None:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.kind} exited with {self.process.returncode}:\n{self.logs()}")

    async def stop(self, *, within: float = 15.0) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL after `within` seconds."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _pinned(cpu: int | None, command: list[str]) -> list[str]:
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


def parley_server(
    *,
    database_url: str,
    workdir: Path,
    cpu: int | None,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> ServerProcess:
    command = [PARLEY, "serve", "--host", "127.0.0.1", "--no-migrate"]
    if workers > 1:
        command += ["--workers", str(workers)]  # needs BROKER_URL (redis) in `env`
    environment = parley_environment(database_url, workdir / "data", **(env or {}))
    return ServerProcess("parley", _pinned(cpu, command), environment, workdir)


def reference_server(*, workdir: Path, cpu: int | None) -> ServerProcess:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.reference_server:app",
        "--app-dir",
        str(REPO_ROOT),
        "--host",
        "127.0.0.1",
        "--log-level",
        "warning",
        "--no-access-log",
        "--ws-max-size",
        str(64 * 1024),
    ]
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    return ServerProcess("reference", _pinned(cpu, command), env, workdir)
