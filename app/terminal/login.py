"""Getting a session: the saved one if it still works, else the username/password prompts
(with an offer to create the account when the login fails)."""

from __future__ import annotations

import re

from app.terminal.api import Api, ApiError, Tokens
from app.terminal.auth import Session, SessionEnded
from app.terminal.credentials import CredentialStore
from app.terminal.ui import Terminal

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
MIN_PASSWORD, MAX_PASSWORD = 8, 128


class LoginCancelled(Exception):
    """The user pressed Ctrl-C or Ctrl-D at a login prompt."""


async def sign_in(
    *,
    api: Api,
    store: CredentialStore,
    server: str,
    ui: Terminal,
    username: str | None,
    signup: bool = False,
) -> Session:
    """A working session for `server`. Raises LoginCancelled, or ServerUnreachable."""
    saved = store.load(server)
    same_user = saved is not None and (
        username is None or username.casefold() == saved.username.casefold()
    )
    if saved is not None and same_user and not signup:
        try:
            return await Session.resume(api=api, store=store, server=server, saved=saved)
        except SessionEnded:
            ui.info(f"The saved session for {saved.username} has ended; please log in again.")
            username = saved.username
    try:
        if signup:
            name, tokens = await create_account(api, ui, username)
        else:
            ui.info(f"Log in to {server} (Ctrl-D to give up).")
            name, tokens = await ask_login(api, ui, username)
    except (EOFError, KeyboardInterrupt):
        raise LoginCancelled() from None
    return await Session.start(api=api, store=store, server=server, username=name, tokens=tokens)


async def ask_login(
    api: Api, ui: Terminal, username: str | None, *, offer_signup: bool = True
) -> tuple[str, Tokens]:
    """Prompt until a login works. After a failure, offer to create the account."""
    name = username
    while True:
        if not name:
            name = await _ask_username(ui, "Username: ")
        password = await ui.ask_password(f"Password for {name}: ")
        try:
            return name, await api.login(name, password)
        except ApiError as exc:
            if exc.status != 401:
                ui.error(exc.detail)
                continue
        ui.error("Wrong username or password.")
        if offer_signup and await ui.confirm(f"No account called {name} yet? Create it now?"):
            created = await _sign_up(api, ui, name, password)
            if created is not None:
                return created
        name = None if offer_signup else name


async def create_account(api: Api, ui: Terminal, username: str | None) -> tuple[str, Tokens]:
    """The --signup flow: choose a username and password until the server accepts them."""
    ui.info("Create an account (Ctrl-D to give up).")
    name = username
    while True:
        if not name:
            name = await _ask_username(ui, "Choose a username: ")
        password = await ui.ask_password("Choose a password: ")
        created = await _sign_up(api, ui, name, password)
        if created is not None:
            return created
        name = None


async def _sign_up(api: Api, ui: Terminal, name: str, password: str) -> tuple[str, Tokens] | None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        ui.error(f"A password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
        return None
    if await ui.ask_password("Repeat the password: ") != password:
        ui.error("The passwords differ.")
        return None
    display_name = await ui.ask(f"Display name (Enter for {name}): ")
    try:
        await api.signup(name, password, display_name or None)
    except ApiError as exc:
        if exc.status == 409:
            ui.error(f"{name} is already taken (so it was the password that was wrong).")
        else:
            ui.error(exc.detail)
        return None
    ui.info(f"Account {name} created.")
    return name, await api.login(name, password)


async def _ask_username(ui: Terminal, question: str) -> str:
    while True:
        name = await ui.ask(question)
        if USERNAME.fullmatch(name):
            return name
        ui.error("A username is 3 to 32 letters, digits, '_', '.' or '-'.")
