"""A fresh install, as a new user makes it: the wheel in a new virtualenv, outside the checkout.

Marked `install` (it builds a wheel and installs it: about 20 s). It runs in `make test`;
`pytest -m "not install"` leaves it out. Dependencies are installed with the repository's
constraints, so pip takes them from its cache rather than the network when it can.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.journey import first_conversation
from tests.support.server import LiveServer, server_environment

pytestmark = [pytest.mark.install, pytest.mark.live, pytest.mark.timeout(300)]

REPOSITORY = Path(__file__).resolve().parent.parent
# What a clone has that a build must not see: local state and earlier builds.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "data", "build", "*.egg-info", "__pycache__", ".*_cache", "*.db", ".env"
)


def run(*command: str | Path, cwd: Path, timeout: float = 240) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`parley` from a wheel, installed into a new virtualenv; yields its bin directory."""
    root = tmp_path_factory.mktemp("install")
    # Build from a copy: a build writes build/ and *.egg-info next to the sources.
    source = root / "source"
    shutil.copytree(REPOSITORY, source, ignore=NOT_SOURCE)
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    run(*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", root / "wheels", source, cwd=root)
    (wheel,) = (root / "wheels").glob("parley-*.whl")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    run(
        *pip,
        "--python",
        venv / "bin" / "python",
        "install",
        "--quiet",
        "--no-compile",  # byte-compiling every dependency costs more than it saves here
        "--constraint",
        REPOSITORY / "constraints.txt",
        wheel,
        cwd=root,
    )
    shutil.rmtree(source)
    return venv / "bin"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'parley.db'}"
        return
    if not TEST_DATABASE_URL:
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL)")
    url = create_postgres_database(TEST_DATABASE_URL, prefix="parley_install")
    try:
        yield url
    finally:
        drop_postgres_database(url)


def test_the_wheel_carries_the_migrations(installed: Path) -> None:
    python = installed / "python"
    probe = "from app.core.migrations import script_location; print(script_location())"
    location = Path(run(python, "-c", probe, cwd=installed).strip())
    assert "site-packages" in location.parts, location
    assert (location / "env.py").is_file()
    assert list((location / "versions").glob("*.py"))
    version = run(installed / "parley", "--version", cwd=installed)
    assert version.startswith("parley "), version


def test_migrate_serve_sign_up_and_chat_from_a_wheel(
    installed: Path, fresh_database: str, tmp_path: Path
) -> None:
    workdir = tmp_path / "elsewhere"  # no alembic.ini, no migrations/ here
    workdir.mkdir()
    env = server_environment(fresh_database, tmp_path / "data")
    migrate = subprocess.run(
        [installed / "parley", "migrate"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "Running upgrade" in migrate.stderr
    assert "setup plugin" not in migrate.stderr
    if fresh_database.startswith("sqlite"):
        database = Path(fresh_database.removeprefix("sqlite:///"))
        tables = {
            row[0] for row in sqlite3.connect(database).execute("SELECT name FROM sqlite_master")
        }
        assert {"users", "rooms", "messages", "alembic_version"} <= tables

    server = LiveServer(env=env, cwd=workdir, executable=str(installed / "parley"))
    with server:
        ready = httpx.get(f"{server.base_url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["schema"] == "ok"
        conversation = asyncio.run(
            first_conversation(
                server.base_url, server.ws_url, username="newcomer", password="a fresh password"
            )
        )
        assert conversation.ack["message"]["body"] == conversation.stored[0]["body"]
        docs = httpx.get(f"{server.base_url}/docs-assets/swagger-ui-bundle.js", timeout=5)
        assert docs.status_code == 200
