"""What the slash commands do. Rooms are found and joined over REST; the live side (the
socket, the room on screen) belongs to `chat.Chat`."""

from __future__ import annotations

from app.terminal import commands, render
from app.terminal.chat import Chat


async def perform(chat: Chat, action: commands.Action) -> None:
    """Carry out one parsed line (except /quit and /logout, which end the loop)."""
    match action:
        case commands.Say(body):
            await chat.say(body)
        case commands.Rooms():
            await list_rooms(chat)
        case commands.Join(name):
            await join(chat, name)
        case commands.Create(name, private):
            await create(chat, name, private=private)
        case commands.Leave():
            await leave(chat)
        case commands.Who():
            who(chat)
        case commands.History(count):
            await history(chat, count)
        case commands.Help():
            chat.ui.info(commands.help_text())


async def list_rooms(chat: Chat) -> None:
    rooms = await chat.fetch_rooms()
    view = chat.current
    for room in rooms:
        if view is not None and room["id"] == view.id and view.last_seq >= room["last_seq"]:
            room["unread_count"] = 0  # all shown; our read marker may still be on its way
    chat.ui.show(render.room_list(rooms, view.id if view else None))


async def join(chat: Chat, name: str) -> None:
    rooms = await chat.fetch_rooms()
    room = next((r for r in rooms if str(r["name"]).casefold() == name.casefold()), None)
    if room is None:
        safe = render.sanitize(name)
        chat.ui.error(f"No room called #{safe} here: /rooms lists them, /create {safe} makes it.")
        return
    room_name = render.sanitize(str(room["name"]))
    if chat.current is not None and chat.current.id == room["id"]:
        chat.ui.info(f"You are already in #{room_name}.")
        return
    if room.get("role") is None:
        await chat.api.join_room(int(room["id"]), chat.me)
        chat.ui.info(f"You joined #{room_name}.")
    await chat.open_room(room)


async def create(chat: Chat, name: str, *, private: bool) -> None:
    room = await chat.api.create_room(name, private=private)
    kind = "private" if private else "public"
    chat.ui.info(f"Created the {kind} room #{render.sanitize(str(room['name']))}.")
    await chat.open_room(room)


async def leave(chat: Chat) -> None:
    view = chat.require_room()
    if view is not None:
        await chat.api.leave_room(view.id, chat.me)
        chat.forget(view, "You left #{}.")


def who(chat: Chat) -> None:
    view = chat.require_room()
    if view is None:
        return
    if not chat.subscribed_to(view):
        chat.ui.info("Not connected right now; presence is unknown.")
        return
    chat.ui.show(render.who(list(view.online.values()), view.name))


async def history(chat: Chat, count: int) -> None:
    """Older messages than any shown, via `before_seq`."""
    view = chat.require_room()
    if view is None:
        return
    before = view.oldest_seq if view.oldest_seq is not None else view.last_seq + 1
    if before <= 1:
        chat.ui.info(f"That is the beginning of #{render.sanitize(view.name)}.")
        return
    page, has_more = await chat.api.history(view.id, before_seq=before, limit=count)
    if not page:
        view.oldest_seq = 1
        chat.ui.info(f"That is the beginning of #{render.sanitize(view.name)}.")
        return
    view.oldest_seq = int(page[0]["seq"])
    for item in page:
        view.remember_author(item)
    chat.ui.show(
        render.earlier_messages(page, me_id=chat.me, room_name=view.name, has_more=has_more)
    )
