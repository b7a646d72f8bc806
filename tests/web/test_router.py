"""Serving the page: `/`, `/static/`, their headers, and nothing loaded from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from app.web.router import STATIC_DIR


async def test_the_page_is_served_at_the_root_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Parley</title>" in response.text
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_static_files_are_served_and_revalidated(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/js/app.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    again = await client.get("/static/js/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert (await client.get("/static/style.css")).headers["content-type"].startswith("text/css")


async def test_nothing_outside_the_static_folder_is_served(client: httpx.AsyncClient) -> None:
    for path in ("/static/../router.py", "/static/%2e%2e/router.py", "/static/nope.js"):
        assert (await client.get(path)).status_code == 404


async def test_the_page_routes_stay_out_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/static") for path in paths)


def test_the_page_loads_only_its_own_files() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith("/static/"), url
    for script in Path(STATIC_DIR / "js").glob("*.js"):
        source = script.read_text()
        for specifier in re.findall(r'^import .* from "([^"]+)";$', source, re.MULTILINE):
            assert specifier.startswith("./"), f"{script.name} imports {specifier}"
        assert "innerHTML" not in source, f"{script.name} uses innerHTML"
        assert 'fetch("http' not in source
