"""Echo bot: answers `!echo X` with X and reacts 👀 to messages that mention it.

Run it as a bot account (create one with `POST /bots`; see the README's "Bots"):
    PARLEY_URL=http://127.0.0.1:8000 PARLEY_API_KEY=pk_… python examples/echo_bot.py
or as an ordinary account:
    PARLEY_URL=http://127.0.0.1:8000 PARLEY_USERNAME=echo PARLEY_PASSWORD=… \
    python examples/echo_bot.py
"""

import asyncio
import os

from app.client import ParleyClient
from app.client.models import Mention, MessageFrame


async def main() -> None:
    api_key = os.environ.get("PARLEY_API_KEY")
    async with ParleyClient(os.environ["PARLEY_URL"], api_key=api_key) as client:
        if api_key is None:
            await client.login(os.environ["PARLEY_USERNAME"], os.environ["PARLEY_PASSWORD"])
        me = await client.me()
        rooms = [room for room in await client.rooms() if room.role]  # the rooms we're in
        since = {room.id: room.last_rev for room in rooms}  # live from now: no old commands
        async with client.session(since, since_rev=since) as session:
            await session.wait_live()
            print("ready", flush=True)  # noqa: T201 (tells a supervisor it is live)
            async for event in session:
                if isinstance(event, MessageFrame) and event.message.author.id != me.id:
                    if event.message.body.startswith("!echo "):
                        await session.send(event.message.room_id, event.message.body[6:])
                elif isinstance(event, Mention):
                    await session.react(event.room_id, event.message.id, "👀")


if __name__ == "__main__":
    asyncio.run(main())
