from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response

from app.core import metrics
from app.dependencies import SettingsDep, StateDep

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is unreachable."}})
async def readyz(state: StateDep) -> JSONResponse:
    """Ready to serve: the database and the broker answer."""
    checks = await state.check_readiness()
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request, settings: SettingsDep) -> Response:
    """Prometheus text format; every worker process's values summed (see app/core/metrics)."""
    if not settings.metrics_enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "A valid metrics token is required.",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
