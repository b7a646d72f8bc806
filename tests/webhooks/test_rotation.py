"""Rotating a webhook's signing secret (`POST …/{id}/secret`): the answer shows the new one
once, and from then on every attempt is signed with it only — the next delivery, the retry
of one that failed before, and the rest of a batch the worker had already read. Who may."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest

from app.webhooks.signing import SecretBox
from tests.support.rooms import add_member, create_room, send
from tests.support.users import TestUser, UserFactory
from tests.support.webhook_receiver import Receiver, verify
from tests.support.webhooks import create_webhook
from tests.webhooks.test_delivery import eventually


async def rotate(
    client: httpx.AsyncClient, user: TestUser, room_id: int, webhook_id: int
) -> httpx.Response:
    return await client.post(f"/rooms/{room_id}/webhooks/{webhook_id}/secret", headers=user.headers)


async def rotated(
    client: httpx.AsyncClient, owner: TestUser, room_id: int, hook: dict[str, Any], r: Receiver
) -> str:
    """Rotate as the owner; the receiver switches to the new secret. The new secret."""
    answer = await rotate(client, owner, room_id, hook["id"])
    assert answer.status_code == 200, answer.text
    secret: str = answer.json()["secret"]
    r.secrets["/hook"] = secret
    return secret


async def test_rotation_answers_a_new_secret_once_and_get_still_hides_it(
    client: httpx.AsyncClient,
    users: UserFactory,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = await users.create()
    room = await create_room(client, owner, visibility="private")
    hook = await create_webhook(client, owner, room["id"], receiver, events=["mention"])
    base = f"/rooms/{room['id']}/webhooks/{hook['id']}"
    caplog.set_level(logging.INFO, logger="app.webhooks.service")

    answer = await rotate(client, owner, room["id"], hook["id"])

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    new = body.pop("secret")
    assert new.startswith("whsec_")
    assert new != hook["secret"]
    assert body == {k: v for k, v in hook.items() if k != "secret"}  # the webhook, as it was
    one = (await client.get(base, headers=owner.headers)).json()
    listed = (await client.get(f"/rooms/{room['id']}/webhooks", headers=owner.headers)).json()
    assert "secret" not in one
    assert "secret" not in listed["webhooks"][0]
    again = (await rotate(client, owner, room["id"], hook["id"])).json()["secret"]
    assert again not in (new, hook["secret"])
    logged = [r.getMessage() for r in caplog.records if "rotated the secret" in r.getMessage()]
    line = f"user {owner.id} rotated the secret of webhook {hook['id']} in room {room['id']}"
    assert logged == [line, line]
    assert not any(s in caplog.text for s in (hook["secret"], new, again))


async def test_a_ping_after_rotation_is_signed_with_the_new_secret_only(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    hook = await create_webhook(client, owner, room["id"], receiver)
    new = await rotated(client, owner, room["id"], hook, receiver)
    ping = await client.post(
        f"/rooms/{room['id']}/webhooks/{hook['id']}/test", headers=owner.headers
    )
    assert ping.json()["status_code"] == 200
    [got] = receiver.of()
    assert verify(new, got.headers, got.body)
    assert not verify(hook["secret"], got.headers, got.body)


async def test_rotation_mends_a_secret_that_a_new_secret_key_made_unreadable(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver, app: object
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    hook = await create_webhook(client, owner, room["id"], receiver)
    base = f"/rooms/{room['id']}/webhooks/{hook['id']}"
    # SECRET_KEY changed: the stored secret no longer decrypts.
    object.__setattr__(app.state.webhooks, "secrets", SecretBox("another secret key"))  # type: ignore[attr-defined]
    broken = (await client.post(f"{base}/test", headers=owner.headers)).json()
    assert "cannot be read" in broken["error"]
    new = await rotated(client, owner, room["id"], hook, receiver)
    ping = (await client.post(f"{base}/test", headers=owner.headers)).json()
    assert ping["status_code"] == 200
    [got] = receiver.of()
    assert verify(new, got.headers, got.body)


async def test_only_owner_and_admins_rotate_and_others_leave_the_secret_alone(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    owner, admin, member, stranger = [await users.create() for _ in range(4)]
    room = await create_room(client, owner, visibility="private")
    await add_member(client, owner, room["id"], admin, role="admin")
    await add_member(client, owner, room["id"], member)
    public = await create_room(client, owner)
    await add_member(client, stranger, public["id"], stranger)  # joins the public room
    hook = await create_webhook(client, owner, room["id"], receiver)
    other = await create_webhook(client, owner, public["id"], receiver, path="/other")
    rid = room["id"]

    assert (await rotate(client, member, rid, hook["id"])).status_code == 403
    assert (await rotate(client, stranger, public["id"], other["id"])).status_code == 403
    assert (await rotate(client, stranger, rid, hook["id"])).status_code == 404  # unseen room
    assert (await rotate(client, owner, rid, 999_999)).status_code == 404
    assert (await rotate(client, owner, rid, other["id"])).status_code == 404  # another room's
    assert (await rotate(client, owner, 999_999, hook["id"])).status_code == 404
    no_token = await client.post(f"/rooms/{rid}/webhooks/{hook['id']}/secret")
    assert no_token.status_code == 401
    # None of those changed the secret: a ping still checks with the first one.
    ping = await client.post(f"/rooms/{rid}/webhooks/{hook['id']}/test", headers=owner.headers)
    assert ping.json()["status_code"] == 200
    assert all(r.signed for r in receiver.of())

    by_admin = await rotate(client, admin, rid, hook["id"])
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["secret"] != hook["secret"]


async def test_the_next_delivery_is_signed_with_the_new_secret_only(
    delivering: httpx.AsyncClient, people: UserFactory, receiver: Receiver
) -> None:
    client = delivering
    owner = await people.create()
    room = await create_room(client, owner)
    hook = await create_webhook(client, owner, room["id"], receiver)
    await send(client, owner, room["id"], "before")
    await receiver.wait_for(1)
    new = await rotated(client, owner, room["id"], hook, receiver)

    after = await send(client, owner, room["id"], "after")
    await receiver.wait_for(2)

    before_got, after_got = receiver.of()
    assert verify(hook["secret"], before_got.headers, before_got.body)
    assert after_got.payload["rev"] == after["rev"]
    assert verify(new, after_got.headers, after_got.body)
    assert not verify(hook["secret"], after_got.headers, after_got.body)


async def test_a_delivery_failing_before_rotation_is_retried_with_the_new_secret(
    delivering: httpx.AsyncClient, people: UserFactory, receiver: Receiver
) -> None:
    """The receiver refuses (503), the secret is rotated, and the receiver switches to the
    new one and refuses anything else (401): the delivery still gets through, same id."""
    client = delivering
    owner = await people.create()
    room = await create_room(client, owner)
    hook = await create_webhook(client, owner, room["id"], receiver)
    base = f"/rooms/{room['id']}/webhooks/{hook['id']}"
    receiver.status = 503
    await send(client, owner, room["id"], "refused at first")
    await receiver.wait_for(1)
    first = receiver.of()[0]
    assert verify(hook["secret"], first.headers, first.body)

    new = await rotated(client, owner, room["id"], hook, receiver)
    receiver.refuse_unsigned = True
    receiver.status = 200

    async def acknowledged() -> bool:
        log = (await client.get(f"{base}/deliveries", headers=owner.headers)).json()
        return any(d["status_code"] == 200 for d in log["deliveries"])

    await eventually(acknowledged)
    log = (await client.get(f"{base}/deliveries", headers=owner.headers)).json()["deliveries"]
    assert log[0]["status_code"] == 200
    assert log[0]["id"] == first.delivery_id
    assert log[0]["attempt"] > 1  # a retry, not a new delivery
    last = receiver.of()[-1]  # the attempt acknowledged: nothing comes after it
    assert last.delivery_id == first.delivery_id
    assert verify(new, last.headers, last.body)
    assert not verify(hook["secret"], last.headers, last.body)


async def test_the_rest_of_a_batch_under_way_is_signed_with_the_new_secret(
    delivering: httpx.AsyncClient, people: UserFactory, receiver: Receiver
) -> None:
    """Three changes wait (webhook paused), so the worker reads them in one batch when it is
    re-enabled; the secret is rotated while the receiver holds the first: the other two,
    attempted after the rotation answered, carry the new signature only."""
    client = delivering
    owner = await people.create()
    room = await create_room(client, owner)
    hook = await create_webhook(client, owner, room["id"], receiver)
    base = f"/rooms/{room['id']}/webhooks/{hook['id']}"
    paused = await client.patch(base, json={"state": "disabled"}, headers=owner.headers)
    assert paused.status_code == 200
    sent = [await send(client, owner, room["id"], f"waiting {n}") for n in range(3)]
    receiver.hold = asyncio.Event()
    resumed = await client.patch(base, json={"state": "active"}, headers=owner.headers)
    assert resumed.status_code == 200
    await receiver.wait_for(1)  # the first is held; the batch holds all three

    new = await rotated(client, owner, room["id"], hook, receiver)
    receiver.hold.set()
    await receiver.wait_for(3)

    held, *rest = receiver.of()
    assert verify(hook["secret"], held.headers, held.body)  # under way before the rotation
    assert [r.payload["rev"] for r in rest] == [m["rev"] for m in sent[1:]]
    for r in rest:
        assert verify(new, r.headers, r.body)
        assert not verify(hook["secret"], r.headers, r.body)
