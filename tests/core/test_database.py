"""The pool pings a connection before use only when it sat idle: a busy server pays no round
trip per request, and a connection killed while idle is replaced, not handed out."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import database
from app.core.database import create_engine, is_unavailable

pytestmark = pytest.mark.postgres_only


def counting_pings(engine: AsyncEngine) -> list[int]:
    """Count the dialect's pings (the listener calls the engine's own dialect)."""
    pings: list[int] = []
    dialect: Any = engine.sync_engine.dialect
    real = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(real(dbapi_connection))

    dialect.do_ping = do_ping
    return pings


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(live_database: str, pid: int) -> None:
    admin = await asyncpg.connect(
        make_url(live_database).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_a_connection_used_moments_ago_is_not_pinged(live_database: str) -> None:
    engine = create_engine(live_database, pool_size=1, max_overflow=0, ping_after_idle=60)
    pings = counting_pings(engine)
    try:
        first = await backend_pid(engine)
        for _ in range(5):
            assert await backend_pid(engine) == first  # the same pooled connection
        assert pings == []
    finally:
        await engine.dispose()


def closes_go_unseen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver does not see a connection's close: as when a network drops it silently."""
    monkeypatch.setattr(database, "seen_closed", lambda _driver: False)


async def test_an_idle_connection_lost_silently_is_pinged_and_replaced(
    live_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(live_database, pool_size=1, max_overflow=0, ping_after_idle=0.2)
    pings = counting_pings(engine)
    try:
        killed = await backend_pid(engine)
        closes_go_unseen(monkeypatch)
        await terminate(live_database, killed)
        await asyncio.sleep(0.3)  # idle for longer than the threshold
        assert await backend_pid(engine) != killed  # pinged, dropped, connected afresh
        assert pings == [1]
    finally:
        await engine.dispose()


async def test_a_connection_the_server_closed_moments_ago_is_replaced_without_a_ping(
    live_database: str,
) -> None:
    """A restart or pg_terminate_backend closes the socket: the driver knows, no round trip
    is spent, and no request fails for it (before: the first use failed with a 503)."""
    engine = create_engine(live_database, pool_size=1, max_overflow=0, ping_after_idle=60)
    pings = counting_pings(engine)
    try:
        killed = await backend_pid(engine)
        await terminate(live_database, killed)
        await asyncio.sleep(0.05)  # the close reaches the client's socket
        assert await backend_pid(engine) != killed
        assert pings == []
    finally:
        await engine.dispose()


async def test_a_busy_connection_cut_off_silently_fails_one_use_as_an_outage(
    live_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The price of not pinging a connection used moments ago: if it was lost without a close
    (a network that dropped it), that one use fails as an outage (503 with Retry-After at
    the edge), and the next gets a new connection."""
    engine = create_engine(live_database, pool_size=1, max_overflow=0, ping_after_idle=60)
    try:
        killed = await backend_pid(engine)
        closes_go_unseen(monkeypatch)
        await terminate(live_database, killed)
        with pytest.raises(DBAPIError) as failed:
            await backend_pid(engine)
        assert is_unavailable(failed.value)
        assert await backend_pid(engine) != killed
    finally:
        await engine.dispose()
