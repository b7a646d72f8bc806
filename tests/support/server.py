"""Real server processes for end-to-end tests: `parley serve` on a free port."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench import servers as bench_servers
from bench.servers import clean_environment, free_port

PARLEY = str(Path(sys.executable).with_name("parley"))
UVICORN = str(Path(sys.executable).with_name("uvicorn"))
SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"

__all__ = [
    "PARLEY",
    "SECRET_KEY",
    "LiveServer",
    "ServerFactory",
    "ServersFactory",
    "clean_environment",
    "free_port",
    "server_environment",
    "start_all",
    "stop_all",
]


class LiveServer:
    """One `parley serve` process; its output goes to a log file the test can read."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        cwd: Path,
        port: int | None = None,
        args: tuple[str, ...] = ("--no-migrate",),
        executable: str = PARLEY,
        plain_uvicorn: bool = False,
    ) -> None:
        self.executable = executable
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
        return self.launch().wait_until_up(timeout)

    def launch(self) -> LiveServer:
        """Start the process without waiting for it to serve (see `start_all`)."""
        log = self.log_path.open("ab")
        command = (
            [UVICORN, "app.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
            if self.plain_uvicorn
            else [
                self.executable,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
            ]
        )
        self.process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_until_up(self, timeout: float = 30.0) -> LiveServer:
        assert self.process is not None, "launch() first"
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
        return self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float = 20.0) -> int | None:
        """Wait for the process to exit (killed after `timeout`)."""
        if self.process is None:
            return None
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


def start_all(servers: list[LiveServer], timeout: float = 30.0) -> list[LiveServer]:
    """Start several servers side by side: their start-ups (imports, pools) overlap instead
    of adding up."""
    for server in servers:
        server.launch()
    try:
        for server in servers:
            server.wait_until_up(timeout)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def stop_all(servers: list[LiveServer]) -> None:
    """SIGTERM to every server first, then wait for each: their drains overlap."""
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        server.wait_stopped()


def server_environment(database_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    return bench_servers.server_environment(
        database_url, data_dir, secret_key=SECRET_KEY, **overrides
    )


ServerFactory = Callable[..., LiveServer]
# `make_servers(count, **overrides)`: `count` servers with the same settings, started at once.
ServersFactory = Callable[..., list[LiveServer]]
