"""What the slash commands do. Rooms are found and joined over REST; the live side (the
socket, the room on screen) belongs to `chat.Chat`."""

from __future__ import annotations

from app.terminal import commands, render
from app.terminal.api import Message
from app.terminal.chat import Chat
from app.terminal.view import RoomView


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
        case commands.React(number, emoji):
            await react(chat, number, emoji)
        case commands.Reply(number, body):
            await reply(chat, number, body)
        case commands.Thread(number):
            await thread(chat, number)
        case commands.DirectMessage(username):
            await direct_message(chat, username)
        case commands.Search(query):
            await search(chat, query)
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
        view.remember(item)
    chat.ui.show(
        render.earlier_messages(
            page,
            me_id=chat.me,
            room_name=view.name,
            has_more=has_more,
            line=lambda item: view.line(item, me_id=chat.me),
        )
    )


async def find(chat: Chat, view: RoomView, number: int) -> Message | None:
    """Message `number` of the room on screen: remembered, or fetched by its seq."""
    item = view.known.get(number)
    if item is None and number >= 1:
        page, _ = await chat.api.history(view.id, after_seq=number - 1, limit=1)
        if page and int(page[0]["seq"]) == number:
            item = page[0]
            view.remember(item)
    if item is None:
        chat.ui.error(f"There is no message {number} in {view.title}.")
    elif item.get("deleted"):
        chat.ui.error(f"Message {number} was deleted.")
        return None
    return item


async def react(chat: Chat, number: int, emoji: str) -> None:
    """Add our `emoji` to message `number`, or take it back if it is there already."""
    view = chat.require_room()
    if view is None:
        return
    item = await find(chat, view, number)
    if item is None:
        return
    mine = any(
        r.get("emoji") == emoji and chat.me in (r.get("user_ids") or [])
        for r in item.get("reactions") or []
    )
    updated = await chat.api.set_reaction(view.id, int(item["id"]), emoji, on=not mine)
    view.remember(updated)
    shown = render.sanitize(emoji)
    chat.ui.info(
        f"You took back {shown} from message {number}."
        if mine
        else f"You reacted {shown} to message {number}."
    )


async def reply(chat: Chat, number: int, body: str) -> None:
    """Send `body` as a reply in message `number`'s thread."""
    view = chat.require_room()
    if view is None:
        return
    item = await find(chat, view, number)
    if item is not None:
        await chat.say(body, reply_to=int(item["id"]))


async def thread(chat: Chat, number: int) -> None:
    """Message `number`'s thread: its first message and the replies (a reply's number shows
    the thread it belongs to)."""
    view = chat.require_room()
    if view is None:
        return
    item = await find(chat, view, number)
    if item is None:
        return
    root_id = item.get("reply_to")
    root = item if root_id is None else view.by_id(root_id)
    replies, has_more = await chat.api.replies(view.id, int(root_id or item["id"]))
    for each in replies:
        view.remember(each)
    chat.ui.show(
        render.thread(root, replies, me_id=chat.me, me_username=chat.me_username, has_more=has_more)
    )


async def direct_message(chat: Chat, username: str) -> None:
    """Open the direct conversation with `username`, starting it if new."""
    users = await chat.api.find_users(username, limit=50)
    user = next((u for u in users if str(u["username"]).casefold() == username.casefold()), None)
    if user is None:
        chat.ui.error(f"Nobody is called {render.sanitize(username)} here.")
        return
    if int(user["id"]) == chat.me:
        chat.ui.error("That is you: a direct message needs someone else.")
        return
    room = await chat.api.open_dm(int(user["id"]))
    if chat.current is not None and chat.current.id == room["id"]:
        chat.ui.info(f"You are already talking with {render.room_title(room)}.")
        return
    await chat.open_room(room)


async def search(chat: Chat, query: str) -> None:
    """Messages of the room on screen that match `query`, best first, with their numbers."""
    view = chat.require_room()
    if view is None:
        return
    found = await chat.api.search(view.id, query)
    for item in found:
        view.remember(item)
    chat.ui.show(
        render.search_results(found, query=query, me_id=chat.me, me_username=chat.me_username)
    )
