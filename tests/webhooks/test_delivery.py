"""Deliveries from the change log, by a worker that commits for real: every event once, in
`rev` order, signed; through a receiver outage; `disabled` after the configured failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.support.rooms import add_member, create_room, send
from tests.support.users import UserFactory
from tests.support.webhook_receiver import Receiver
from tests.support.webhooks import create_webhook
from tests.webhooks.conftest import DeliveringApp


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not so after {timeout} s")


def accepted_order(received: list[Any]) -> list[tuple[int, str]]:
    return [(r.payload["rev"], r.payload["event"]) for r in received]


def first_of_each(received: list[Any]) -> list[Any]:
    """The requests in order of arrival, a retried delivery counted once."""
    firsts: dict[str, Any] = {}
    for r in received:
        firsts.setdefault(r.delivery_id, r)
    return list(firsts.values())


async def test_private_room_changes_are_all_delivered_signed_in_rev_order(
    delivering: httpx.AsyncClient, people: UserFactory, receiver: Receiver
) -> None:
    """Every change, made while the receiver holds the first delivery (so several changes
    to one message wait together), arrives once, in order, each as it was at its rev."""
    client = delivering
    owner, bob = await people.create(), await people.create()
    room = await create_room(client, owner, visibility="private")
    await add_member(client, owner, room["id"], bob)
    await create_webhook(client, owner, room["id"], receiver)
    receiver.hold = asyncio.Event()
    rid = room["id"]

    first = await send(client, owner, rid, "first words")  # the hot path
    await receiver.wait_for(1)  # held: everything below waits behind it
    mention = await send(client, owner, rid, f"hello @{bob.username}")  # created + mention
    reply = await client.post(
        f"/rooms/{rid}/messages",
        json={"body": "a reply", "reply_to": first["id"]},
        headers=bob.headers,
    )  # created, then the root's update
    assert reply.status_code == 201
    edited = await client.patch(
        f"/rooms/{rid}/messages/{first['id']}",
        json={"body": "second words"},
        headers=owner.headers,
    )
    assert edited.status_code == 200
    for method in ("PUT", "DELETE"):
        reacted = await client.request(
            method, f"/rooms/{rid}/messages/{first['id']}/reactions/👍", headers=bob.headers
        )
        assert reacted.status_code == 200
    gone = await client.delete(f"/rooms/{rid}/messages/{first['id']}", headers=owner.headers)
    assert gone.status_code == 204
    receiver.hold.set()
    expected = [
        (first["rev"], "message.created"),
        (mention["rev"], "message.created"),
        (mention["rev"], "mention"),
        (reply.json()["rev"], "message.created"),
        (reply.json()["rev"] + 1, "message.updated"),  # the root: reply_count 1
        (edited.json()["rev"], "message.updated"),
        (edited.json()["rev"] + 1, "reaction"),
        (edited.json()["rev"] + 2, "reaction"),
        (edited.json()["rev"] + 3, "message.deleted"),
    ]
    await receiver.wait_for(len(expected))
    await asyncio.sleep(0.3)  # nothing more comes
    got = receiver.of()
    assert accepted_order(got) == expected
    assert all(r.signed for r in got)
    assert len({r.delivery_id for r in got}) == len(got)
    assert all(r.payload["id"] == r.delivery_id and r.payload["room_id"] == rid for r in got)
    messages = [r.payload["message"] for r in got]
    # Each as that change left it, not as it is now.
    assert messages[0]["body"] == "first words"
    assert messages[0]["rev"] == first["rev"]
    assert messages[2]["mentions"] == [bob.id]
    assert got[2].payload["user_ids"] == [bob.id]
    assert messages[4]["reply_count"] == 1
    assert messages[4]["body"] == "first words"
    assert messages[5]["body"] == "second words"
    assert messages[6]["reactions"][0]["emoji"] == "👍"
    assert got[6].payload["reaction"] == {"emoji": "👍", "user_id": bob.id, "added": True}
    assert got[7].payload["reaction"]["added"] is False
    assert messages[7]["reactions"] == []
    assert messages[8]["deleted"] is True
    assert messages[8]["body"] == ""


async def test_only_subscribed_events_are_sent_and_the_cursor_passes_the_rest(
    delivering: httpx.AsyncClient, people: UserFactory, receiver: Receiver
) -> None:
    client = delivering
    owner, bob = await people.create(), await people.create()
    room = await create_room(client, owner)
    await add_member(client, owner, room["id"], bob)
    hook = await create_webhook(client, owner, room["id"], receiver, events=["mention"])
    await send(client, owner, room["id"], "no one")
    named = await send(client, owner, room["id"], f"@{bob.username} look")
    last = await send(client, owner, room["id"], "no one again")
    await receiver.wait_for(1)

    async def passed_everything() -> bool:
        answer = await client.get(
            f"/rooms/{room['id']}/webhooks/{hook['id']}", headers=owner.headers
        )
        return bool(answer.json()["delivered_rev"] == last["rev"])

    await eventually(passed_everything)
    assert accepted_order(receiver.of()) == [(named["rev"], "mention")]


async def test_a_receiver_down_for_a_while_then_back_gets_every_event_once_in_order(
    delivering: httpx.AsyncClient, people: UserFactory, receiver: Receiver
) -> None:
    client = delivering
    owner = await people.create()
    room = await create_room(client, owner)
    hook = await create_webhook(client, owner, room["id"], receiver)
    await receiver.stop()
    sent = [await send(client, owner, room["id"], f"message {n}") for n in range(5)]
    base = f"/rooms/{room['id']}/webhooks/{hook['id']}"

    async def failed_a_few_times() -> bool:
        log = (await client.get(f"{base}/deliveries", headers=owner.headers)).json()
        return len(log["deliveries"]) >= 3

    await eventually(failed_a_few_times)
    await receiver.start()
    await receiver.wait_for(5)
    await asyncio.sleep(0.3)
    got = receiver.of()
    assert accepted_order(got) == [(m["rev"], "message.created") for m in sent]
    assert all(r.signed for r in got)
    assert [r.payload["message"]["body"] for r in got] == [f"message {n}" for n in range(5)]
    log = (await client.get(f"{base}/deliveries", headers=owner.headers)).json()["deliveries"]
    first_id = got[0].delivery_id
    failures = [d for d in log if d["status_code"] is None]
    # The failed attempts were all at the first change, with its id, numbered 1, 2, 3...
    assert failures
    assert {d["id"] for d in failures} == {first_id}
    assert sorted(d["attempt"] for d in failures) == list(range(1, len(failures) + 1))
    assert (await client.get(base, headers=owner.headers)).json()["failures"] == 0


async def test_disabled_after_the_configured_failures_and_resumed_when_re_enabled(
    delivering_app: DeliveringApp, receiver: Receiver
) -> None:
    async with delivering_app(webhook_max_failures=3) as client:
        people = UserFactory(client)
        owner = await people.create()
        room = await create_room(client, owner)
        hook = await create_webhook(client, owner, room["id"], receiver)
        base = f"/rooms/{room['id']}/webhooks/{hook['id']}"
        receiver.status = 503
        one = await send(client, owner, room["id"], "one")

        async def logged() -> list[tuple[int, int]]:
            log = (await client.get(f"{base}/deliveries", headers=owner.headers)).json()
            return [(d["attempt"], d["status_code"]) for d in reversed(log["deliveries"])]

        async def disabled() -> bool:
            answer = await client.get(base, headers=owner.headers)
            return bool(answer.json()["state"] == "disabled")

        await eventually(disabled)
        # Three failed attempts of the one delivery; a failure need not reach the receiver
        # (on a loaded machine a connection can fail before the request is read), so the
        # delivery log is the record and the receiver saw at most those three.
        failed = await logged()
        assert [attempt for attempt, _status in failed] == [1, 2, 3]
        attempts = receiver.of()
        assert 1 <= len(attempts) <= 3
        assert len({r.delivery_id for r in attempts}) == 1  # the same delivery each time
        two = await send(client, owner, room["id"], "two")
        await asyncio.sleep(0.5)
        assert len(receiver.of()) == len(attempts)  # a disabled webhook is sent nothing

        receiver.status = 200
        resumed = await client.patch(base, json={"state": "active"}, headers=owner.headers)
        assert resumed.json()["state"] == "active"

        async def entries() -> list[dict[str, Any]]:
            log = (await client.get(f"{base}/deliveries", headers=owner.headers)).json()
            return list(reversed(log["deliveries"]))

        async def both_delivered() -> bool:  # the answer is logged just after it was sent
            return sum(1 for d in await entries() if d["status_code"] == 200) >= 2

        await eventually(both_delivered)
        log = await entries()
        # The same delivery, resumed where it stopped (attempt 1 again), then the next one.
        # An attempt after the resume may still fail (a timeout on a loaded machine): it is
        # retried, so it is logged and may reach the receiver twice; nothing else may.
        delivered = [d for d in log[3:] if d["status_code"] == 200]
        assert [d["rev"] for d in delivered] == [one["rev"], two["rev"]], log
        assert delivered[0]["id"] == log[0]["id"], log
        assert all(d["status_code"] != 200 for d in log[:3]), log
        assert log[3]["attempt"] == 1, log  # re-enabled: counted afresh
        got = receiver.of()[len(attempts) :]
        assert accepted_order(first_of_each(got)) == [
            (one["rev"], "message.created"),
            (two["rev"], "message.created"),
        ]
        assert got[0].delivery_id == attempts[0].delivery_id
