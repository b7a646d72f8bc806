"""Assembles the application: settings, database, routers, error handlers, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.auth.router import router as auth_router
from app.core.config import Settings, ensure_secret_key
from app.core.database import Database
from app.core.errors import install_error_handlers
from app.core.logging import install_token_redaction
from app.core.ratelimit import KeyedLimiter
from app.core.security import PasswordHasher
from app.health.router import router as health_router
from app.messages.router import changes_router
from app.messages.router import router as messages_router
from app.realtime.asgi import KeepServerSend
from app.realtime.router import router as realtime_router
from app.rooms.router import router as rooms_router
from app.state import AppState
from app.users.router import router as users_router
from app.web.router import router as web_router

logger = logging.getLogger(__name__)

DESCRIPTION = """
Parley is a self-hostable chat service: accounts, rooms, stored history and real-time
delivery over WebSocket (`/ws`). Use **Authorize** to log in, then try the calls below.
"""


def build_state(settings: Settings, database: Database | None = None) -> AppState:
    return AppState(
        settings=settings,
        database=database
        or Database.from_url(
            settings.effective_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        ),
        hasher=PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        ),
        login_limiter=KeyedLimiter(
            settings.login_attempts_per_minute / 60.0, max(1, settings.login_attempts_per_minute)
        ),
        send_limiter=KeyedLimiter(settings.messages_per_second, settings.messages_burst),
    )


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the app. Nothing connects here; the lifespan does, and tests may pass a database
    bound to their own transaction."""

    config = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = ensure_secret_key(config)
        install_token_redaction()
        if resolved.effective_database_url.startswith("sqlite"):
            resolved.data_dir.mkdir(parents=True, exist_ok=True)
        state = build_state(resolved, database)
        app.state.parley = state
        await state.start()
        logger.info("Parley started (%s, broker %s)", state.database.dialect, resolved.broker_url)
        try:
            yield
        finally:
            await state.stop()
            if database is None:
                await state.database.dispose()

    app = FastAPI(
        title="Parley",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    if config.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_allow_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(KeepServerSend)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(rooms_router)
    app.include_router(messages_router)
    app.include_router(changes_router)
    app.include_router(realtime_router)
    app.include_router(web_router)
    return app


app = create_app()
