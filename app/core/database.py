"""Engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A pooled connection unused for this long is pinged before it is handed out (see
# _ping_when_idle); the pool keeps the time it was last given back under IDLE_SINCE.
PING_AFTER_IDLE_SECONDS = 1.0
IDLE_SINCE = "parley.idle_since"

# Session.info key under which services leave events to publish once the transaction commits.
PENDING_EVENTS = "parley.pending_events"

EventSink = Callable[[Sequence[Any]], Awaitable[None]]
# Opens one short unit of work (`transaction` below, bound to the app's sessionmaker and sink).
Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps naive strings)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC one is expected")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime}


# Errors that mean "the database cannot be reached or refuses work for now" (an outage:
# 503, retry later), as opposed to "this statement is wrong" (a bug: 500, with a traceback).
ASYNCPG_OUTAGES = (
    asyncpg.PostgresConnectionError,  # connection refused, lost, does not exist
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,  # pg_terminate_backend, smart/fast shutdown
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
SQLITE_OUTAGES = ("unable to open database file", "database is locked", "disk i/o error")
# OSErrors that name a local file rather than a network peer are bugs or configuration.
LOCAL_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) says the database is unreachable or refusing work:
    connection refused or lost, pool checkout timed out, server shutting down."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (PoolTimeout, *ASYNCPG_OUTAGES)):
            return True
        if isinstance(current, OSError) and not isinstance(current, LOCAL_OS_ERRORS):
            return True  # refused, reset, unreachable, DNS, timeouts (TimeoutError is one)
        if isinstance(current, asyncpg.InterfaceError) and "closed" in str(current):
            return True  # "connection is closed": lost between statements
        if isinstance(current, sqlite3.OperationalError) and str(current).lower() in SQLITE_OUTAGES:
            return True
        pending.extend(
            cause
            for cause in (getattr(current, "orig", None), current.__cause__, current.__context__)
            if isinstance(cause, BaseException)
        )
    return False


class Availability:
    """Whether this process last saw the database down, so that an outage is logged once
    when it begins and once when it ends, not once per request."""

    def __init__(self) -> None:
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            logger.warning(
                "database unavailable (%s: %s); answering 503 until it is back",
                type(exc).__name__,
                exc,
            )

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            logger.warning("database reachable again")


# One per process: an outage is a fact about this process's view of the database.
availability = Availability()


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    # No JIT: it compiles a query whose estimated cost passes jit_above_cost, and the room
    # list's counts (correlated subqueries, estimated per visible room) pass it; compiling
    # took 20-500 ms of a query that runs in a few (docs/performance.md, "History at 10
    # million messages"). Parley's queries are short index walks that JIT never pays for.
    connect_args = {"server_settings": {"jit": "off"}} if "+asyncpg" in url else {}
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, connect_args=connect_args
    )
    _ping_when_idle(engine, ping_after_idle)
    return engine


def seen_closed(driver_connection: Any) -> bool:
    """Whether the driver knows its connection is closed: a restart, pg_terminate_backend or
    an idle timeout closes the socket, and asyncpg notices without a round trip."""
    is_closed = getattr(driver_connection, "is_closed", None)
    return bool(is_closed()) if is_closed is not None else False


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only if it sat unused for `idle_seconds`.

    SQLAlchemy's pool_pre_ping pings on every checkout: a round trip per request, which a
    busy server pays thousands of times a second for connections it used a millisecond ago.
    A connection whose socket the server closed is replaced without a round trip (the
    driver saw the close); one that sat idle is pinged, because a network that dropped it
    silently sends no close. Only a connection used moments ago and cut off without a close
    fails its request (503, Retry-After), and the pool then drops every connection made
    before it, as pre-ping would.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if seen_closed(dialect.get_driver_connection(dbapi_connection)):
            raise InvalidatePoolError("the database closed a pooled connection")
        idle_since = record.info.get(IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # fresh, or used moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool then drops this and every older connection and connects afresh.
            raise InvalidatePoolError("an idle connection failed its ping") from exc


def create_disposable_engine(url: str) -> AsyncEngine:
    """An engine without a pool, for one-off work such as migrations and admin commands."""
    engine = create_async_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver (it skips BEGIN before SELECT and
        # SAVEPOINT), so that transactions and savepoints mean what they say.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY instead of waiting its turn.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine and the session factory, built at start-up and disposed at shutdown."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        engine: AsyncEngine | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.engine = engine

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        return cls(async_sessionmaker(engine, expire_on_commit=False), engine)

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> Database:
        """Sessions that live inside an outer transaction on one connection (test isolation)."""
        return cls(
            async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                join_transaction_mode="create_savepoint",
            )
        )

    @property
    def dialect(self) -> str:
        bind = self.sessionmaker.kw["bind"]
        return str(bind.dialect.name)

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        availability.succeeded()

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


def defer_event(session: AsyncSession, event_: Any) -> None:
    """Publish `event_` after this session's transaction commits, and never if it rolls back."""
    session.info.setdefault(PENDING_EVENTS, []).append(event_)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession], on_commit: EventSink | None = None
) -> AsyncIterator[AsyncSession]:
    """One short unit of work: commit on success, roll back and re-raise on error.

    Events left with `defer_event` are handed to `on_commit` only once the commit succeeded.
    """
    async with sessionmaker() as session:
        async with session.begin():
            yield session
        if availability.down:
            availability.succeeded()
        events = session.info.pop(PENDING_EVENTS, [])
        if events and on_commit is not None:
            await on_commit(events)
