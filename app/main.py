"""Assembles the application: settings, database, routers, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import __version__
from app.auth.router import router as auth_router
from app.auth.throttle import AuthThrottle
from app.bots.router import router as bots_router
from app.core import metrics
from app.core.body_limit import BodySizeLimit
from app.core.config import Settings, ensure_secret_key
from app.core.database import Database, Transaction, transaction
from app.core.errors import install_error_handlers
from app.core.http_metrics import HttpMetrics
from app.core.logging import install_token_redaction
from app.core.ratelimit import KeyedLimit, SharedLimiter
from app.core.request_context import RequestIdMiddleware
from app.core.security import PasswordHasher
from app.delivery.asgi import KeepServerSend
from app.delivery.broker import Broker, create_broker
from app.delivery.hub import Hub
from app.delivery.presence import create_presence
from app.health.router import router as health_router
from app.messages.conversation_router import router as conversation_router
from app.messages.group_commit import MessageCommitter, store_for
from app.messages.router import changes_router
from app.messages.router import router as messages_router
from app.messages.threads import RichSends
from app.realtime.router import router as realtime_router
from app.realtime.subscriptions import RoomHistory, RoomPresence, Subscriptions
from app.rooms.router import dms_router
from app.rooms.router import router as rooms_router
from app.state import AppState
from app.users.router import router as users_router
from app.web.docs import SWAGGER_UI_PARAMETERS, install_docs
from app.web.router import router as web_router
from app.webhooks.dependencies import WebhookServices
from app.webhooks.router import router as webhooks_router
from app.webhooks.sender import Sender
from app.webhooks.signing import SecretBox
from app.webhooks.ssrf import AllowList, system_resolver
from app.webhooks.worker import WebhookWorker

logger = logging.getLogger(__name__)

DESCRIPTION = """
Parley is a self-hostable chat service: accounts, rooms, stored history and real-time
delivery over WebSocket (`/ws`). Use **Authorize** to log in, then try the calls below.
"""


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    broker: Broker | None = None,
) -> FastAPI:
    """Build the app. Nothing connects here; the lifespan does, and tests may pass a database
    bound to their own transaction, or a broker that records what is published."""

    config = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = ensure_secret_key(config)
        install_token_redaction()
        if resolved.effective_database_url.startswith("sqlite"):
            resolved.data_dir.mkdir(parents=True, exist_ok=True)
        # The composition root: each part is built once, here, and handed its collaborators.
        db = database or Database.from_url(
            resolved.effective_database_url,
            pool_size=resolved.db_pool_size,
            max_overflow=resolved.db_max_overflow,
        )
        bus = broker or create_broker(resolved.broker_url)
        presence = create_presence(resolved.broker_url, ttl=resolved.presence_ttl_seconds)
        # Webhooks: delivered from the rooms' change logs by a worker of their own; a
        # commit in a room with a webhook wakes it (polling finds the rest).
        webhook_sender = Sender(
            allow=AllowList.parse(resolved.webhook_allowed_hosts),
            timeout=resolved.webhook_timeout_seconds,
            connect_timeout=resolved.webhook_connect_timeout_seconds,
        )
        webhook_secrets = SecretBox(resolved.signing_key)
        webhook_worker = WebhookWorker(
            db.sessionmaker,
            settings=resolved,
            sender=webhook_sender,
            secrets=webhook_secrets,
            postgres=db.dialect == "postgresql",
        )
        committed = webhook_worker.committed(bus.publish_all)
        # Services' units of work publish their events on the broker once they commit.
        unit_of_work: Transaction = partial(transaction, db.sessionmaker, committed)
        committer = MessageCommitter(
            store_for(db),
            committed=committed,
            rich=RichSends(db.sessionmaker),
            batch_size=resolved.commit_batch_size,
            queue_size=resolved.commit_queue_size,
        )
        # Rate limits and their counts: one budget for every process when Redis is the broker.
        limiter = SharedLimiter(resolved.broker_url)
        room_presence = RoomPresence(presence, bus)
        hub = Hub(bus, fill_gap=RoomHistory(unit_of_work).fill_gap, on_ended=room_presence.ended)
        subscriptions = Subscriptions(
            hub=hub,
            presence=presence,
            room_presence=room_presence,
            transaction=unit_of_work,
            replay_limit=resolved.replay_limit,
        )
        # Who hears whom: the broker delivers to the hub (and asks it to catch up after an
        # outage); presence reports users whose server went away.
        bus.set_handler(hub.dispatch)
        bus.add_reconnect_listener(hub.resync)
        presence.set_expiry_handler(room_presence.expired)
        state = AppState(
            settings=resolved,
            database=db,
            hasher=PasswordHasher(
                time_cost=resolved.argon2_time_cost,
                memory_cost_kib=resolved.argon2_memory_cost_kib,
                parallelism=resolved.argon2_parallelism,
                concurrency=resolved.password_hash_concurrency,
                max_wait=resolved.password_hash_wait_seconds,
            ),
            limiter=limiter,
            auth_throttle=AuthThrottle(limiter, resolved),
            send_limiter=KeyedLimit.from_rate(
                limiter,
                per_second=resolved.messages_per_second,
                burst=resolved.messages_burst,
                namespace="rest-send",
            ),
            broker=bus,
            presence=presence,
            hub=hub,
            committer=committer,
            transaction=unit_of_work,
        )
        app.state.parley = state
        app.state.subscriptions = subscriptions
        app.state.webhooks = WebhookServices(
            allow=AllowList.parse(resolved.webhook_allowed_hosts),
            resolve=system_resolver,
            secrets=webhook_secrets,
            sender=webhook_sender,
            worker=webhook_worker,
            max_per_room=resolved.webhook_max_per_room,
            delivery_log_size=resolved.webhook_delivery_log_size,
        )
        await state.start()
        if db.engine is not None:
            # Not on a database bound to a test's transaction: its one connection cannot
            # serve a background worker beside the requests.
            webhook_worker.start()
        logger.info("Parley started (%s, broker %s)", state.database.dialect, resolved.broker_url)
        metrics.forget_dead_processes()
        flusher = asyncio.create_task(metrics.flush_periodically(), name="parley-metrics")
        try:
            yield
        finally:
            await state.stop()
            await webhook_worker.stop()
            await webhook_sender.close()
            if database is None:
                await state.database.dispose()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            metrics.process_exit()

    app = FastAPI(
        title="Parley",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served by install_docs from packaged assets instead of FastAPI's CDN links.
        docs_url=None,
        redoc_url=None,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    if config.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_allow_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # Inside KeepServerSend, so WebSocket frames still go straight to the server's send.
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(KeepServerSend)
    app.add_middleware(HttpMetrics)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_request_body_bytes)
    if config.forwarded_allow_ips:
        # The one place proxy headers are believed (`parley serve` turns uvicorn's own
        # handling off): only from FORWARDED_ALLOW_IPS, so a client cannot pick its own
        # address for the rate limits by sending X-Forwarded-For. Added last: outermost.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=config.forwarded_allow_ips)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(bots_router)
    app.include_router(rooms_router)
    app.include_router(dms_router)
    app.include_router(messages_router)
    app.include_router(changes_router)
    app.include_router(conversation_router)
    app.include_router(webhooks_router)
    app.include_router(realtime_router)
    app.include_router(web_router)
    install_docs(app)
    return app


app = create_app()
