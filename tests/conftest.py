"""Test harness.

Once per run and per backend: create a database and `alembic upgrade head`. SQLite always;
PostgreSQL too when TEST_DATABASE_URL points at a server (a fresh database is created for the
run and dropped afterwards). Per test: one connection, one outer transaction, sessions in
savepoints, rolled back at the end, so code that commits still leaves nothing behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.config import Settings
from app.core.database import Database, create_engine
from app.delivery.events import Event
from app.main import create_app
from tests.support.broker import RecordingBroker
from tests.support.databases import create_postgres_database, drop_postgres_database, run_alembic
from tests.support.server import (
    SECRET_KEY,
    LiveServer,
    ServerFactory,
    ServersFactory,
    free_port,
    server_environment,
    start_all,
    stop_all,
)
from tests.support.users import UserFactory

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if TEST_DATABASE_URL else [])]
TEST_SECRET_KEY = SECRET_KEY


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    once: list[pytest.Item] = []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("database_url")
        if backend == "sqlite" and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL)"))
        # End-to-end tests of a client (browser, terminal, raw framing) check nothing that
        # depends on the database: once is enough, on PostgreSQL (production's) when it is
        # there. They are the slowest tests; running them twice cost minutes of the suite.
        if backend == "sqlite" and len(BACKENDS) > 1 and item.get_closest_marker("one_backend"):
            once.append(item)
        else:
            kept.append(item)
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = kept


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database for the whole run, one per backend."""
    url, drop = _migrated_database(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield conn
        finally:
            if outer.is_active:
                await outer.rollback()


def _migrated_database(backend: str, directory: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'parley.db'}"
        run_alembic(url, "upgrade", "head")
        return url, lambda: None
    url = create_postgres_database(TEST_DATABASE_URL)
    run_alembic(url, "upgrade", "head")
    return url, lambda: drop_postgres_database(url)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's backend (no schema): for migration tests."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_postgres_database(TEST_DATABASE_URL, prefix="parley_migrate")
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def live_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second migrated database per backend, for code that commits for real: server
    processes, several engines. Never emptied during the run, so ids are never reused while
    a server still remembers them; tests pick unique names instead."""
    url, drop = _migrated_database(backend, tmp_path_factory.mktemp("live"))
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def server(live_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per backend for the tests that need no special settings."""
    directory = tmp_path_factory.mktemp("server")
    with LiveServer(env=server_environment(live_database, directory), cwd=directory) as live:
        yield live


@pytest.fixture(scope="session")
def shared_server(
    live_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """`shared_server(**overrides)`: one server per distinct settings, kept for the run, so
    tests that need the same changed settings share one start-up. Only for tests that leave
    the server as they found it: none may stop it, or count on state that another test's
    calls change (rate limits, connection caps: use `make_server` for those)."""
    servers: dict[tuple[tuple[str, str], ...], LiveServer] = {}

    def get(**overrides: str) -> LiveServer:
        key = tuple(sorted(overrides.items()))
        if key not in servers:
            directory = tmp_path_factory.mktemp("shared-server")
            env = server_environment(live_database, directory, **overrides)
            servers[key] = LiveServer(env=env, cwd=directory).start()
        return servers[key]

    yield get
    stop_all(list(servers.values()))


@pytest.fixture
def _started_servers() -> Iterator[list[LiveServer]]:
    """The servers `make_server` and `make_servers` started for a test: stopped after it,
    side by side (each may take a moment to drain)."""
    started: list[LiveServer] = []
    yield started
    stop_all(started)


@pytest.fixture
def make_server(
    live_database: str, tmp_path: Path, _started_servers: list[LiveServer]
) -> ServerFactory:
    """Start a dedicated server with some settings changed (stopped after the test);
    `_args` replaces the `parley serve` options (default `--no-migrate`)."""

    def start(_args: tuple[str, ...] = ("--no-migrate",), **overrides: str) -> LiveServer:
        env = server_environment(live_database, tmp_path, **overrides)
        live = LiveServer(env=env, cwd=tmp_path, args=_args)
        _started_servers.append(live)
        return live.start()

    return start


@pytest.fixture
def make_servers(
    live_database: str, tmp_path: Path, _started_servers: list[LiveServer]
) -> ServersFactory:
    """`make_server` for `count` servers with the same settings, started side by side."""

    def start(
        count: int, _args: tuple[str, ...] = ("--no-migrate",), **overrides: str
    ) -> list[LiveServer]:
        env = server_environment(live_database, tmp_path, **overrides)
        ports: set[int] = set()
        while len(ports) < count:  # none bound yet: the same free port could come twice
            ports.add(free_port())
        servers = [LiveServer(env=env, cwd=tmp_path, port=port, args=_args) for port in ports]
        _started_servers.extend(servers)
        return start_all(servers)

    return start


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": TEST_SECRET_KEY,
        # Cheap Argon2 keeps the suite fast; production defaults are tested separately.
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 64,
        "argon2_parallelism": 1,
        "login_attempts_per_minute": 0,
        "login_failures_per_username_per_hour": 0,
        "signups_per_address_per_hour": 0,
        "messages_per_second": 0,
        "broker_url": "memory://",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data")


@pytest.fixture
def broker() -> RecordingBroker:
    return RecordingBroker()


@pytest.fixture
async def app(
    settings: Settings, connection: AsyncConnection, broker: RecordingBroker
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=Database.bound_to(connection), broker=broker)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
        yield http


@pytest.fixture
def users(client: httpx.AsyncClient) -> UserFactory:
    return UserFactory(client)


@pytest.fixture
def published(app: FastAPI, broker: RecordingBroker) -> list[Event]:
    """Every event the app publishes from now on (fixtures requested before this one, such as
    users and rooms, have published theirs already), in order; they are still delivered."""
    broker.published.clear()
    return broker.published


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database of its own for this run (flushed before and after), or a skip when
    no Redis answers; with PARLEY_TEST_REQUIRE_SERVICES=1 (CI) a missing Redis fails.

    The database number is held with a lock file for the whole run, so that several runs on
    one machine (worktrees, CI beside a developer) never flush each other's data."""
    import redis

    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    number, lock = _claim_redis_database(base)
    url = f"{base}/{number}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        lock.close()
        if os.environ.get("PARLEY_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis is required here but does not answer at {url}: {exc}")
        pytest.skip(f"no Redis at {url}: {exc}")
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        lock.close()


def _claim_redis_database(base: str) -> tuple[int, IO[bytes]]:
    import fcntl
    import random
    import tempfile
    import time

    tag = re.sub(r"[^A-Za-z0-9]+", "-", base)
    numbers = list(range(1, 16))
    deadline = time.monotonic() + 60
    while True:
        random.shuffle(numbers)
        for number in numbers:
            path = Path(tempfile.gettempdir()) / f"parley-test-redis{tag}-{number}.lock"
            handle = path.open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            return number, handle
        if time.monotonic() > deadline:
            raise RuntimeError("every Redis test database (1-15) is held by another run")
        time.sleep(0.5)
