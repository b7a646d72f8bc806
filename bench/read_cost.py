"""Server CPU per REST read, without an HTTP client or a network in the way: the app is
driven in-process through ASGI, so the figure is Parley's own work per call (FastAPI,
authentication, SQLAlchemy, asyncpg, serialization), the number that caps how many reads
one process answers per second, and so the history benchmark's latencies with 8 clients.

    python -m bench.history --messages 100000 --rooms 100 --keep-database   # once
    python -m bench.read_cost --database parley_history_100000_100

Each path is called `--calls` times after a warm-up; the CPU time (process_time, so time
spent waiting for PostgreSQL does not count) is printed per call, best of three slices.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from bench import database
from bench.history import PASSWORD

PATHS = (
    "/healthz",
    "/users/me",
    "/rooms/{room}",
    "/rooms/{room}/messages?limit=1",
    "/rooms/{room}/messages",
    "/rooms/{room}/changes?after_rev=1000",
    "/rooms/{room}/messages/search?q=meeting",
    "/rooms",
)


async def call(app: Any, path: str, token: str) -> int:
    """One GET through the ASGI app; its status."""
    bare, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": bare,
        "raw_path": bare.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def measure(url: str, username: str, paths: list[str], calls: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            _env_file=None,
            database_url=url,
            data_dir=Path(data),
            login_attempts_per_minute=0,
            broker_url="memory://",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                login = await http.post(
                    "/auth/login", data={"username": username, "password": PASSWORD}
                )
                login.raise_for_status()
                token = login.json()["access_token"]
                rooms = await http.get("/rooms", headers={"Authorization": f"Bearer {token}"})
                room = next(r["id"] for r in rooms.json()["rooms"] if r.get("member", True))
            print(f"server CPU per call, best of 3 slices of {calls // 3} calls (room {room})")
            for template in paths:
                path = template.format(room=room)
                for _ in range(20):
                    status = await call(app, path, token)
                    if status != 200:
                        raise SystemExit(f"{path}: HTTP {status}")
                slices = []
                for _ in range(3):
                    began = time.process_time()
                    for _ in range(calls // 3):
                        await call(app, path, token)
                    slices.append(1000 * (time.process_time() - began) / (calls // 3))
                each = " ".join(f"{s:.2f}" for s in slices)
                print(f"  {path:<45} {min(slices):6.2f} ms   ({each})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="a database made by bench.history")
    parser.add_argument("--admin-url", default=database.DEFAULT_ADMIN_URL)
    parser.add_argument("--user", default="user1", help="bench.history's user in 200 rooms")
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--paths", nargs="*", default=list(PATHS))
    args = parser.parse_args()
    url = make_url(args.admin_url).set(drivername="postgresql+asyncpg", database=args.database)
    asyncio.run(
        measure(url.render_as_string(hide_password=False), args.user, args.paths, args.calls)
    )


if __name__ == "__main__":
    main()
