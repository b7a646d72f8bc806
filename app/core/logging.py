"""Logging set-up. Tokens must never reach a log, so access lines are redacted."""

from __future__ import annotations

import logging
import re
from typing import Any

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


_FILTER = RedactTokens()


def install_token_redaction() -> None:
    """Attach the filter to the request loggers (idempotent; safe under any ASGI server)."""
    for name in REQUEST_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own format, with the redaction filter on every handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_tokens": {"()": "app.core.logging.RedactTokens"}},
        "formatters": {
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
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact_tokens"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact_tokens"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "": {"handlers": ["default"], "level": level.upper()},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
