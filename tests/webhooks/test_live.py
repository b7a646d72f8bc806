"""Real server processes: a SIGKILL mid-delivery, and two processes sharing one webhook."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from tests.support.rooms import create_room, send
from tests.support.server import LiveServer, ServerFactory
from tests.support.users import UserFactory
from tests.support.webhook_receiver import Receiver
from tests.support.webhooks import create_webhook

# Earlier tests' webhooks in the live database would be delivered by these servers too.
pytestmark = [pytest.mark.live, pytest.mark.usefixtures("only_this_tests_webhooks")]

# An attempt lasts at most 2 s and a lease 3 s: a killed process's webhook is taken over
# about 3 s after its last renewal.
ENV = {
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "WEBHOOK_POLL_INTERVAL_SECONDS": "0.2",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "0.05",
    "WEBHOOK_BACKOFF_MAX_SECONDS": "0.2",
    "WEBHOOK_TIMEOUT_SECONDS": "1.5",
    "WEBHOOK_LEASE_SECONDS": "3",
}


async def start(make_server: ServerFactory, **extra: str) -> LiveServer:
    return await asyncio.to_thread(make_server, **{**ENV, **extra})


async def test_sigkill_mid_delivery_repeats_only_the_one_in_flight(
    make_server: ServerFactory, receiver: Receiver
) -> None:
    server = await start(make_server)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        owner = await UserFactory(client).create()
        room = await create_room(client, owner)
        await create_webhook(client, owner, room["id"], receiver)
        receiver.hold = asyncio.Event()  # the first delivery is held open...
        sent = [await send(client, owner, room["id"], f"message {n}") for n in range(4)]
        await receiver.wait_for(1)
        server.stop(signal.SIGKILL)  # ...while Parley dies
    in_flight = receiver.of()[0].delivery_id
    receiver.hold.set()
    receiver.hold = None

    await start(make_server)  # the same database; waits out the dead process's lease
    await receiver.wait_for(5, timeout=30)
    await asyncio.sleep(0.5)
    got = receiver.of()
    assert [r.payload["rev"] for r in got] == [sent[0]["rev"]] + [m["rev"] for m in sent]
    assert [r.delivery_id for r in got][:2] == [in_flight, in_flight]  # repeated, same id
    assert len({r.delivery_id for r in got[1:]}) == 4  # nothing else twice, nothing lost
    assert all(r.signed for r in got)


@pytest.mark.postgres_only
async def test_two_processes_never_deliver_one_webhook_at_once(
    make_server: ServerFactory, receiver: Receiver
) -> None:
    first, second = await start(make_server), await start(make_server)
    async with (
        httpx.AsyncClient(base_url=first.base_url) as one,
        httpx.AsyncClient(base_url=second.base_url) as two,
    ):
        owner = await UserFactory(one).create()
        paths = [f"/hook/{n}" for n in range(3)]
        rooms = [await create_room(one, owner) for _ in paths]
        for room, path in zip(rooms, paths, strict=True):
            await create_webhook(one, owner, room["id"], receiver, path=path)

        async def slow_receiver_wakes_both() -> None:
            # Both processes commit into every room, so both are woken for every webhook.
            for n in range(6):
                for room in rooms:
                    await send(one if n % 2 else two, owner, room["id"], f"m{n}")

        receiver.hold = asyncio.Event()
        await slow_receiver_wakes_both()
        await asyncio.sleep(0.5)  # both processes see due webhooks while they are held
        receiver.hold.set()
        receiver.hold = None
        for path in paths:
            await receiver.wait_for(6, path=path, timeout=30)
    await asyncio.sleep(0.5)
    assert receiver.overlaps == []
    for path in paths:
        got = receiver.of(path)
        revs = [r.payload["rev"] for r in got]
        assert revs == sorted(revs), (path, revs)
        assert len(set(revs)) == 6, (path, revs)
        assert all(r.signed for r in got)
