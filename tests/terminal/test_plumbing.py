"""Small pieces of `parley chat`: the server URL, the terminal it needs. (The socket's
backoff, URL and outbox are `app.client`'s: tests/client/test_offline.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.terminal.app import normalise_server
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
