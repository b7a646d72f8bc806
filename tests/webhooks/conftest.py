"""Webhook tests: a receiver on 127.0.0.1 (allowed by WEBHOOK_ALLOWED_HOSTS), and an app
whose delivery worker runs (its own engine on the run's live database, so it commits for
real), with small intervals so that retries take milliseconds."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.core.database import create_engine
from app.main import create_app
from tests.conftest import _migrated_database, make_settings
from tests.support.users import UserFactory
from tests.support.webhook_receiver import Receiver

FAST: dict[str, Any] = {
    "webhook_allowed_hosts": ["127.0.0.1"],
    "webhook_poll_interval_seconds": 0.2,
    "webhook_backoff_base_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.2,
    "webhook_timeout_seconds": 3.0,
    "webhook_lease_seconds": 5.0,
    "webhook_max_failures": 50,
}


@pytest.fixture(scope="session")
def live_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The webhook tests' own live database. Servers that other tests leave running on the
    shared one (session-wide servers) run delivery workers too, with their own settings
    (127.0.0.1 refused, long backoff): they took these tests' webhooks, counted failures
    and held leases (seen in CI as a fourth attempt, or a delivery not made for 15 s)."""
    url, drop = _migrated_database(backend, tmp_path_factory.mktemp("webhooks-live"))
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data", **FAST)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = await Receiver().start()
    try:
        yield hook
    finally:
        if hook.hold is not None:
            hook.hold.set()
        await hook.stop()


DeliveringApp = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def only_this_tests_webhooks(live_database: str) -> None:
    """The live database outlives every test, and with it earlier tests' webhooks: still
    active, pointing at receivers that are gone or at a port a new receiver now holds. Any
    app's worker would deliver them too, taking its slots and landing on this test's
    receiver; they are disabled before the test starts."""
    engine = create_engine(live_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE webhooks SET state = 'disabled' WHERE state = 'active'")
            )
    except OperationalError as exc:
        # SQLite's write lock held past its busy timeout (seen once in CI): the test then
        # runs as it did before this clean-up, alongside the earlier webhooks.
        warnings.warn(f"earlier tests' webhooks left active: {exc}", stacklevel=1)
    finally:
        await engine.dispose()


@pytest.fixture
def delivering_app(
    live_database: str, tmp_path: Path, only_this_tests_webhooks: None
) -> DeliveringApp:
    """Start an app that delivers webhooks (its worker runs on the live database), with
    settings changed by keyword; a client of it."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(live_database, tmp_path / "live", **{**FAST, **overrides}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as c:
                yield c

    return start


@pytest.fixture
async def delivering(delivering_app: DeliveringApp) -> AsyncIterator[httpx.AsyncClient]:
    async with delivering_app() as client:
        yield client


@pytest.fixture
def people(delivering: httpx.AsyncClient) -> UserFactory:
    return UserFactory(delivering)
