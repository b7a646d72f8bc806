"""Small pieces of the client: URLs, backoff, the outbox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.terminal.app import normalise_server
from app.terminal.connection import Backoff, websocket_url
from app.terminal.outbox import Outbox
from tests.support.server import PARLEY, clean_environment


@pytest.mark.parametrize(
    ("given", "server"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("chat.example:8000", "http://chat.example:8000"),
        (" https://chat.example/parley/ ", "https://chat.example/parley"),
    ],
)
def test_server_urls_are_normalised(given: str, server: str) -> None:
    assert normalise_server(given) == server


@pytest.mark.parametrize(
    ("server", "ws"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
        ("https://chat.example/parley", "wss://chat.example/parley/ws"),
    ],
)
def test_the_websocket_url_follows_the_server_url(server: str, ws: str) -> None:
    assert websocket_url(server) == ws


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_every_line_gets_its_own_client_id_until_it_is_settled() -> None:
    outbox = Outbox()
    first, second = outbox.add(1, "one"), outbox.add(1, "two")
    assert first.client_id != second.client_id
    assert [p.body for p in outbox] == ["one", "two"]
    assert first.frame() == {
        "type": "send",
        "room_id": 1,
        "body": "one",
        "client_id": first.client_id,
        "ref": first.client_id,
    }
    assert outbox.settle(first.client_id) is first
    assert outbox.settle(first.client_id) is None
    assert outbox.get(second.client_id) is second
    assert len(outbox) == 1


async def test_emptied_waits_for_the_last_acknowledgement() -> None:
    import asyncio

    outbox = Outbox()
    await asyncio.wait_for(outbox.emptied(), 0.1)
    pending = outbox.add(1, "one")
    waiter = asyncio.create_task(outbox.emptied())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    outbox.settle(pending.client_id)
    await asyncio.wait_for(waiter, 0.1)


def test_chat_needs_a_terminal(tmp_path: Path) -> None:
    result = subprocess.run(
        [PARLEY, "chat", "--server", "http://127.0.0.1:9"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=clean_environment(PARLEY_CONFIG_DIR=str(tmp_path)),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "needs an interactive terminal" in result.stderr
    assert "Traceback" not in result.stderr
