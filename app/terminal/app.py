"""`parley chat`: log in, then read lines and act on them until /quit."""

from __future__ import annotations

import asyncio
import logging
import sys

from app.client import NotLoggedIn, ParleyClient, ParleyError, User
from app.terminal import actions, commands, login
from app.terminal.chat import Chat, describe
from app.terminal.credentials import CredentialStore
from app.terminal.render import display_name, sanitize
from app.terminal.ui import Terminal, TerminalLogHandler

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 15.0


class _Interrupted(Exception):
    """Ends a pending prompt so the main loop can react (session ended, task failed)."""


def run_chat(
    *,
    server: str,
    room: str | None,
    username: str | None,
    signup: bool = False,
    log_file: str | None = None,
) -> int:
    """Run the terminal client; returns the process exit code."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("parley chat: needs an interactive terminal (stdin and stdout).", file=sys.stderr)
        return 2
    ui = Terminal()
    _configure_logging(ui, log_file)
    try:
        return asyncio.run(
            _main(ui, normalise_server(server), room=room, username=username, signup=signup)
        )
    except KeyboardInterrupt:
        return 130


def normalise_server(server: str) -> str:
    """`host:8000` -> `http://host:8000`; no trailing slash (it keys the saved session)."""
    server = server.strip()
    if "://" not in server:
        server = f"http://{server}"
    return server.rstrip("/")


async def _main(
    ui: Terminal, server: str, *, room: str | None, username: str | None, signup: bool
) -> int:
    store = CredentialStore.default()
    async with ParleyClient(server, timeout=HTTP_TIMEOUT_SECONDS) as client:
        try:
            user = await login.sign_in(
                client=client, store=store, server=server, ui=ui, username=username, signup=signup
            )
        except login.LoginCancelled:
            return 1
        except ParleyError as exc:
            ui.error(describe(exc))
            return 1
        who = _signed_in_as(user)
        ui.info(f"Signed in as {who} on {server}. /help lists the commands, /quit leaves.")
        chat = Chat(client=client, user=user, ui=ui)
        return await Conversation(chat=chat, store=store, server=server).run(room)


def _signed_in_as(user: User) -> str:
    name, username = display_name(user), sanitize(user.username)
    return name if name == username else f"{name} ({username})"


class Conversation:
    """The main loop: one line at a time, while the session's events are shown beside it."""

    def __init__(self, *, chat: Chat, store: CredentialStore, server: str) -> None:
        self.chat = chat
        self.ui = chat.ui
        self.client = chat.client
        self.store = store
        self.server = server
        self._login_needed = False
        self._failure: BaseException | None = None
        chat.on_logged_out = self._session_ended

    async def run(self, room: str | None) -> int:
        with self.ui.capture_output():
            events = asyncio.create_task(self.chat.run(), name="parley-session")
            events.add_done_callback(self._task_done)
            try:
                await self._do(commands.Join(room) if room else commands.Rooms())
                return await self._loop()
            finally:
                await self.chat.close()
                events.cancel()
                await asyncio.gather(events, return_exceptions=True)

    async def _loop(self) -> int:
        while True:
            if self._failure is not None:
                return 1
            if self._login_needed and not await self._log_in_again():
                return 1
            try:
                line = await self.ui.read_line()
            except _Interrupted:
                continue
            except (EOFError, KeyboardInterrupt):
                return 0
            try:
                action = commands.parse(line)
            except commands.CommandError as exc:
                self.ui.error(str(exc))
                continue
            if isinstance(action, commands.Quit):
                return 0
            if isinstance(action, commands.Logout):
                await self._log_out()
                return 0
            if action is not None:
                await self._do(action)

    async def _do(self, action: commands.Action) -> None:
        try:
            await actions.perform(self.chat, action)
        except NotLoggedIn:
            self._login_needed = True
        except ParleyError as exc:
            self.ui.error(describe(exc))

    async def _log_in_again(self) -> bool:
        self.ui.error("Your session has ended (logged out elsewhere, or expired).")
        self.ui.info("Log in again to continue, or press Ctrl-D to quit.")
        try:
            # The client saves the new login; the session, waiting for it, resumes.
            await login.ask_login(self.client, self.ui, self.chat.user.username, offer_signup=False)
        except (EOFError, KeyboardInterrupt):
            return False
        except ParleyError as exc:
            self.ui.error(describe(exc))
            return True  # ask again on the next turn
        self._login_needed = False
        self.ui.info("Signed in again.")
        return True

    async def _log_out(self) -> None:
        await self.chat.session.close()
        try:
            await self.client.logout()
        except ParleyError as exc:
            self.ui.error(f"The server did not confirm the logout: {describe(exc)}")
        self.store.forget(self.server)
        self.ui.info("Logged out; the saved login is forgotten.")

    def _session_ended(self, _reason: str) -> None:
        self._login_needed = True
        self.ui.interrupt(_Interrupted())

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self._failure = task.exception()
        logger.error("%s failed: %r", task.get_name(), self._failure)
        self.ui.interrupt(_Interrupted())


def _configure_logging(ui: Terminal, log_file: str | None) -> None:
    """Diagnostics go to `log_file` if given; otherwise warnings show up as chat lines.
    (The default stderr handler would scribble over the prompt.)"""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG)
        for noisy in ("websockets", "httpcore", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.INFO)
    else:
        handler = TerminalLogHandler(ui)
        root.setLevel(logging.WARNING)
    root.addHandler(handler)
