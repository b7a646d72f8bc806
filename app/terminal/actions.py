"""What the slash commands do. Rooms are found and joined over REST (`chat.client`, a
`ParleyClient`); the live side (the session, the room on screen) belongs to `chat.Chat`."""

from __future__ import annotations

from app.client.models import Message
from app.terminal import commands, render
from app.terminal.chat import Chat
from app.terminal.view import RoomView

REPLIES_SHOWN = 200


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
    # All shown of the room on screen: read, though our read marker may be on its way.
    shown = {view.id: view.last_seq} if view is not None else {}
    all_read = next((r.id for r in rooms if shown.get(r.id, -1) >= r.last_seq), None)
    chat.ui.show(render.room_list(rooms, view.id if view else None, all_read=all_read))


async def join(chat: Chat, name: str) -> None:
    rooms = await chat.fetch_rooms()
    room = next((r for r in rooms if r.name.casefold() == name.casefold()), None)
    if room is None:
        safe = render.sanitize(name)
        chat.ui.error(f"No room called #{safe} here: /rooms lists them, /create {safe} makes it.")
        return
    room_name = render.sanitize(room.name)
    if chat.current is not None and chat.current.id == room.id:
        chat.ui.info(f"You are already in #{room_name}.")
        return
    if room.role is None:
        await chat.client.add_member(room.id, chat.me)
        chat.ui.info(f"You joined #{room_name}.")
    await chat.open_room(room)


async def create(chat: Chat, name: str, *, private: bool) -> None:
    room = await chat.client.create_room(name, visibility="private" if private else "public")
    kind = "private" if private else "public"
    chat.ui.info(f"Created the {kind} room #{render.sanitize(room.name)}.")
    await chat.open_room(room)


async def leave(chat: Chat) -> None:
    view = chat.require_room()
    if view is not None:
        await chat.client.remove_member(view.id, chat.me)
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
    page = await chat.client.messages(view.id, before_seq=before, limit=count)
    if not page.messages:
        view.oldest_seq = 1
        chat.ui.info(f"That is the beginning of #{render.sanitize(view.name)}.")
        return
    view.oldest_seq = page.messages[0].seq
    for item in page.messages:
        view.remember(item)
    chat.ui.show(
        render.earlier_messages(
            page.messages,
            me_id=chat.me,
            room_name=view.name,
            has_more=page.has_more,
            line=lambda item: view.line(item, me_id=chat.me),
        )
    )


async def find(chat: Chat, view: RoomView, number: int) -> Message | None:
    """Message `number` of the room on screen: remembered, or fetched by its seq."""
    item = view.known.get(number)
    if item is None and number >= 1:
        page = await chat.client.messages(view.id, after_seq=number - 1, limit=1)
        if page.messages and page.messages[0].seq == number:
            item = page.messages[0]
            view.remember(item)
    if item is None:
        chat.ui.error(f"There is no message {number} in {view.title}.")
    elif item.deleted:
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
    mine = any(r.emoji == emoji and chat.me in r.user_ids for r in item.reactions)
    change = chat.client.unreact if mine else chat.client.react
    updated = await change(view.id, item.id, emoji)
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
        await chat.say(body, reply_to=item.id)


async def thread(chat: Chat, number: int) -> None:
    """Message `number`'s thread: its first message and the replies (a reply's number shows
    the thread it belongs to)."""
    view = chat.require_room()
    if view is None:
        return
    item = await find(chat, view, number)
    if item is None:
        return
    root_id = item.reply_to
    root = item if root_id is None else view.by_id(root_id)
    page = await chat.client.replies(view.id, root_id or item.id, limit=REPLIES_SHOWN)
    for each in page.messages:
        view.remember(each)
    chat.ui.show(
        render.thread(
            root,
            page.messages,
            me_id=chat.me,
            me_username=chat.me_username,
            has_more=page.has_more,
        )
    )


async def direct_message(chat: Chat, username: str) -> None:
    """Open the direct conversation with `username`, starting it if new."""
    users = await chat.client.users(username, limit=50)
    user = next((u for u in users if u.username.casefold() == username.casefold()), None)
    if user is None:
        chat.ui.error(f"Nobody is called {render.sanitize(username)} here.")
        return
    if user.id == chat.me:
        chat.ui.error("That is you: a direct message needs someone else.")
        return
    room = await chat.client.open_dm(user.id)
    if chat.current is not None and chat.current.id == room.id:
        chat.ui.info(f"You are already talking with {render.room_title(room)}.")
        return
    await chat.open_room(room)


async def search(chat: Chat, query: str) -> None:
    """Messages of the room on screen that match `query`, best first, with their numbers."""
    view = chat.require_room()
    if view is None:
        return
    found = await chat.client.search(view.id, query)
    for item in found:
        view.remember(item)
    chat.ui.show(
        render.search_results(found, query=query, me_id=chat.me, me_username=chat.me_username)
    )
