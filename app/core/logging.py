"""Logging set-up: text or JSON lines, with request context, and no token in any line."""

from __future__ import annotations

import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from app.core import request_context

_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])(?:token|access_token|refresh_token)=)[^&\s\"']*")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")
REDACTED = "[redacted]"

# Loggers that print request lines: uvicorn's access log and its WebSocket accept/403 lines.
REQUEST_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(value: str) -> str:
    return _BEARER.sub(rf"\1{REDACTED}", _TOKEN_IN_QUERY.sub(rf"\1{REDACTED}", value))


class RedactTokens(logging.Filter):
    """Rewrites a record's message arguments so query-string and Bearer tokens are hidden."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


class AddRequestContext(logging.Filter):
    """Copies the request id, connection id and user id of the current task onto the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_context.request_id.get()
        record.connection_id = request_context.connection_id.get()
        record.user_id = request_context.user_id.get()
        return True


class JsonLines(JsonFormatter):
    """One JSON object per line: time, level, logger, message and the request's context.

    python-json-logger does the encoding (exceptions, stack traces, odd values); this only
    names the fields and splits uvicorn's access lines into fields a collector can query.
    """

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(process)d %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601 in UTC, with microseconds
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in ("request_id", "connection_id", "user_id"):
            log_data[name] = getattr(record, name, None)
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            log_data.update(
                client=client, method=method, path=path, http_version=http_version,
                status_code=status,
            )  # fmt: skip
        # uvicorn's own records carry `color_message`, a copy of the message with ANSI codes.
        log_data.pop("color_message", None)


_FILTER = RedactTokens()


def install_token_redaction() -> None:
    """Attach the filter to the request loggers (idempotent; safe under any ASGI server)."""
    for name in REQUEST_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


def uvicorn_log_config(level: str = "INFO", log_format: str = "text") -> dict[str, Any]:
    """The server's logging: uvicorn's text format or JSON lines, with the redaction and
    request-context filters on every handler, for uvicorn's loggers, Parley's and Alembic's."""
    if log_format == "json":
        formatters: dict[str, Any] = {
            "default": {"()": "app.core.logging.JsonLines"},
            "access": {"()": "app.core.logging.JsonLines"},
        }
    else:
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(asctime)s %(levelprefix)s [%(process)d] %(name)s: %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": "%(asctime)s %(levelprefix)s [%(process)d] %(client_addr)s - "
                '"%(request_line)s" %(status_code)s',
            },
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact_tokens": {"()": "app.core.logging.RedactTokens"},
            "request_context": {"()": "app.core.logging.AddRequestContext"},
        },
        "formatters": formatters,
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact_tokens", "request_context"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact_tokens", "request_context"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "": {"handlers": ["default"], "level": level.upper()},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            # Alembic announces each plugin it loads at INFO: noise on every start-up. Its
            # "Running upgrade ..." lines stay.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }
