"""`parley chat` in a real pseudo-terminal, read the way a person sees it.

The child's output is read without blocking the event loop (`add_reader` on the pty) and
matched against the *visible* text: escape sequences (colours, cursor moves, the redrawn
prompt) and carriage returns are stripped, so a pattern says what is on the screen rather
than how prompt_toolkit happened to draw it. `raw` keeps exactly what the terminal got.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import re
from collections.abc import Callable
from pathlib import Path

import pexpect

from tests.support.server import PARLEY, clean_environment

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement, modes
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window title
    r"|\x1b[PX^_][^\x1b]*\x1b\\"  # DCS, SOS, PM, APC
    r"|\x1b[()][0-9A-Za-z]"  # character sets
    r"|\x1b[^\[\]PX^_()]"  # two-character escapes
    r"|[\r\x07\x0e\x0f]"
)


CURSOR_POSITION_REQUEST = "\x1b[6n"


def visible(raw: str) -> str:
    return _ESCAPES.sub("", raw)


class ChatProcess:
    def __init__(self, child: pexpect.spawn, name: str) -> None:
        self.child = child
        self.name = name
        self.raw = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._position = 0
        self._eof = False
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(child.child_fd, self._readable)

    @classmethod
    async def start(
        cls, server_url: str, config_dir: Path, *args: str, name: str = "chat", **env: str
    ) -> ChatProcess:
        settings = {
            "PARLEY_CONFIG_DIR": str(config_dir),
            "HOME": str(config_dir.parent),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        environment = clean_environment(**{**settings, **env})
        child = pexpect.spawn(
            PARLEY,
            ["chat", "--server", server_url, *args],
            env=environment,
            dimensions=(40, 120),
            encoding=None,
        )
        return cls(child, name)

    @property
    def text(self) -> str:
        """Everything shown so far, as visible text."""
        return visible(self.raw)

    def type(self, line: str) -> None:
        """Type a line and press Enter."""
        self.child.send(line.encode() + b"\r")

    def press(self, keys: bytes) -> None:
        self.child.send(keys)

    async def expect(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Wait for `pattern` (a literal string, or a regex) after the previous match."""
        match = await self._wait(pattern, timeout, start=lambda: self._position)
        self._position = match.end()
        return match

    async def shows(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Wait for `pattern` anywhere on the screen so far (for things in any order)."""
        return await self._wait(pattern, timeout, start=lambda: 0)

    async def exit_code(self, timeout: float = 10.0) -> int | None:
        async with asyncio.timeout(timeout):
            while not self._eof:
                await self._next_change()
        await asyncio.to_thread(self.child.wait)
        return self.child.exitstatus  # type: ignore[no-any-return]

    def close(self) -> None:
        self._stop_reading()
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close(force=True)

    async def _wait(
        self, pattern: str | re.Pattern[str], timeout: float, start: Callable[[], int]
    ) -> re.Match[str]:
        regex = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        try:
            async with asyncio.timeout(timeout):
                while True:
                    match = regex.search(self.text, start())
                    if match:
                        return match
                    if self._eof:
                        raise AssertionError(f"{self.name} exited before {regex.pattern!r}")
                    await self._next_change()
        except TimeoutError:
            tail = self.text[-3000:]
            raise AssertionError(
                f"{self.name}: no {regex.pattern!r} within {timeout}s; the screen ends:\n{tail}"
            ) from None

    async def _next_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def _readable(self) -> None:
        try:
            data = os.read(self.child.child_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if data:
            text = self._decoder.decode(data)
            if CURSOR_POSITION_REQUEST in text:
                # Answer as a terminal would: prompt_toolkit lays out its bottom toolbar
                # only once it knows where the cursor is. Say the bottom row, as in a
                # chat that has filled the screen.
                self.child.send(b"\x1b[40;1R")
            self.raw += text
        else:
            self._eof = True
            self._stop_reading()
        self._changed.set()

    def _stop_reading(self) -> None:
        if self.child.child_fd is not None and self.child.child_fd >= 0:
            asyncio.get_running_loop().remove_reader(self.child.child_fd)
