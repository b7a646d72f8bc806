"""Real server processes for end-to-end tests: `parley serve` on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

PARLEY = str(Path(sys.executable).with_name("parley"))
UVICORN = str(Path(sys.executable).with_name("uvicorn"))
# Settings that must come from the test, never from the developer's shell.
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


SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(values)
    return env


class LiveServer:
    """One `parley serve` process; its output goes to a log file the test can read."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        cwd: Path,
        port: int | None = None,
        args: tuple[str, ...] = ("--no-migrate",),
        plain_uvicorn: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.env = env
        self.cwd = cwd
        self.args = args
        # `uvicorn app.main:app` as the contract allows, instead of `parley serve`.
        self.plain_uvicorn = plain_uvicorn
        self.log_path = cwd / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LiveServer:
        log = self.log_path.open("ab")
        command = (
            [UVICORN, "app.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
            if self.plain_uvicorn
            else [PARLEY, "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        )
        self.process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not come up in {timeout}s:\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def server_environment(database_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    return clean_environment(
        **{
            "PARLEY_ENV": "test",
            "DATABASE_URL": database_url,
            "PARLEY_DATA_DIR": str(data_dir),
            "SECRET_KEY": SECRET_KEY,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "64",
            "ARGON2_PARALLELISM": "1",
            "LOGIN_ATTEMPTS_PER_MINUTE": "0",
            "MESSAGES_PER_SECOND": "0",
            "WS_FRAMES_PER_SECOND": "0",
            "BROKER_URL": "memory://",
            "LOG_LEVEL": "INFO",
            **overrides,
        }
    )


ServerFactory = Callable[..., LiveServer]
