"""Managing webhooks over REST: who may, what is refused, what the answers hold, `ping`."""

from __future__ import annotations

import httpx
import pytest

from tests.support.rooms import add_member, create_room
from tests.support.users import UserFactory
from tests.support.webhook_receiver import Receiver
from tests.support.webhooks import ALL_EVENTS, create_webhook


async def test_create_shows_the_secret_once(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    created = await create_webhook(client, owner, room["id"], receiver, events=["mention"])
    assert created["secret"].startswith("whsec_")
    assert created["state"] == "active"
    assert created["events"] == ["mention"]
    assert created["url"] == receiver.url()
    one = await client.get(f"/rooms/{room['id']}/webhooks/{created['id']}", headers=owner.headers)
    listed = await client.get(f"/rooms/{room['id']}/webhooks", headers=owner.headers)
    assert one.status_code == 200
    assert "secret" not in one.json()
    assert [w["id"] for w in listed.json()["webhooks"]] == [created["id"]]
    assert "secret" not in listed.json()["webhooks"][0]


async def test_patch_changes_url_events_and_state_and_delete_removes(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    hook = await create_webhook(client, owner, room["id"], receiver)
    path = f"/rooms/{room['id']}/webhooks/{hook['id']}"
    changed = await client.patch(
        path,
        json={"url": receiver.url("/other"), "events": ["reaction", "reaction", "mention"]},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == receiver.url("/other")
    assert changed.json()["events"] == ["reaction", "mention"]  # each once, in order
    paused = await client.patch(path, json={"state": "disabled"}, headers=owner.headers)
    assert paused.json()["state"] == "disabled"
    resumed = await client.patch(path, json={"state": "active"}, headers=owner.headers)
    assert resumed.json()["state"] == "active"
    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    assert (await client.get(path, headers=owner.headers)).status_code == 404


async def test_only_owner_and_admins_manage_webhooks(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    owner, admin, member, stranger = [await users.create() for _ in range(4)]
    public = await create_room(client, owner)
    private = await create_room(client, owner, visibility="private")
    for room in (public, private):
        await add_member(client, owner, room["id"], admin, role="admin")
        await add_member(client, owner, room["id"], member)
    body = {"url": receiver.url(), "events": ["message.created"]}
    by_admin = await client.post(
        f"/rooms/{private['id']}/webhooks", json=body, headers=admin.headers
    )
    assert by_admin.status_code == 201, by_admin.text
    hook = by_admin.json()["id"]
    await add_member(client, stranger, public["id"], stranger)  # joins the public room
    for user, room, status in [
        (member, private, 403),
        (member, public, 403),
        (stranger, public, 403),
        (stranger, private, 404),  # a private room it cannot see does not exist for it
    ]:
        base = f"/rooms/{room['id']}/webhooks"
        assert (await client.post(base, json=body, headers=user.headers)).status_code == status
        assert (await client.get(base, headers=user.headers)).status_code == status
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/test"),
    ]:
        answer = await client.request(
            method,
            f"/rooms/{private['id']}/webhooks/{hook}{suffix}",
            json={} if method == "PATCH" else None,
            headers=member.headers,
        )
        assert answer.status_code == 403, (method, suffix, answer.text)


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://10.0.0.7/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]:9/hook", "loopback"),
        ("http://127.0.0.2:9/hook", "loopback"),  # loopback, but not the allowed address
        ("ftp://example.com/hook", "http"),
        ("javascript:alert(1)", "http"),
    ],
)
async def test_refused_urls_answer_422(
    client: httpx.AsyncClient, users: UserFactory, url: str, detail: str
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    answer = await client.post(
        f"/rooms/{room['id']}/webhooks",
        json={"url": url, "events": ALL_EVENTS},
        headers=owner.headers,
    )
    assert answer.status_code == 422, answer.text
    assert detail in answer.json()["detail"]


async def test_loopback_is_refused_without_the_allow_list(
    client: httpx.AsyncClient, users: UserFactory, app: object, receiver: Receiver
) -> None:
    from app.webhooks import ssrf

    services = app.state.webhooks  # type: ignore[attr-defined]
    object.__setattr__(services, "allow", ssrf.AllowList.parse([]))
    owner = await users.create()
    room = await create_room(client, owner)
    # The address itself, and a name that resolves to it.
    for url in (receiver.url(), f"http://localhost:{receiver.port}/hook"):
        answer = await client.post(
            f"/rooms/{room['id']}/webhooks",
            json={"url": url, "events": ALL_EVENTS},
            headers=owner.headers,
        )
        assert answer.status_code == 422, url
        assert "WEBHOOK_ALLOWED_HOSTS" in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1/", "events": []},
        {"url": "http://127.0.0.1/", "events": ["message.created", "typing"]},
        {"url": "http://127.0.0.1/", "events": "message.created"},
        {"url": "http://127.0.0.1/" + "a" * 2100, "events": ["mention"]},
        {"url": "http://127.0.0.1/\x00", "events": ["mention"]},
        {"events": ["mention"]},
        {"url": "http://127.0.0.1/", "events": ["mention"], "secret": "mine"},
    ],
)
async def test_bodies_are_validated_at_the_edge(
    client: httpx.AsyncClient, users: UserFactory, body: dict[str, object]
) -> None:
    owner = await users.create()
    room = await create_room(client, owner)
    answer = await client.post(f"/rooms/{room['id']}/webhooks", json=body, headers=owner.headers)
    assert answer.status_code == 422, answer.text


async def test_a_room_has_a_bounded_number_of_webhooks(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver, app: object
) -> None:
    object.__setattr__(app.state.webhooks, "max_per_room", 2)  # type: ignore[attr-defined]
    owner = await users.create()
    room = await create_room(client, owner)
    for _ in range(2):
        await create_webhook(client, owner, room["id"], receiver)
    third = await client.post(
        f"/rooms/{room['id']}/webhooks",
        json={"url": receiver.url(), "events": ALL_EVENTS},
        headers=owner.headers,
    )
    assert third.status_code == 409


async def test_ping_sends_a_signed_ping_and_logs_it(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    owner = await users.create()
    room = await create_room(client, owner, visibility="private")
    hook = await create_webhook(client, owner, room["id"], receiver)
    base = f"/rooms/{room['id']}/webhooks/{hook['id']}"
    answer = await client.post(f"{base}/test", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status_code"] == 200
    [ping] = receiver.of()
    assert ping.signed
    assert ping.payload["event"] == "ping"
    assert ping.payload["message"] is None
    assert ping.payload["room_id"] == room["id"]
    assert ping.delivery_id == answer.json()["id"] == ping.payload["id"]
    receiver.status = 500
    failed = await client.post(f"{base}/test", headers=owner.headers)
    assert failed.json()["status_code"] == 500
    log = (await client.get(f"{base}/deliveries", headers=owner.headers)).json()["deliveries"]
    assert [(d["event"], d["status_code"]) for d in log] == [("ping", 500), ("ping", 200)]
    # A ping counts toward nothing: the webhook is as it was.
    assert (await client.get(base, headers=owner.headers)).json()["failures"] == 0
