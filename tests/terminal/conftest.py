"""The terminal client, driven in real pseudo-terminals against real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.support.live import api, users  # noqa: F401 (shared fixtures)
from tests.support.terminal import ChatProcess

StartChat = Callable[..., Awaitable[ChatProcess]]


@pytest.fixture
def unique() -> str:
    """A suffix for names: the live database outlives each test."""
    return uuid.uuid4().hex[:6]


@pytest.fixture
async def start_chat(tmp_path: Path) -> AsyncIterator[StartChat]:
    """Start `parley chat` processes (each person has a config directory of their own);
    whatever is still running at the end is killed."""
    started: list[ChatProcess] = []

    async def start(server_url: str, person: str, *args: str) -> ChatProcess:
        chat = await ChatProcess.start(server_url, tmp_path / person, *args, name=person)
        started.append(chat)
        return chat

    yield start
    for chat in started:
        chat.close()
