"""`/docs` (Swagger UI) and `/redoc`, served from this server: nothing loads from a CDN.

The assets come from the `fastapi-offline` package (Swagger UI and ReDoc bundles, kept up to
date by its maintainers), mounted as static files; FastAPI's own page builders point at them.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from app.web.router import StaticAssets

DOCS_ASSETS_URL = "/docs-assets"
DOCS_ASSETS_DIR = str(files("fastapi_offline") / "static")

SWAGGER_UI_PARAMETERS: dict[str, Any] = {
    # Keep the Authorize dialog's token across reloads of /docs.
    "persistAuthorization": True,
    # Swagger UI would otherwise send the whole schema to validator.swagger.io for a badge.
    "validatorUrl": None,
}


def install_docs(app: FastAPI) -> None:
    """Serve the docs pages and their assets. Create the app with docs_url=redoc_url=None."""
    app.mount(DOCS_ASSETS_URL, StaticAssets(directory=DOCS_ASSETS_DIR), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API documentation",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API reference",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
