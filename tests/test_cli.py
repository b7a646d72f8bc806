"""The `parley` command as an operator uses it, in real processes."""

from __future__ import annotations

import importlib.metadata
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from app import cli
from tests.support.server import PARLEY, LiveServer, clean_environment

pytestmark = pytest.mark.live


def run_parley(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PARLEY, *args],
        cwd=cwd,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_on_a_bare_directory_migrates_and_serves(tmp_path: Path) -> None:
    """What `make run` does: no settings at all, SQLite in ./data, docs and probes up."""
    server = LiveServer(env=clean_environment(), cwd=tmp_path, args=())
    with server:
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert "swagger-ui" in http.get("/docs").text
            signup = http.post("/auth/signup", json={"username": "first", "password": "x" * 10})
            assert signup.status_code == 201
            http.get("/healthz", params={"token": "super-secret-token-value"})
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
        assert server.stop() in (0, -15)
    assert (tmp_path / "data" / "parley.db").exists()
    assert (tmp_path / "data" / "secret_key").exists()
    logs = server.logs()
    assert "Application shutdown complete" in logs
    assert "GET /healthz?token=[redacted]" in logs
    assert "super-secret-token-value" not in logs


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    result = run_parley("serve", "--no-migrate", cwd=tmp_path, PARLEY_ENV="production")
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_workers_need_a_shared_broker(tmp_path: Path) -> None:
    result = run_parley("serve", "--workers", "2", "--no-migrate", cwd=tmp_path)
    assert result.returncode == 2
    assert "BROKER_URL" in result.stderr


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "chat.db"
    result = run_parley("migrate", cwd=tmp_path, DATABASE_URL=f"sqlite:///{database}")
    assert result.returncode == 0, result.stderr
    tables = {row[0] for row in sqlite3.connect(database).execute("SELECT name FROM sqlite_master")}
    assert {"users", "auth_sessions", "refresh_tokens", "alembic_version"} <= tables


def test_serve_prepares_one_metrics_directory_for_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    cli._prepare_metrics_dir(1)
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # one process: its own registry

    cli._prepare_metrics_dir(2)
    private = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert private.is_dir()
    assert not list(private.iterdir())
    private.rmdir()
    given = tmp_path / "prometheus"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old values")
    (given / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    cli._prepare_metrics_dir(4)
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(given)


def test_version_and_help(tmp_path: Path) -> None:
    version = run_parley("--version", cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.strip() == f"parley {importlib.metadata.version('parley')}"
    serve_help = run_parley("serve", "--help", cwd=tmp_path)
    assert "(default: 127.0.0.1)" in serve_help.stdout
    assert "(default: 8000)" in serve_help.stdout


def test_migrate_logs_in_the_server_format_without_plugin_noise(tmp_path: Path) -> None:
    database = tmp_path / "new" / "dir" / "chat.db"  # directories that do not exist yet
    result = run_parley("migrate", cwd=tmp_path, DATABASE_URL=f"sqlite:///{database}")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any("Running upgrade" in line for line in lines)
    assert not any("setup plugin" in line for line in lines), lines
    # The server's text format: "<date> <time> LEVEL: [pid] logger: message".
    pattern = re.compile(r"\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+:\s+\[\d+\] [\w.]+: ")
    assert all(pattern.match(line) for line in lines), lines


def test_migrate_against_a_missing_database_says_so_in_one_line(tmp_path: Path) -> None:
    url = "postgresql://nobody:hunter2-secret@127.0.0.1:1/parley"
    result = run_parley("migrate", cwd=tmp_path, DATABASE_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot migrate postgresql+asyncpg://nobody:***@127.0.0.1:1/parley" in result.stderr
    assert "hunter2-secret" not in result.stderr
