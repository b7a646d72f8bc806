"""The `parley` command: serve, migrate, and chat (the terminal client)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.config import ConfigurationError, Settings, ensure_secret_key

if TYPE_CHECKING:  # Alembic is imported when needed: `parley chat` never needs it
    from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_FRAME_BYTES = 64 * 1024
STARTUP_FAILURE = 3  # uvicorn's exit status when the app could not start


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    if url:
        config.attributes["url"] = url
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    from alembic import command

    if settings.effective_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.effective_database_url), revision)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.core.logging import uvicorn_log_config
    from app.serving import serve

    settings = ensure_secret_key(Settings())
    if args.workers > 1 and settings.broker_url.startswith("memory"):
        raise ConfigurationError(
            f"--workers {args.workers} needs a shared broker: with BROKER_URL=memory:// each "
            "process would only see its own clients. Set BROKER_URL=redis://host:6379/0 "
            "(see README, 'Running several processes')."
        )
    if not args.no_migrate:
        migrate(settings)
    config = uvicorn.Config(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers if not args.reload else None,
        reload=args.reload,
        log_config=uvicorn_log_config(settings.log_level),
        ws_max_size=MAX_FRAME_BYTES,
        ws_per_message_deflate=settings.ws_compression,
        proxy_headers=True,
        # The app's drain (SHUTDOWN_DRAIN_SECONDS) runs first; this bounds what follows.
        timeout_graceful_shutdown=10,
    )
    return 0 if serve(config) else STARTUP_FAILURE


def _migrate(args: argparse.Namespace) -> int:
    migrate(Settings(), args.revision)
    return 0


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
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="processes (needs BROKER_URL=redis)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.add_argument("--no-migrate", action="store_true", help="skip `alembic upgrade head`")
    serve.set_defaults(handler=_serve)

    migrate_cmd = commands.add_parser("migrate", help="upgrade the database schema")
    migrate_cmd.add_argument("revision", nargs="?", default="head")
    migrate_cmd.set_defaults(handler=_migrate)

    chat = commands.add_parser("chat", help="the terminal client")
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
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
