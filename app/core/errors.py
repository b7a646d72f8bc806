"""Domain errors carry their HTTP status and WebSocket error code; one handler renders them."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from app.core.database import availability, is_unavailable
from app.core.validation import scrub

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait before retrying while a dependency is down.
RETRY_AFTER_SECONDS = 1
# A WebSocket close code for "try again later", where a handshake cannot answer 503.
TRY_AGAIN_LATER = 1013


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
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class ErrorDetail(BaseModel):
    """Every refusal's body (REST); WebSocket `error` frames carry the same `detail`."""

    detail: str = Field(examples=["Room not found."])


# The statuses every route may answer, documented where a route names its own errors.
Responses = dict[int | str, dict[str, Any]]


def error_responses(*errors: type[DomainError]) -> Responses:
    """OpenAPI entries for the domain errors a route raises: one per status, with every
    error's message as a named example, so /docs shows what really comes back."""
    responses: Responses = {}
    for error in errors:
        entry = responses.setdefault(
            error.status_code,
            {"model": ErrorDetail, "description": "", "content": {"application/json": {}}},
        )
        examples = entry["content"]["application/json"].setdefault("examples", {})
        examples[error.__name__] = {"value": {"detail": error.default_detail}}
        entry["description"] = " / ".join(
            example["value"]["detail"] for example in examples.values()
        )
        if error is RateLimited:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer"},
                }
            }
    return responses


async def _render_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _render_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, except that the echoed input is made encodable first: a lone surrogate
    (`"\\ud800"` in JSON) would otherwise turn the refusal itself into a 500."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": scrub(jsonable_encoder(exc.errors()))}, status_code=422)


async def _render_outage(connection: HTTPConnection, exc: Exception) -> JSONResponse | None:
    """A database that refuses connections is an outage, not a bug: 503 with Retry-After
    (logged once per outage). Anything else stays a 500 with its traceback."""
    if not is_unavailable(exc):
        raise exc
    availability.failed(exc)
    refusal = Unavailable("The database is unavailable; retry shortly.")
    response = JSONResponse(
        {"detail": refusal.detail}, status_code=refusal.status_code, headers=refusal.headers
    )
    if not isinstance(connection, WebSocket):
        return response
    # A WebSocket handshake: refused with the same HTTP 503 where the server supports
    # denial responses (uvicorn does), else closed before accept.
    try:
        await connection.send_denial_response(response)
    except RuntimeError:
        await connection.close(TRY_AGAIN_LATER, "database unavailable")
    return None


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _render_domain_error)
    app.add_exception_handler(RequestValidationError, _render_validation_error)
    # One handler for requests and WebSocket handshakes (Starlette calls it for both).
    handler: Any = _render_outage
    app.add_exception_handler(SQLAlchemyError, handler)
    app.add_exception_handler(OSError, handler)  # drivers raise refusals unwrapped
