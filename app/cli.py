"""The `parley` command: serve, migrate, and chat (the terminal client)."""

from __future__ import annotations

import argparse
import atexit
import logging
import logging.config
import os
import shutil
import sys
import tempfile
from pathlib import Path

from app import __version__
from app.core.config import ConfigurationError, Settings, ensure_secret_key
from app.core.migrations import alembic_config

__all__ = ["alembic_config", "build_parser", "main", "migrate"]

MAX_FRAME_BYTES = 64 * 1024
# WS_PROTOCOL names uvicorn's implementations as uvicorn does; "parley" is ours.
WS_PROTOCOLS = {"parley": "app.core.ws_server:ParleyWebSocketProtocol"}
STARTUP_FAILURE = 3  # uvicorn's exit status when the app could not start


class MigrationFailed(RuntimeError):
    """The schema could not be upgraded; the message says where and why."""


def migrate(settings: Settings, revision: str = "head") -> None:
    from alembic import command
    from alembic.util.exc import CommandError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    url = settings.effective_database_url
    if url.startswith("sqlite"):
        # SQLite creates the file but not its directory: a fresh DATABASE_URL path just works.
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    try:
        command.upgrade(alembic_config(url), revision)
    except (CommandError, DBAPIError, OSError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        where = make_url(url).render_as_string(hide_password=True)
        raise MigrationFailed(f"cannot migrate {where} to {revision}: {reason}") from exc


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.core.logging import uvicorn_log_config

    settings = Settings()
    configure_server_logging(settings)
    settings = ensure_secret_key(settings)
    if args.workers > 1 and settings.broker_url.startswith("memory"):
        raise ConfigurationError(
            f"--workers {args.workers} needs a shared broker: with BROKER_URL=memory:// each "
            "process would only see its own clients. Set BROKER_URL=redis://host:6379/0 "
            "(see README, 'Running several processes')."
        )
    if not args.no_migrate:
        migrate(settings)
    _prepare_metrics_dir(args.workers if not args.reload else 1)
    # Imported only now: it loads the metrics, which must find PROMETHEUS_MULTIPROC_DIR ready.
    from app.serving import serve

    config = uvicorn.Config(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers if not args.reload else None,
        reload=args.reload,
        log_config=uvicorn_log_config(settings.log_level, settings.log_format),
        ws_max_size=MAX_FRAME_BYTES,
        ws_per_message_deflate=settings.ws_compression,
        ws=WS_PROTOCOLS.get(settings.ws_protocol, settings.ws_protocol),
        # Proxy headers are handled by the app itself, from FORWARDED_ALLOW_IPS (app/main.py);
        # uvicorn's own handling would trust X-Forwarded-For from localhost by default.
        proxy_headers=False,
        # uvicorn has no deadline for reading a request head; this protocol adds one.
        http="app.core.http_server:HeadTimeoutProtocol",
        # The app's drain (SHUTDOWN_DRAIN_SECONDS) runs first; this bounds what follows.
        timeout_graceful_shutdown=10,
    )
    return 0 if serve(config) else STARTUP_FAILURE


def _prepare_metrics_dir(workers: int) -> None:
    """Set up prometheus-client's multiprocess mode when several workers must report one
    view: PROMETHEUS_MULTIPROC_DIR names an empty directory before any worker starts (and
    so before any of them imports prometheus_client). A directory given by the operator is
    emptied of old values; otherwise a private one is made, and removed when we exit
    (workers are spawned afresh, so only this process runs the clean-up)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # only what prometheus-client writes
            stale.unlink(missing_ok=True)
    elif workers > 1:
        directory = Path(tempfile.mkdtemp(prefix="parley-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    else:
        return  # one process: its own registry is the whole view
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _migrate(args: argparse.Namespace) -> int:
    settings = Settings()
    configure_server_logging(settings)
    migrate(settings, args.revision)
    return 0


def configure_server_logging(settings: Settings) -> None:
    """`serve` and `migrate` log in the server's format (text or JSON) from the first line."""
    from app.core.logging import uvicorn_log_config

    logging.config.dictConfig(uvicorn_log_config(settings.log_level, settings.log_format))


def _chat(args: argparse.Namespace) -> int:
    from app.terminal.app import run_chat

    return run_chat(
        server=args.server,
        room=args.room,
        username=args.username,
        signup=args.signup,
        log_file=args.log_file,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description=__doc__)
    parser.add_argument("--version", action="version", version=f"parley {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    with_defaults = argparse.ArgumentDefaultsHelpFormatter

    serve = commands.add_parser(
        "serve",
        help="run the server (migrates the database first)",
        description="Run the server. Settings come from the environment and ./.env.",
        formatter_class=with_defaults,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="processes (needs BROKER_URL=redis)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.add_argument("--no-migrate", action="store_true", help="skip `alembic upgrade head`")
    serve.set_defaults(handler=_serve)

    migrate_cmd = commands.add_parser(
        "migrate", help="upgrade the database schema", formatter_class=with_defaults
    )
    migrate_cmd.add_argument("revision", nargs="?", default="head", help="target revision")
    migrate_cmd.set_defaults(handler=_migrate)

    chat = commands.add_parser("chat", help="the terminal client", formatter_class=with_defaults)
    chat.add_argument("--server", default="http://127.0.0.1:8000", help="Parley's base URL")
    chat.add_argument("--room", help="room to open first")
    chat.add_argument("--username", help="log in as (prompted if no saved session)")
    chat.add_argument("--signup", action="store_true", help="create an account first")
    chat.add_argument("--log-file", help="write diagnostics here (default: warnings on screen)")
    chat.set_defaults(handler=_chat)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except ConfigurationError as exc:
        print(f"parley: configuration error: {exc}", file=sys.stderr)
        return 2
    except MigrationFailed as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
