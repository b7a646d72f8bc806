"""The terminal: one input line at the bottom, everything else printed above it.

Lines are printed with `print_formatted_text`, which, while the prompt is running, erases
the prompt, prints, and draws the prompt again, so incoming messages never garble what is
being typed. `patch_stdout` catches anything else written to stdout or stderr.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import is_dumb_terminal

from app.terminal import render
from app.terminal.commands import ALIASES, COMMANDS

STYLE = Style.from_dict(
    {
        "time": "ansibrightblack",
        "me": "bold",
        "author": "bold",
        "body": "",
        "note": "ansibrightblack",
        "deleted": "ansibrightblack italic",
        "number": "ansibrightblack",
        "mention": "reverse bold",
        "extras": "ansibrightblack",
        "system": "ansibrightblack",
        "header": "bold",
        "unread": "bold",
        "error": "ansired bold",
        "prompt": "bold",
    }
)


class ChatCompleter(Completer):
    """Tab completes command names, and room names after /join."""

    def __init__(self, room_names: Callable[[], Iterable[str]]) -> None:
        self._room_names = room_names

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/"):
            return
        if " " not in text:
            for name in COMMANDS:
                if name.startswith(text[1:].lower()):
                    yield Completion(f"/{name}", start_position=-len(text))
            return
        command, _, partial = text[1:].partition(" ")
        if ALIASES.get(command.lower(), command.lower()) == "join" and " " not in partial:
            wanted = partial.lstrip("#").casefold()
            for name in sorted(self._room_names(), key=str.casefold):
                if name.casefold().startswith(wanted):
                    yield Completion(name, start_position=-len(partial))


class Terminal:
    def __init__(self) -> None:
        self.dumb = is_dumb_terminal()
        self.prompt: Callable[[], str] = lambda: "> "
        self.status: Callable[[], str] = lambda: ""
        self.on_typing: Callable[[], None] = lambda: None
        self.room_names: Callable[[], Iterable[str]] = list
        self._reading = False
        # Created before `patch_stdout` so that they (and printing) keep the real terminal.
        self._input: PromptSession[str] = PromptSession(
            completer=ChatCompleter(lambda: self.room_names()),
            complete_while_typing=False,
            reserve_space_for_menu=0,
            style=STYLE,
        )
        self._questions: PromptSession[str] = PromptSession(style=STYLE)
        self._input.default_buffer.on_text_changed += self._text_changed

    # Output -----------------------------------------------------------------------------

    def show(self, fragments: render.Fragments) -> None:
        print_formatted_text(FormattedText(fragments), style=STYLE)

    def info(self, text: str) -> None:
        self.show(render.system(text))

    def error(self, text: str) -> None:
        self.show(render.error(text))

    def refresh(self) -> None:
        """Redraw the prompt and status line (after the state they show changed)."""
        app = self._input.app
        if self._reading and app.is_running:
            app.invalidate()

    def capture_output(self) -> AbstractContextManager[None]:
        return patch_stdout(raw=True)

    # Input ------------------------------------------------------------------------------

    async def read_line(self) -> str:
        """The next line typed at the chat prompt (EOFError on Ctrl-D)."""
        self._reading = True
        try:
            return await self._input.prompt_async(
                lambda: FormattedText([("class:prompt", self.prompt())]),
                bottom_toolbar=None if self.dumb else self._toolbar,
            )
        finally:
            self._reading = False

    def interrupt(self, exc: BaseException) -> bool:
        """End a pending `read_line` by raising `exc` from it; False if none is pending."""
        app = self._input.app
        if self._reading and app.future is not None and not app.future.done():
            app.exit(exception=exc)
            return True
        return False

    async def ask(self, question: str, default: str = "") -> str:
        # PromptSession remembers options between calls: say them all every time.
        answer = await self._questions.prompt_async(question, default=default, is_password=False)
        return answer.strip()

    async def ask_password(self, question: str) -> str:
        if self.dumb:  # the dumb prompt would echo every character
            return await asyncio.to_thread(getpass.getpass, question)
        return await self._questions.prompt_async(question, default="", is_password=True)

    async def confirm(self, question: str) -> bool:
        return (await self.ask(f"{question} [y/N] ")).lower() in ("y", "yes")

    def _toolbar(self) -> FormattedText | None:
        status = self.status()
        return FormattedText([("", f" {status} ")]) if status else None

    def _text_changed(self, buffer: Buffer) -> None:
        if buffer.text and not buffer.text.startswith("/"):
            self.on_typing()


class TerminalLogHandler(logging.Handler):
    """Warnings and errors from the client's own logging, shown as chat lines."""

    def __init__(self, terminal: Terminal) -> None:
        super().__init__(logging.WARNING)
        self._terminal = terminal

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._terminal.show(render.error(f"{record.name}: {record.getMessage()}"))
        except Exception:
            self.handleError(record)
