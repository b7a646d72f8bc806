"""Settings, read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger(__name__)

MIN_SECRET_KEY_LENGTH = 32
SECRET_KEY_FILE = "secret_key"


class ConfigurationError(RuntimeError):
    """The configuration cannot run safely; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    environment: Literal["development", "production", "test"] = Field(
        "development", validation_alias="PARLEY_ENV"
    )
    data_dir: Path = Field(Path("data"), validation_alias="PARLEY_DATA_DIR")
    database_url: str = ""
    secret_key: SecretStr | None = None
    access_token_ttl_seconds: int = Field(900, ge=1)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=60)
    broker_url: str = "memory://"
    log_level: str = "INFO"
    # text: readable lines for a terminal. json: one JSON object per line (with the request
    # id, and the connection and user id for WebSocket work) for a log collector.
    log_format: Literal["text", "json"] = "text"
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)

    # Argon2id cost. The defaults follow passlib's; lower them only for tests and benchmarks.
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)

    # Failed logins per client address per minute, whatever the username (0 = no limit).
    login_attempts_per_minute: int = Field(10, ge=0)
    # Failed logins per username per hour, from all addresses together (0 = no limit). An
    # address that logged in to that account in the last 30 days is exempt, so a stranger's
    # guessing does not lock the owner out of their own devices.
    login_failures_per_username_per_hour: int = Field(30, ge=0)
    # Signups per client address per hour (0 = no limit): each one costs a password hash.
    signups_per_address_per_hour: int = Field(20, ge=0)
    # Password hashes computed at once (each Argon2 hash takes ARGON2_MEMORY_COST_KIB of RAM
    # and a core); a request waits at most PASSWORD_HASH_WAIT_SECONDS for a slot, then gets
    # 503 with Retry-After instead of piling up threads and memory.
    password_hash_concurrency: int = Field(2, ge=1)
    password_hash_wait_seconds: float = Field(2.0, gt=0)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: comma-separated
    # addresses or CIDR ranges, `*` for any. Empty (default): none, the peer is the client.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # REST request bodies larger than this are refused with 413 before they are read.
    max_request_body_bytes: int = Field(1024 * 1024, ge=1024)
    # A connection whose request head (request line and headers) is not complete this long
    # after it arrives is closed (slowloris).
    http_header_timeout_seconds: float = Field(10.0, gt=0)

    # Bots a person may have at once (0: nobody may create bots), and API keys (a new bot or
    # a rotation) they may be issued per hour (0 = no limit): each costs rows that stay.
    bots_per_user: int = Field(10, ge=0)
    bot_keys_per_user_per_hour: int = Field(30, ge=0)

    replay_limit: int = Field(1000, ge=1)
    heartbeat_interval_seconds: int = Field(30, ge=1)
    ws_send_queue_size: int = Field(1000, ge=8)
    ws_close_timeout_seconds: float = Field(5.0, gt=0)
    # permessage-deflate compresses every frame once per connection (its state is per
    # connection): with fan-out that is most of the server's CPU. Off unless bandwidth
    # matters more than throughput.
    ws_compression: bool = False
    # The WebSocket implementation `parley serve` runs under uvicorn. "parley" is uvicorn's
    # websockets-sansio protocol plus a direct path that writes a broadcast's frame, built
    # once, to every socket (app/core/ws_server.py); the others are uvicorn's own ("wsproto"
    # needs the wsproto package), kept to compare and as a fallback.
    ws_protocol: Literal["parley", "websockets-sansio", "websockets", "wsproto"] = "parley"
    # Open WebSockets per user in one server process; the next is closed with 4429.
    ws_max_connections_per_user: int = Field(20, ge=1)
    messages_per_second: float = Field(20.0, ge=0)
    messages_burst: int = Field(50, ge=1)
    ws_frames_per_second: float = Field(100.0, ge=0)
    ws_frames_burst: int = Field(200, ge=1)
    commit_batch_size: int = Field(500, ge=1)
    commit_queue_size: int = Field(20000, ge=1)
    presence_ttl_seconds: int = Field(30, ge=3)
    # On SIGTERM (`parley serve`): how long the server may take to commit what it holds and
    # deliver the acks and messages already committed before it closes every socket (1012).
    shutdown_drain_seconds: float = Field(10.0, ge=0, le=300)

    # GET /metrics (Prometheus). Off: 404. With a token, scrapers must send
    # `Authorization: Bearer <token>`; empty leaves it open (keep it off the public network).
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None

    # Webhooks (see README "Webhooks"). Host names, addresses or CIDR ranges that webhook
    # URLs may reach although they are private, loopback or link-local (empty: none).
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_max_per_room: int = Field(10, ge=1, le=1000)
    # Consecutive failed attempts after which a webhook is `disabled` (re-enable with PATCH).
    webhook_max_failures: int = Field(20, ge=1)
    # Retry n waits a random time between half and all of min(max, base * 2**(n-1)).
    webhook_backoff_base_seconds: float = Field(5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0)
    # Deliveries are also noticed by polling (other processes' commits, due retries).
    webhook_poll_interval_seconds: float = Field(2.0, gt=0)
    # One attempt, from connecting to the end of the answer's (bounded) read.
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=120)
    webhook_connect_timeout_seconds: float = Field(5.0, gt=0)
    # Webhooks delivered at once by one process.
    webhook_concurrency: int = Field(8, ge=1, le=256)
    # How long a process owns a webhook without renewing (it renews before every attempt);
    # after it dies, another process takes over once this has passed.
    webhook_lease_seconds: float = Field(60.0, gt=0)
    # Attempts kept per webhook for GET …/deliveries.
    webhook_delivery_log_size: int = Field(50, ge=1, le=1000)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        return normalise_database_url(value) if value else value

    @field_validator(
        "cors_allow_origins", "forwarded_allow_ips", "webhook_allowed_hosts", mode="before"
    )
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _queue_holds_a_batch(self) -> Settings:
        # One commit batch lands on every subscriber's queue at once; a queue that cannot
        # hold two of them would cut off clients that are keeping up perfectly well.
        if self.ws_send_queue_size < 2 * self.commit_batch_size:
            raise ValueError(
                f"WS_SEND_QUEUE_SIZE ({self.ws_send_queue_size}) must be at least twice "
                f"COMMIT_BATCH_SIZE ({self.commit_batch_size})"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        # An attempt always ends before the lease it was started under could expire, so a
        # process that took an expired lease over never overlaps the previous owner.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds + 1:
            raise ValueError(
                f"WEBHOOK_LEASE_SECONDS ({self.webhook_lease_seconds}) must exceed "
                f"WEBHOOK_TIMEOUT_SECONDS ({self.webhook_timeout_seconds}) by more than 1"
            )
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'parley.db'}"

    @property
    def signing_key(self) -> str:
        if self.secret_key is None:
            raise ConfigurationError("no SECRET_KEY: call ensure_secret_key() at start-up")
        return self.secret_key.get_secret_value()


def normalise_database_url(url: str) -> str:
    """Accept the spellings people paste (`postgres://`, `sqlite:///`); pick async drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings that carry a usable signing key, or refuse to start.

    Production must be given a strong SECRET_KEY. Development generates one once and keeps it
    in the data directory, so restarts and several workers sign and verify with the same key.
    """
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key) < MIN_SECRET_KEY_LENGTH:
            message = (
                f"SECRET_KEY is {len(key)} characters; use at least {MIN_SECRET_KEY_LENGTH} "
                '(for example: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
            if settings.production:
                raise ConfigurationError(message)
            logger.warning(message)
        return settings
    if settings.production:
        raise ConfigurationError(
            "SECRET_KEY is not set. PARLEY_ENV=production refuses to start without one: "
            'generate it with  python -c "import secrets; print(secrets.token_urlsafe(48))"  '
            "and set it in the environment or in .env."
        )
    key = _load_or_create_key_file(settings.data_dir / SECRET_KEY_FILE)
    return settings.model_copy(update={"secret_key": SecretStr(key)})


def _load_or_create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Write to a private temporary file, then link it into place: link() fails if another
        # worker won the race, and whoever lost simply reads the winner's key.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            try:
                os.link(temporary, path)
                logger.info("generated a development SECRET_KEY in %s", path)
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigurationError(f"{path} holds a key that is too short; delete it to regenerate")
    return key
