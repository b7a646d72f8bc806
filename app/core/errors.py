"""Domain errors carry their HTTP status and WebSocket error code; one handler renders them."""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.core.validation import scrub


class DomainError(Exception):
    """An expected refusal. Subclasses set the status, the frame code and a default detail."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_frame"
    default_detail: ClassVar[str] = "The request was refused."
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
    default_detail = "You are not allowed to do that."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_detail = "That conflicts with the current state."


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"
    default_detail = "Not authenticated."
    headers = {"WWW-Authenticate": "Bearer"}


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"
    default_detail = "Too many requests; slow down."

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, round(retry_after + 0.5)))}


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"
    default_detail = "The service is temporarily unavailable; retry."


async def _render_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _render_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, except that the echoed input is made encodable first: a lone surrogate
    (`"\\ud800"` in JSON) would otherwise turn the refusal itself into a 500."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": scrub(jsonable_encoder(exc.errors()))}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _render_domain_error)
    app.add_exception_handler(RequestValidationError, _render_validation_error)
