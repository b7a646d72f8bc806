"""Resume by change number: a client that comes back with `since_rev` ends up with exactly
the room's current history, edits and deletes included, whatever happened meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.redis_server import PrivateRedis
from tests.support.rooms import add_member, create_room, send
from tests.support.server import LiveServer, ServerFactory, ServersFactory
from tests.support.users import TestUser, UserFactory
from tests.support.ws import WsClient

pytestmark = pytest.mark.live

CHANGE_FRAMES = ("message", "message.updated", "message.deleted")


class View:
    """What a client shows of one room: each message (by seq) in the state with the highest
    rev seen, built only from frames (and `/changes` pages), as a real client would."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[str, Any]] = {}
        self.last_rev = 0
        self.revs: list[int] = []  # every change frame's rev, in arrival order
        self.kinds: list[tuple[str, int]] = []  # (frame type, seq)

    def apply(self, frame: dict[str, Any]) -> bool:
        """Apply a change frame; False for any other frame."""
        kind = frame["type"]
        if kind not in CHANGE_FRAMES:
            return False
        if kind == "message.deleted":
            seq, rev = frame["seq"], frame["rev"]
            state = {**self.messages.get(seq, {"seq": seq}), "body": "", "deleted": True}
            state["rev"] = rev
        else:
            state = frame["message"]
            seq, rev = state["seq"], state["rev"]
        self.revs.append(rev)
        self.kinds.append((kind, seq))
        self.keep(state)
        return True

    def keep(self, state: dict[str, Any]) -> None:
        known = self.messages.get(state["seq"])
        if known is None or known["rev"] < state["rev"]:
            self.messages[state["seq"]] = state
        self.last_rev = max(self.last_rev, state["rev"])

    def summary(self) -> list[tuple[int, int, str, bool]]:
        return [
            (m["seq"], m["rev"], m["body"], m["deleted"])
            for m in sorted(self.messages.values(), key=lambda m: m["seq"])
        ]


async def stored(api: httpx.AsyncClient, user: TestUser, room_id: int) -> list[tuple]:  # type: ignore[type-arg]
    """The room's history as the server has it now (the truth a view must equal)."""
    found: list[tuple] = []  # type: ignore[type-arg]
    after = 0
    while True:
        page = (
            await api.get(
                f"/rooms/{room_id}/messages",
                params={"after_seq": after, "limit": 200},
                headers=user.headers,
            )
        ).json()
        found += [(m["seq"], m["rev"], m["body"], m["deleted"]) for m in page["messages"]]
        if not page["has_more"]:
            return found
        after = page["messages"][-1]["seq"]


async def follow(client: WsClient, view: View, until_rev: int, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while view.last_rev < until_rev:
            view.apply(await client.recv(timeout=timeout))


async def page_changes(
    api: httpx.AsyncClient, user: TestUser, room_id: int, view: View, after_rev: int
) -> None:
    while True:
        page = (
            await api.get(
                f"/rooms/{room_id}/changes",
                params={"after_rev": after_rev, "limit": 7},
                headers=user.headers,
            )
        ).json()
        for message in page["messages"]:
            view.keep(message)
        after_rev = page["last_rev"]
        if not page["has_more"]:
            return


async def room_last_rev(api: httpx.AsyncClient, user: TestUser, room_id: int) -> int:
    return int((await api.get(f"/rooms/{room_id}", headers=user.headers)).json()["last_rev"])


async def churn(
    api: httpx.AsyncClient,
    writer: WsClient,
    author: TestUser,
    room_id: int,
    ids: list[int],
    *,
    rounds: int,
    tag: str,
) -> None:
    """Send, edit and delete, interleaved, as a busy room does: sends go over the socket
    (pipelined), edits and deletes over REST, each on its own messages."""
    for i in range(rounds):
        await writer.send(type="send", room_id=room_id, body=f"{tag}{i}", client_id=f"{tag}{i}")
        if i % 2 == 0 and ids:
            target = ids.pop(0)
            response = await api.patch(
                f"/rooms/{room_id}/messages/{target}",
                json={"body": f"{tag} edit {i}"},
                headers=author.headers,
            )
            assert response.status_code == 200, response.text
        if i % 3 == 0 and ids:
            target = ids.pop()
            response = await api.delete(
                f"/rooms/{room_id}/messages/{target}", headers=author.headers
            )
            assert response.status_code == 204, response.text
        await asyncio.sleep(0.005)
    acked = 0
    while acked < rounds:  # every send committed before the churn counts as done
        frame = await writer.recv(timeout=20)
        assert frame["type"] in ("ack", "presence"), frame
        acked += frame["type"] == "ack"


async def seeded_room(
    api: httpx.AsyncClient, users: UserFactory, count: int
) -> tuple[TestUser, TestUser, int, list[dict[str, Any]]]:
    writer, reader = await users.create(), await users.create()
    room = await create_room(api, writer)
    await add_member(api, reader, room["id"], reader)
    sent = [await send(api, writer, room["id"], f"old{i}") for i in range(count)]
    return writer, reader, room["id"], sent


async def test_resume_by_rev_while_others_send_edit_and_delete_ends_equal_to_history(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    writer, reader, room_id, sent = await seeded_room(api, users, 40)
    first = await WsClient.connect(server.ws_url, reader.access_token)
    view = View()
    await first.send(type="subscribe", room_id=room_id, since_rev=0)
    await follow(first, view, 40)
    await first.close()

    # While the reader is away: edits, deletes and new messages.
    ids = [m["id"] for m in sent]
    away = await WsClient.connect(server.ws_url, writer.access_token)
    await churn(api, away, writer, room_id, ids, rounds=12, tag="away")

    # It comes back while the churn goes on, on messages old and new.
    again = await WsClient.connect(server.ws_url, reader.access_token)
    live = asyncio.create_task(churn(api, away, writer, room_id, ids, rounds=24, tag="live"))
    await asyncio.sleep(0.05)
    since = view.last_rev
    await again.send(type="subscribe", room_id=room_id, since_rev=since)
    resumed_from = len(view.revs)
    subscribed: dict[str, Any] = {}
    async with asyncio.timeout(30):
        while not subscribed:
            frame = await again.recv(timeout=30)
            if not view.apply(frame) and frame["type"] == "subscribed":
                subscribed = frame
    assert subscribed["complete"] is True
    assert subscribed["last_rev"] >= since
    await live
    await follow(again, view, await room_last_rev(api, writer, room_id))
    await again.quiet(0.3, skip=("presence", "typing", "read"))

    # Nothing lost, nothing stale: the view is the server's history.
    assert view.summary() == await stored(api, reader, room_id)
    # Nothing repeated, in order: each change once, by increasing rev.
    after = view.revs[resumed_from:]
    assert after == sorted(set(after))
    assert after[0] > since
    # The replay told new messages from changed ones.
    kinds = {kind for kind, _seq in view.kinds[resumed_from:]}
    assert kinds == {"message", "message.updated", "message.deleted"}
    await again.close()
    await away.close()


async def test_the_replay_names_each_change_by_what_the_client_lacks(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    writer, reader, room_id, sent = await seeded_room(api, users, 3)  # revs 1..3
    edit = f"/rooms/{room_id}/messages/{sent[0]['id']}"
    await api.patch(edit, json={"body": "changed"}, headers=writer.headers)  # rev 4
    await api.delete(f"/rooms/{room_id}/messages/{sent[1]['id']}", headers=writer.headers)
    late = await send(api, writer, room_id, "late")  # rev 6
    await api.delete(f"/rooms/{room_id}/messages/{late['id']}", headers=writer.headers)  # 7
    newest = await send(api, writer, room_id, "newest")  # rev 8

    # The room's own endpoint takes since_rev too; it wins over since_seq.
    client = await WsClient.connect(
        server.ws_url,
        reader.access_token,
        path=f"/rooms/{room_id}/ws",
        since_rev=3,
        since_seq=0,
    )
    frames = [await client.recv() for _ in range(5)]
    assert [(f["type"], f.get("message", f).get("rev")) for f in frames[:4]] == [
        ("message.updated", 4),
        ("message.deleted", 5),
        ("message", 7),  # created after rev 3: new to the client, a tombstone by now
        ("message", 8),
    ]
    assert frames[0]["message"]["body"] == "changed"
    assert frames[1] == {
        "type": "message.deleted",
        "room_id": room_id,
        "id": sent[1]["id"],
        "seq": 2,
        "rev": 5,
    }
    assert (frames[2]["message"]["deleted"], frames[2]["message"]["body"]) == (True, "")
    assert frames[3]["message"] == newest
    subscribed = frames[4]
    assert subscribed["type"] == "subscribed"
    assert (subscribed["last_rev"], subscribed["last_seq"], subscribed["replayed"]) == (8, 5, 4)
    assert subscribed["complete"] is True
    # Nothing after the client's rev: nothing replayed.
    other = await WsClient.connect(server.ws_url, reader.access_token)
    quiet = await other.subscribe(room_id, since_rev=8)
    assert (quiet["replayed"], quiet["last_rev"]) == (0, 8)
    await client.close()
    await other.close()


async def test_since_rev_past_the_replay_limit_says_incomplete_and_changes_pages_the_rest(
    shared_server: ServerFactory,
) -> None:
    server = shared_server(REPLAY_LIMIT="5")
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        writer, reader, room_id, sent = await seeded_room(api, UserFactory(api), 10)
        view = View()
        for message in sent[:4]:
            view.keep(message)  # the client had revs 1..4
        for message in sent[:3]:
            response = await api.patch(
                f"/rooms/{room_id}/messages/{message['id']}",
                json={"body": "v2"},
                headers=writer.headers,
            )
            assert response.status_code == 200  # revs 11..13
        client = await WsClient.connect(server.ws_url, reader.access_token)
        await client.send(type="subscribe", room_id=room_id, since_rev=4)
        replay = [await client.recv() for _ in range(5)]
        assert [f["message"]["rev"] for f in replay] == [5, 6, 7, 8, 9]
        subscribed = await client.next("subscribed")
        assert (subscribed["replayed"], subscribed["complete"], subscribed["last_rev"]) == (
            5,
            False,
            9,
        )
        for frame in replay:
            view.apply(frame)
        # Live changes keep coming while the client pages the rest.
        await send(api, writer, room_id, "live")  # rev 14
        view.apply(await client.next("message"))
        await page_changes(api, reader, room_id, view, subscribed["last_rev"])
        assert view.summary() == await stored(api, reader, room_id)
        assert view.last_rev == 14
        await client.close()


async def test_since_rev_is_validated_like_since_seq(
    api: httpx.AsyncClient, users: UserFactory, server: LiveServer
) -> None:
    _writer, reader, room_id, _sent = await seeded_room(api, users, 1)
    client = await WsClient.connect(server.ws_url, reader.access_token)
    for bad in (-1, "3", 1.5, True, 2**63):
        await client.send(type="subscribe", room_id=room_id, since_rev=bad, ref="bad")
        error = await client.next("error")
        assert (error["code"], error["ref"]) == ("invalid_frame", "bad")
        assert "since_rev" in error["detail"]
    subscribed = await client.subscribe(room_id, since_rev=10**12)  # beyond the end: nothing
    assert (subscribed["replayed"], subscribed["last_rev"], subscribed["complete"]) == (0, 1, True)
    await client.close()


@pytest.mark.postgres_only
async def test_resume_by_rev_across_two_processes_through_redis(
    make_servers: ServersFactory, redis_url: str
) -> None:
    a, b = make_servers(2, BROKER_URL=redis_url)
    async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as api:
        writer, reader, room_id, sent = await seeded_room(api, UserFactory(api), 30)
        ids = [m["id"] for m in sent]
        on_a = await WsClient.connect(a.ws_url, writer.access_token)
        await churn(api, on_a, writer, room_id, ids, rounds=10, tag="away")
        on_b = await WsClient.connect(b.ws_url, reader.access_token)
        view = View()
        for message in sent[:20]:
            view.keep(message)
        live = asyncio.create_task(churn(api, on_a, writer, room_id, ids, rounds=20, tag="live"))
        await asyncio.sleep(0.05)
        await on_b.send(type="subscribe", room_id=room_id, since_rev=20)
        await live
        await follow(on_b, view, await room_last_rev(api, writer, room_id))
        assert view.summary() == await stored(api, reader, room_id)
        assert view.revs == sorted(set(view.revs))
        await on_a.close()
        await on_b.close()


@pytest.mark.postgres_only
async def test_a_process_that_missed_edits_and_deletes_resyncs_them(
    make_servers: ServersFactory, tmp_path: Path
) -> None:
    own = PrivateRedis(tmp_path).start()
    try:
        a, b = make_servers(2, BROKER_URL=own.url)
        async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as api:
            writer, reader, room_id, sent = await seeded_room(api, UserFactory(api), 3)
            on_b = await WsClient.connect(b.ws_url, reader.access_token)
            view = View()
            await on_b.send(type="subscribe", room_id=room_id, since_rev=0)
            await follow(on_b, view, 3)
            await on_b.next("subscribed")

            own.stop()
            await asyncio.sleep(0.5)
            # Stored on process A while Redis is away: process B hears none of it.
            await api.patch(
                f"/rooms/{room_id}/messages/{sent[0]['id']}",
                json={"body": "edited in the dark"},
                headers=writer.headers,
            )
            await api.delete(f"/rooms/{room_id}/messages/{sent[1]['id']}", headers=writer.headers)
            await send(api, writer, room_id, "new in the dark")
            await on_b.quiet(0.5)

            own.start()  # B reconnects and fetches the changes it missed from the database
            await follow(on_b, view, 6, timeout=20)
            assert view.kinds[3:] == [
                ("message.updated", 1),
                ("message.deleted", 2),
                ("message", 4),
            ]
            assert view.summary() == await stored(api, reader, room_id)
            await on_b.close()
    finally:
        own.stop()
