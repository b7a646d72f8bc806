"""Getting a session: the saved one if it still works, else the username/password prompts
(with an offer to create the account when the login fails)."""

from __future__ import annotations

import re

from app.client import ApiError, ParleyClient, SessionRevoked, User
from app.terminal.credentials import CredentialStore, SavedLogin
from app.terminal.ui import Terminal

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
MIN_PASSWORD, MAX_PASSWORD = 8, 128


class LoginCancelled(Exception):
    """The user pressed Ctrl-C or Ctrl-D at a login prompt."""


async def sign_in(
    *,
    client: ParleyClient,
    store: CredentialStore,
    server: str,
    ui: Terminal,
    username: str | None,
    signup: bool = False,
) -> User:
    """Log `client` in to `server` and keep its login in `store`; who we are. Raises
    LoginCancelled, or `Unreachable`."""
    saved = store.load(server)
    same_user = saved is not None and (
        username is None or username.casefold() == saved.username.casefold()
    )
    if saved is not None and same_user and not signup:
        client.store = SavedLogin(store, server, saved.username)
        try:
            await client.resume(saved.refresh_token)
            return await client.me()
        except SessionRevoked:
            ui.info(f"The saved session for {saved.username} has ended; please log in again.")
            username = saved.username
    # Saved only once the server says whose account it is (it keys the file by username).
    client.store = None
    try:
        if signup:
            await create_account(client, ui, username)
        else:
            ui.info(f"Log in to {server} (Ctrl-D to give up).")
            await ask_login(client, ui, username)
    except (EOFError, KeyboardInterrupt):
        raise LoginCancelled() from None
    user = await client.me()
    client.store = SavedLogin(store, server, user.username)
    if client.tokens is not None:
        client.store.save(client.tokens)
    return user


async def ask_login(
    client: ParleyClient, ui: Terminal, username: str | None, *, offer_signup: bool = True
) -> str:
    """Prompt until a login works (the username that did). After a failure, offer to
    create the account."""
    name = username
    while True:
        if not name:
            name = await _ask_username(ui, "Username: ")
        password = await ui.ask_password(f"Password for {name}: ")
        try:
            await client.login(name, password)
            return name
        except ApiError as exc:
            if exc.status != 401:
                ui.error(exc.detail)
                continue
        ui.error("Wrong username or password.")
        question = f"No account called {name} yet? Create it now?"
        if (
            offer_signup
            and await ui.confirm(question)
            and await _sign_up(client, ui, name, password)
        ):
            return name
        name = None if offer_signup else name


async def create_account(client: ParleyClient, ui: Terminal, username: str | None) -> str:
    """The --signup flow: choose a username and password until the server accepts them."""
    ui.info("Create an account (Ctrl-D to give up).")
    name = username
    while True:
        if not name:
            name = await _ask_username(ui, "Choose a username: ")
        password = await ui.ask_password("Choose a password: ")
        if await _sign_up(client, ui, name, password):
            return name
        name = None


async def _sign_up(client: ParleyClient, ui: Terminal, name: str, password: str) -> bool:
    """Create the account and log in to it; False (having said why) if that failed."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        ui.error(f"A password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
        return False
    if await ui.ask_password("Repeat the password: ") != password:
        ui.error("The passwords differ.")
        return False
    display_name = await ui.ask(f"Display name (Enter for {name}): ")
    try:
        await client.signup(name, password, display_name or None)
    except ApiError as exc:
        if exc.status == 409:
            ui.error(f"{name} is already taken (so it was the password that was wrong).")
        else:
            ui.error(exc.detail)
        return False
    ui.info(f"Account {name} created.")
    await client.login(name, password)
    return True


async def _ask_username(ui: Terminal, question: str) -> str:
    while True:
        name = await ui.ask(question)
        if USERNAME.fullmatch(name):
            return name
        ui.error("A username is 3 to 32 letters, digits, '_', '.' or '-'.")
